"""A small fraud world for serving tests: simulated data in a store, and models on it.

The simulation is the fraud example's (fewer customers and days). Models are fitted
with scikit-learn on the training-set builder's features, so a test can compare a
served score with the library's own ``predict_proba`` on offline features.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

import upwell as uw
from upwell.examples.fraud import SimulationConfig, simulate
from upwell.examples.fraud.features import DEFINITIONS, HANDBOOK_FEATURES, LABEL_DELAY
from upwell.examples.fraud.stream import TRANSACTION_FIELDS, utc_transactions
from upwell.testing import ManualClock

SERVICE = "fraud_detection"
CONFIG = SimulationConfig(n_customers=60, n_terminals=120, nb_days=30)
END = datetime(2018, 5, 1, tzinfo=UTC)  # the simulation's last day ends here
"""Where a store's clock stands in these tests: reads "as of now" see the whole simulation."""


def clock() -> ManualClock:
    """A clock standing at the end of the simulation."""
    return ManualClock(END)


@dataclass
class FraudWorld:
    """Transactions, the offline training set and two fitted models."""

    transactions: pd.DataFrame
    training: pd.DataFrame
    v1: Pipeline
    v2: Pipeline


def transactions() -> pd.DataFrame:
    """The simulated transactions, UTC, in TRANSACTION_ID order."""
    return utc_transactions(simulate(CONFIG))


def load(store: uw.FeatureStore, frame: pd.DataFrame) -> None:
    """Backfill transactions and their labels (known 7 days later) into a store."""
    store.backfill("transactions", frame[list(TRANSACTION_FIELDS)])
    labels = frame[["TRANSACTION_ID", "CUSTOMER_ID", "TERMINAL_ID", "TX_FRAUD"]].assign(
        LABEL_TIME=frame["TX_DATETIME"] + LABEL_DELAY
    )
    store.backfill("fraud_labels", labels)


def recent(frame: pd.DataFrame) -> pd.DataFrame:
    """Transactions of the last day: read as of END, all their features have values."""
    return frame[frame["TX_DATETIME"] > END - timedelta(days=1)]


def entity_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Score requests for transactions: keys plus the request fields."""
    rows = frame[["CUSTOMER_ID", "TERMINAL_ID", "TX_AMOUNT", "TX_DATETIME"]].to_dict("records")
    for row in rows:
        row["TX_DATETIME"] = row["TX_DATETIME"].to_pydatetime()
    return rows


def offline_features(store: uw.FeatureStore, frame: pd.DataFrame) -> pd.DataFrame:
    """The training-set builder's features for transactions, as of each one's time."""
    anchors = frame[["CUSTOMER_ID", "TERMINAL_ID", "TX_AMOUNT", "TX_DATETIME"]].assign(
        timestamp=frame["TX_DATETIME"]
    )
    built: pd.DataFrame = store.training_set(SERVICE, anchors)
    return built


def build_world(store: uw.FeatureStore) -> FraudWorld:
    """Load the simulation into ``store`` and fit two models on its features."""
    frame = transactions()
    load(store, frame)
    training = offline_features(store, frame)
    x = training[list(HANDBOOK_FEATURES)].to_numpy(dtype=np.float64)
    y = frame["TX_FRAUD"].to_numpy()
    v1 = Pipeline([("scale", StandardScaler()), ("model", LogisticRegression(max_iter=1000))])
    v2 = Pipeline([("scale", StandardScaler()), ("model", DecisionTreeClassifier(max_depth=3))])
    v1.fit(pd.DataFrame(x, columns=list(HANDBOOK_FEATURES)), y)
    v2.fit(pd.DataFrame(x, columns=list(HANDBOOK_FEATURES)), y)
    return FraudWorld(transactions=frame, training=training, v1=v1, v2=v2)


def definitions() -> tuple[Any, ...]:
    """The fraud example's definitions."""
    return DEFINITIONS


def write_project(root: Path, server_table: str = "") -> Path:
    """A project directory serving the fraud definitions (data under ``root/data``)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "features.py").write_text(
        "from upwell.examples.fraud.features import DEFINITIONS\ndefinitions = list(DEFINITIONS)\n"
    )
    (root / "upwell.toml").write_text(
        '[project]\nname = "fraud"\ndefinitions = "features.py"\ndata = "data"\n\n' + server_table
    )
    return root
