"""``upwell demo fraud``: the handbook's whole story, live, on the embedded default.

1. Simulate the handbook's transactions (or read them from Parquet).
2. Stream every transaction, and every fraud label 7 days after its transaction,
   through the per-event path, reading each transaction's 15 features online.
3. When the stream reaches the test week, build the point-in-time training set from
   the event log with the offline builder, train the five models and deploy them.
4. Score every test-week transaction with every model as it arrives.
5. Check online == offline (features bit for bit, live scores against offline scores),
   evaluate with the handbook's protocol and write the report.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from upwell.config import OnlineConfig
from upwell.examples.fraud import evaluation, models, report, scoring
from upwell.examples.fraud.features import DEFINITIONS, HANDBOOK_FEATURES, fraud_detection
from upwell.examples.fraud.live import LiveRun, run_live
from upwell.examples.fraud.scoring import Scorer
from upwell.examples.fraud.simulator import simulate
from upwell.examples.fraud.stream import Progress, utc_transactions
from upwell.runtime import FeatureStore
from upwell.stores.redis import RedisStore

TRAIN_START = pd.Timestamp("2018-07-25", tz="UTC")
TRAIN_DAYS = DELAY_DAYS = TEST_DAYS = 7


def load_transactions(source: str | Path | pd.DataFrame | None) -> pd.DataFrame:
    """Transactions from a DataFrame or a Parquet file, or freshly simulated ones.

    Args:
        source: A DataFrame or Parquet file with the handbook's columns, or None to
            simulate the published data.

    Returns:
        UTC transactions in TRANSACTION_ID order.
    """
    if isinstance(source, pd.DataFrame):
        return utc_transactions(source)
    frame = pd.read_parquet(source) if source is not None else simulate()
    return utc_transactions(frame)


def known_labels(store: FeatureStore) -> pd.DataFrame:
    """The fraud labels the system has received so far (from the event log).

    Args:
        store: The store.

    Returns:
        TRANSACTION_ID and TX_FRAUD of every logged label.
    """
    labels: pd.DataFrame = (
        store.events("fraud_labels").select(["TRANSACTION_ID", "TX_FRAUD"]).to_pandas()
    )
    return labels.drop_duplicates("TRANSACTION_ID")


def training_frame(store: FeatureStore, transactions: pd.DataFrame) -> pd.DataFrame:
    """The handbook's training set, built from the event log by the offline builder.

    Features come from ``event_training_set`` (as the online path saw each logged
    transaction); labels are those received so far; the handbook's split keeps the
    training week.

    Args:
        store: The store, streamed up to the start of the test week.
        transactions: The raw transactions (for the split's day numbers).

    Returns:
        The training rows with the 15 features and TX_FRAUD.
    """
    built = store.event_training_set(fraud_detection, "transactions")
    features = built[["TRANSACTION_ID", *HANDBOOK_FEATURES]]
    raw = transactions[["TRANSACTION_ID", "TX_DATETIME", "TX_TIME_DAYS", "CUSTOMER_ID"]]
    frame = raw.merge(features, on="TRANSACTION_ID").merge(known_labels(store), on="TRANSACTION_ID")
    train, _ = evaluation.split_train_test(
        frame, start=TRAIN_START, delta_train=TRAIN_DAYS, delta_delay=DELAY_DAYS, delta_test=0
    )
    return train


class _Deployment:
    """Trains on the event log when called, and remembers what it trained."""

    def __init__(self, transactions: pd.DataFrame) -> None:
        self.transactions = transactions
        self.train: pd.DataFrame | None = None
        self.trained: dict[str, models.TrainedModel] = {}
        self.scorers: dict[str, Scorer] = {}

    def __call__(self, store: FeatureStore) -> Mapping[str, Scorer]:
        self.train = training_frame(store, self.transactions)
        self.trained = models.train_models(self.train)
        self.scorers = {name: scoring.compile_scorer(m) for name, m in self.trained.items()}
        return self.scorers


def run_demo(
    out: str | Path,
    transactions: str | Path | pd.DataFrame | None = None,
    progress: Progress | None = None,
    online: str | OnlineConfig | None = None,
) -> dict[str, Any]:
    """Run the fraud example end to end and write its outputs to ``out``.

    Args:
        out: Output directory (``features.parquet``, ``report.json``, ``report.html``,
            and the store under ``store/``).
        transactions: Transactions (a DataFrame or Parquet file), or None to simulate the
            published data.
        progress: Progress callback ``(phase, done, total)``.
        online: Keep the online state in Redis (a URL or config) instead of this process;
            the demo starts from an empty state in its key prefix.

    Returns:
        The report's summary.
    """
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(out_dir / "store", ignore_errors=True)
    frame = load_transactions(transactions)
    store = FeatureStore(DEFINITIONS, path=out_dir / "store", online=online)
    if isinstance(store.store, RedisStore):
        store.store.drop()  # the log was removed above: start the shared state afresh
    deployment = _Deployment(frame)
    test_start = TRAIN_START + pd.Timedelta(days=TRAIN_DAYS + DELAY_DAYS)
    run = run_live(
        store,
        frame,
        deploy_before=test_start,
        score_until=test_start + pd.Timedelta(days=TEST_DAYS),
        deploy=deployment,
        progress=progress,
    )
    _write_features(out_dir, frame, run)
    summary, test_scores = _evaluate(store, frame, run, deployment)
    summary["registered"] = _register(store, deployment, summary)
    store.close()
    _write_project(out_dir)
    report.write_report(
        out_dir, summary, test_scores=test_scores, latency_samples_us=run.latency_us
    )
    return summary


SERVED_MODEL = "fraud"
"""The name the demo registers the handbook's scikit-learn models under."""
CHAMPION = "random_forest"
"""The version the demo serves: the best average precision in the handbook's table."""


def _register(
    store: FeatureStore, deployment: _Deployment, summary: dict[str, Any]
) -> dict[str, int]:
    """Register the scikit-learn models (scaler + classifier) as versions of one model."""
    versions: dict[str, int] = {}
    for name, trained in deployment.trained.items():
        if name == "xgboost":  # not a scikit-learn estimator: skops would need it trusted
            continue
        pipeline = Pipeline([("scale", trained.scaler), ("model", trained.estimator)])
        version = store.models.register(
            SERVED_MODEL,
            pipeline,
            features=fraud_detection,
            training_set=deployment.train,
            metrics={
                k: v for k, v in summary["models"][name]["test"].items() if isinstance(v, float)
            },
            description=f"handbook baseline: {name}",
            aliases=("champion",) if name == CHAMPION else (),
        )
        versions[name] = version.version
    return versions


def _write_project(out_dir: Path) -> None:
    """Make the output directory a project that ``upwell serve`` can serve."""
    (out_dir / "features.py").write_text(
        '"""The fraud example\'s definitions."""\n\n'
        "from upwell.examples.fraud.features import DEFINITIONS\n\n"
        "definitions = list(DEFINITIONS)\n"
    )
    (out_dir / "upwell.toml").write_text(
        '[project]\nname = "fraud"\ndefinitions = "features.py"\ndata = "store"\n'
    )


def _write_features(out_dir: Path, transactions: pd.DataFrame, run: LiveRun) -> None:
    frame = pd.DataFrame(run.features, columns=list(HANDBOOK_FEATURES))
    frame.insert(0, "TRANSACTION_ID", transactions["TRANSACTION_ID"].to_numpy())
    frame.to_parquet(out_dir / "features.parquet", index=False)


def _offline_features(store: FeatureStore, transactions: pd.DataFrame) -> np.ndarray:
    built = store.event_training_set(fraud_detection, "transactions")
    aligned = transactions[["TRANSACTION_ID"]].merge(built, on="TRANSACTION_ID", how="left")
    return aligned[list(HANDBOOK_FEATURES)].to_numpy(dtype=np.float64)


def _evaluate(
    store: FeatureStore, transactions: pd.DataFrame, run: LiveRun, deployment: _Deployment
) -> tuple[dict[str, Any], dict[str, report.ScoredSet]]:
    offline = _offline_features(store, transactions)
    features_equal = bool(np.array_equal(offline, run.features))
    frame = transactions[
        ["TRANSACTION_ID", "TX_DATETIME", "TX_TIME_DAYS", "CUSTOMER_ID", "TX_FRAUD"]
    ]
    frame = frame.assign(__row__=np.arange(len(transactions)))
    _, test = evaluation.split_train_test(frame, start=TRAIN_START)
    test_rows = test["__row__"].to_numpy()
    results: dict[str, Any] = {}
    test_scores: dict[str, report.ScoredSet] = {}
    scores_equal = True
    for name, scorer in deployment.scorers.items():
        live = run.scores[name][test_rows]
        offline_scores = scorer.score_many(offline[test_rows])
        scores_equal &= bool(np.array_equal(live, offline_scores))
        trained_on = deployment.train
        assert trained_on is not None  # noqa: S101 (deployed during the stream)
        features = trained_on[list(HANDBOOK_FEATURES)].to_numpy(dtype=np.float64)
        trained_scores = trained_on.assign(predictions=scorer.score_many(features))
        test_scores[name] = report.ScoredSet(
            scores=live,
            labels=test["TX_FRAUD"].to_numpy(),
            days=test["TX_TIME_DAYS"].to_numpy(),
            customer_ids=test["CUSTOMER_ID"].to_numpy(),
        )
        results[name] = {
            "test": dict(evaluation.assess(test.assign(predictions=live))),
            "train": dict(evaluation.assess(trained_scores)),
        }
    latency = np.asarray(run.latency_us)
    summary = {
        "models": results,
        "online_equals_offline": features_equal and scores_equal,
        "features_online_equals_offline": features_equal,
        "scores_online_equals_offline": scores_equal,
        "latency_us": {
            "p50": float(np.percentile(latency, 50)),
            "p99": float(np.percentile(latency, 99)),
            "max": float(latency.max()),
            "what": "features (15, from the online store) plus scores of all five models, "
            "per test-week transaction, in-process",
        },
        "throughput_events_per_s": run.events / run.stream_seconds,
        "events": run.events,
        "transactions": len(transactions),
        "train_rows": len(deployment.train) if deployment.train is not None else 0,
        "train_frauds": int(deployment.train["TX_FRAUD"].sum())
        if deployment.train is not None
        else 0,
        "test_rows": len(test),
        "test_frauds": int(test["TX_FRAUD"].sum()),
        "versions": models.library_versions(),
    }
    return summary, test_scores
