"""Fast, deterministic scorers for live scoring, one transaction at a time.

``compile_scorer`` turns a trained model into plain NumPy arrays and floats:

* logistic regression: the scaler, an explicit dot product and a sigmoid;
* decision trees, random forests and XGBoost: node arrays walked by every tree at once
  (``CompiledTrees``), with the libraries' own comparison rules.

Every scorer has ``score_one(vector)`` for the live path and ``score_many(matrix)`` for the
offline path. Both perform the same IEEE operations in the same order for each row, so a live
score equals the offline score bit for bit; both agree with the library's
``predict_proba(...)[:, 1]`` (which sums in other orders) to within rounding.
"""

from __future__ import annotations

import math
from typing import Protocol

import numpy as np
from numpy.typing import NDArray
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier
from xgboost import XGBClassifier

from upwell.errors import UpwellError
from upwell.examples.fraud._compiled_trees import (
    CompiledTrees,
    boosted_margin,
    compile_sklearn_trees,
    compile_xgboost,
    xgboost_sigmoid,
)
from upwell.examples.fraud.models import TrainedModel

__all__ = [
    "ForestScorer",
    "LogisticScorer",
    "Scorer",
    "ScoringError",
    "TreeScorer",
    "XGBoostScorer",
    "compile_scorer",
]

Vector = NDArray[np.float64]
Matrix = NDArray[np.float64]


class ScoringError(UpwellError, ValueError):
    """A model cannot be compiled for live scoring; the message names the model and the fix."""


class Scorer(Protocol):
    """A deployed model: scores one raw feature vector, or many with the same computation."""

    def score_one(self, vector: Vector) -> float:
        """The fraud score of one transaction's raw (unscaled) features."""
        ...

    def score_many(self, matrix: Matrix) -> Vector:
        """The fraud scores of many transactions, equal bit for bit to ``score_one`` per row."""
        ...


def _logistic(margin: float) -> float:
    # exp(709.78...) overflows a float: the probability is then 0.0, as in SciPy's expit.
    return 1.0 / (1.0 + (math.exp(-margin) if margin > -709.0 else math.inf))


class LogisticScorer:
    """Logistic regression: ``sigmoid(b + sum_j w_j * (x_j - mean_j) / scale_j)``.

    The sum runs over the features in order, one rounded multiply and add at a time, in both
    paths (a BLAS dot product would sum in an order that depends on the matrix shape).

    Args:
        mean: The scaler's means.
        scale: The scaler's scales.
        coef: The coefficients.
        intercept: The intercept.
    """

    def __init__(self, mean: Vector, scale: Vector, coef: Vector, intercept: float) -> None:
        self._mean = np.asarray(mean, dtype=np.float64)
        self._scale = np.asarray(scale, dtype=np.float64)
        self._coef = np.asarray(coef, dtype=np.float64)
        self._coef_list = self._coef.tolist()
        self._intercept = float(intercept)

    def score_one(self, vector: Vector) -> float:
        """The fraud score of one raw feature vector (see ``Scorer``)."""
        margin = self._intercept
        for z, w in zip(
            ((vector - self._mean) / self._scale).tolist(), self._coef_list, strict=True
        ):
            margin += z * w
        return _logistic(margin)

    def score_many(self, matrix: Matrix) -> Vector:
        """The fraud scores of raw feature rows, equal to ``score_one`` row by row."""
        scaled = (np.asarray(matrix, dtype=np.float64) - self._mean) / self._scale
        margin = np.full(len(scaled), self._intercept)
        for j, w in enumerate(self._coef_list):
            margin = margin + scaled[:, j] * w
        return np.array([_logistic(m) for m in margin.tolist()], dtype=np.float64)


class TreeScorer:
    """One scikit-learn decision tree; the live path walks it in plain Python.

    Args:
        mean: The scaler's means.
        scale: The scaler's scales.
        trees: The compiled tree (one tree).
    """

    def __init__(self, mean: Vector, scale: Vector, trees: CompiledTrees) -> None:
        self._mean = np.asarray(mean, dtype=np.float64)
        self._scale = np.asarray(scale, dtype=np.float64)
        self._trees = trees
        self._walk = trees.python_walker()

    def score_one(self, vector: Vector) -> float:
        """The fraud score of one raw feature vector (see ``Scorer``)."""
        scaled = ((vector - self._mean) / self._scale).astype(np.float32)
        return self._walk(scaled.tolist())

    def score_many(self, matrix: Matrix) -> Vector:
        """The fraud scores of raw feature rows, equal to ``score_one`` row by row."""
        scaled = ((np.asarray(matrix, dtype=np.float64) - self._mean) / self._scale).astype(
            np.float32
        )
        return self._trees.leaf_values(scaled)[:, 0].astype(np.float64)


class ForestScorer:
    """A scikit-learn random forest: the mean of its trees' class-1 probabilities.

    The per-tree probabilities are summed in tree order (``np.add.accumulate`` is sequential)
    and divided by the number of trees, as scikit-learn does.

    Args:
        mean: The scaler's means.
        scale: The scaler's scales.
        trees: The compiled trees.
    """

    def __init__(self, mean: Vector, scale: Vector, trees: CompiledTrees) -> None:
        self._mean = np.asarray(mean, dtype=np.float64)
        self._scale = np.asarray(scale, dtype=np.float64)
        self._trees = trees
        self._count = float(trees.n_trees)

    def score_one(self, vector: Vector) -> float:
        """The fraud score of one raw feature vector (see ``Scorer``)."""
        scaled = ((vector - self._mean) / self._scale).astype(np.float32)
        values = self._trees.leaf_values_one(scaled)
        return float(np.add.accumulate(values)[-1]) / self._count

    def score_many(self, matrix: Matrix) -> Vector:
        """The fraud scores of raw feature rows, equal to ``score_one`` row by row."""
        scaled = ((np.asarray(matrix, dtype=np.float64) - self._mean) / self._scale).astype(
            np.float32
        )
        values = self._trees.leaf_values(scaled)
        return np.add.accumulate(values, axis=1)[:, -1] / self._count


class XGBoostScorer:
    """An XGBoost binary:logistic model: sigmoid of the float32 sum of the leaf values.

    Args:
        mean: The scaler's means.
        scale: The scaler's scales.
        trees: The compiled trees.
        base_margin: The margin every sum starts from (float32).
    """

    def __init__(
        self, mean: Vector, scale: Vector, trees: CompiledTrees, base_margin: np.float32
    ) -> None:
        self._mean = np.asarray(mean, dtype=np.float64)
        self._scale = np.asarray(scale, dtype=np.float64)
        self._trees = trees
        self._base = np.float32(base_margin)

    def score_one(self, vector: Vector) -> float:
        """The fraud score of one raw feature vector (see ``Scorer``)."""
        scaled = ((vector - self._mean) / self._scale).astype(np.float32)
        values = self._trees.leaf_values_one(scaled)
        return xgboost_sigmoid(boosted_margin(self._base, values))

    def score_many(self, matrix: Matrix) -> Vector:
        """The fraud scores of raw feature rows, equal to ``score_one`` row by row."""
        scaled = ((np.asarray(matrix, dtype=np.float64) - self._mean) / self._scale).astype(
            np.float32
        )
        values = self._trees.leaf_values(scaled)
        margins = [boosted_margin(self._base, row) for row in values]
        return np.array([xgboost_sigmoid(m) for m in margins], dtype=np.float64)


def compile_scorer(model: TrainedModel) -> Scorer:
    """Compile a trained model into a live scorer.

    Args:
        model: A model from ``train_models`` (logistic regression, decision tree, random
            forest or XGBoost, with its scaler).

    Returns:
        The scorer; it takes raw (unscaled) feature vectors in ``model.features`` order.

    Raises:
        ScoringError: If the estimator is of another kind or not a binary classifier.
    """
    estimator, scaler = model.estimator, model.scaler
    mean, scale = scaler.mean_, scaler.scale_
    if isinstance(estimator, LogisticRegression) and estimator.coef_.shape[0] == 1:
        return LogisticScorer(mean, scale, estimator.coef_[0], float(estimator.intercept_[0]))
    if isinstance(estimator, DecisionTreeClassifier) and estimator.n_classes_ == 2:
        return TreeScorer(mean, scale, compile_sklearn_trees([estimator]))
    if isinstance(estimator, RandomForestClassifier) and estimator.n_classes_ == 2:
        return ForestScorer(mean, scale, compile_sklearn_trees(estimator.estimators_))
    if isinstance(estimator, XGBClassifier):
        trees, base_margin = compile_xgboost(estimator.get_booster())
        return XGBoostScorer(mean, scale, trees, base_margin)
    what = f"cannot compile a {type(estimator).__name__} for live scoring"
    fix = "train a binary LogisticRegression, DecisionTree, RandomForest or XGBClassifier."
    raise ScoringError(what, where=f"model {model.name!r}", fix=fix)
