"""The five baseline models of the fraud handbook, trained as the book trained them.

Written from ``shared/fraud-handbook.md`` section 3.2. The book ran scikit-learn 1.0 and
xgboost 1.5; the settings whose defaults changed since are pinned here so that today's
libraries give the book's numbers:

* logistic regression: C = 1 with lbfgs as in the book, but ``tol=1e-8, max_iter=10000`` so
  that the optimiser converges to the same optimum instead of stopping at an iteration cap;
* XGBoost: ``tree_method="exact"`` (what ``"auto"`` chose for data this small) and
  ``base_score=0.5`` (newer releases estimate it from the labels).

A ``StandardScaler`` fitted on the training set scales every model's input, as in the book.
"""

from __future__ import annotations

import platform
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier
from xgboost import XGBClassifier

from upwell.examples.fraud.evaluation import FEATURES

__all__ = [
    "MODEL_NAMES",
    "TrainedModel",
    "library_versions",
    "make_estimator",
    "train_models",
]

MODEL_NAMES = (
    "logistic_regression",
    "decision_tree_depth_2",
    "decision_tree",
    "random_forest",
    "xgboost",
)
"""The handbook's baseline models, in the order of its results table."""

_ESTIMATORS: dict[str, Callable[[int], Any]] = {
    "logistic_regression": lambda _: LogisticRegression(
        C=1.0, solver="lbfgs", random_state=0, tol=1e-8, max_iter=10_000
    ),
    "decision_tree_depth_2": lambda _: DecisionTreeClassifier(max_depth=2, random_state=0),
    "decision_tree": lambda _: DecisionTreeClassifier(random_state=0),
    "random_forest": lambda jobs: RandomForestClassifier(
        n_estimators=100, random_state=0, n_jobs=jobs
    ),
    "xgboost": lambda jobs: XGBClassifier(
        n_estimators=100,
        learning_rate=0.3,
        max_depth=6,
        random_state=0,
        n_jobs=jobs,
        tree_method="exact",
        base_score=0.5,
    ),
}


def make_estimator(name: str, n_jobs: int = -1) -> Any:
    """A fresh, unfitted estimator with the handbook's settings.

    Args:
        name: One of ``MODEL_NAMES``.
        n_jobs: Threads for the forest and XGBoost (the handbook's -1: all cores). The fitted
            models do not depend on it: the forest seeds each tree from ``random_state`` and
            the exact XGBoost method gives the same trees with any number of threads.

    Returns:
        The scikit-learn or XGBoost classifier.

    Raises:
        KeyError: If ``name`` is not in ``MODEL_NAMES``.
    """
    return _ESTIMATORS[name](n_jobs)


@dataclass(frozen=True, kw_only=True)
class TrainedModel:
    """A fitted classifier with the scaler fitted on its training set.

    Attributes:
        name: One of ``MODEL_NAMES``.
        estimator: The fitted classifier; it expects scaled inputs.
        scaler: The ``StandardScaler`` fitted on the training set.
        features: The input columns, in order (``FEATURES``).
    """

    name: str
    estimator: Any
    scaler: StandardScaler
    features: tuple[str, ...] = FEATURES

    def matrix(self, df: pd.DataFrame) -> NDArray[np.float64]:
        """The raw (unscaled) input matrix of ``df``, as float64 in ``features`` order."""
        return np.ascontiguousarray(df.loc[:, list(self.features)].to_numpy(dtype=np.float64))

    def predict_proba(self, raw: NDArray[np.float64]) -> NDArray[np.float64]:
        """Fraud probabilities from the library itself (the offline reference).

        Args:
            raw: Unscaled inputs, one row per transaction, columns in ``features`` order.

        Returns:
            ``predict_proba(scaled)[:, 1]`` as float64.
        """
        scaled = self.scaler.transform(raw)
        return np.asarray(self.estimator.predict_proba(scaled)[:, 1], dtype=np.float64)

    def score_frame(self, df: pd.DataFrame) -> NDArray[np.float64]:
        """Fraud probabilities of the transactions of ``df`` (see ``predict_proba``)."""
        return self.predict_proba(self.matrix(df))


def train_models(
    train_df: pd.DataFrame, names: tuple[str, ...] = MODEL_NAMES, n_jobs: int = -1
) -> dict[str, TrainedModel]:
    """Fit the scaler and the handbook's models on a training set.

    Args:
        train_df: Training transactions with the ``FEATURES`` columns and ``TX_FRAUD``.
        names: Which models to train (default: all five).
        n_jobs: Threads for the forest and XGBoost (see ``make_estimator``).

    Returns:
        The trained models by name, in the order of ``names``.
    """
    raw = np.ascontiguousarray(train_df.loc[:, list(FEATURES)].to_numpy(dtype=np.float64))
    labels = train_df["TX_FRAUD"].to_numpy(dtype=np.int64)
    scaler = StandardScaler().fit(raw)
    scaled = scaler.transform(raw)
    models = {}
    for name in names:
        estimator = make_estimator(name, n_jobs).fit(scaled, labels)
        models[name] = TrainedModel(name=name, estimator=estimator, scaler=scaler)
    return models


def library_versions() -> dict[str, str]:
    """Versions of Python and of the libraries that fit and score the models."""
    packages = ("numpy", "pandas", "scikit-learn", "xgboost")
    return {"python": platform.python_version(), **{p: version(p) for p in packages}}
