"""scikit-learn models: skops archives (safe), pickles only when their digest is pinned.

Which types a skops archive may contain is decided in ``skops_trust``.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from upwell.models.errors import ModelError
from upwell.models.loaders.content import HEAD_BYTES, Content, read_bytes, sniff
from upwell.models.loaders.library import import_library
from upwell.models.loaders.matrix import as_matrix, as_scores
from upwell.models.loaders.skops_trust import check_types
from upwell.models.protocol import ModelFormat, Trust

# Steps that map each input column to one output column: a linear model after them
# still has one coefficient per input, so its contributions are per input.
_PER_COLUMN_STEPS = (
    ("sklearn.preprocessing", "StandardScaler"),
    ("sklearn.preprocessing", "MinMaxScaler"),
    ("sklearn.preprocessing", "MaxAbsScaler"),
    ("sklearn.preprocessing", "RobustScaler"),
    ("sklearn.impute", "SimpleImputer"),
)


@dataclass(frozen=True, eq=False)
class SklearnModel:
    """A fitted scikit-learn estimator or pipeline.

    Attributes:
        estimator: The estimator (a binary classifier with ``predict_proba`` or a
            regressor).
        input_names: ``feature_names_in_`` when it was fitted on named columns.
        n_inputs: ``n_features_in_``.
        where: The file it came from.
        is_classifier: Whether it is a (binary) classifier.
    """

    estimator: Any
    input_names: tuple[str, ...] | None
    n_inputs: int | None
    where: str
    is_classifier: bool
    takes_frame: bool = False
    format: ModelFormat = field(default=ModelFormat.SKLEARN, init=False)

    def _frame(self, x: np.ndarray) -> Any:
        """The matrix, as a DataFrame only where the model selects columns by name."""
        matrix = as_matrix(x, self.n_inputs, self.where)
        if self.input_names is None or not self.takes_frame:
            return matrix
        return pd.DataFrame(matrix, columns=list(self.input_names), copy=False)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Probability of the positive class (classifiers) or the prediction.

        Args:
            x: One row per example, one column per input.

        Returns:
            A float64 vector, one score per row.
        """
        frame = self._frame(x)
        if self.is_classifier:
            return as_scores(self.estimator.predict_proba(frame)[:, 1], len(frame), self.where)
        return as_scores(self.estimator.predict(frame), len(frame), self.where)

    def contributions(self, x: np.ndarray) -> np.ndarray | None:
        """Per-input terms of a linear model's decision function, plus the intercept.

        For a linear model, or a pipeline whose steps before it are per-column
        scalers/imputers, column ``i`` is ``coef[i] * transformed_x[i]`` and the last
        column is the intercept; each row sums to ``decision_function`` (classifiers,
        log-odds) or ``predict`` (regressors). Other models return None.

        Args:
            x: One row per example, one column per input.

        Returns:
            A float64 matrix with one more column than inputs, or None.
        """
        final, preceding = _split(self.estimator)
        coef = np.asarray(getattr(final, "coef_", np.empty((0, 0))), dtype=np.float64)
        intercept = np.asarray(getattr(final, "intercept_", np.empty(0)), dtype=np.float64)
        is_one_output = coef.ndim == 1 or (coef.ndim == 2 and coef.shape[0] == 1)
        if coef.size == 0 or intercept.size != 1 or not is_one_output:
            return None
        per_column = tuple(
            getattr(import_library(module, ModelFormat.SKLEARN), name)
            for module, name in _PER_COLUMN_STEPS
        )
        if not all(isinstance(step, per_column) for step in preceding):
            return None
        transformed = self._frame(x)
        for step in preceding:
            transformed = step.transform(transformed)
        terms = np.asarray(transformed, dtype=np.float64)
        weights = coef.reshape(-1)
        if terms.ndim != 2 or terms.shape[1] != weights.size:
            return None
        bias = np.full((terms.shape[0], 1), float(intercept.reshape(-1)[0]))
        return np.hstack([terms * weights, bias])


class SklearnLoader:
    """Loads ``.skops`` archives, and pickle/joblib files whose digest is pinned."""

    format: ModelFormat = ModelFormat.SKLEARN

    def load_model(self, path: Path, trust: Trust) -> SklearnModel:
        """Read a scikit-learn model file.

        Args:
            path: A ``.skops`` archive or a pickle/joblib file.
            trust: Extra types a skops archive may contain; pinned pickle digests.

        Returns:
            The model.

        Raises:
            ModelError: The file is corrupt, holds untrusted types, is an unpinned
                pickle, or is not a binary classifier or regressor.
        """
        data = read_bytes(path)
        content = sniff(data[:HEAD_BYTES])
        if content is Content.SKOPS:
            estimator = _load_skops(data, path, trust)
        elif content is Content.PICKLE:
            estimator = _load_pickle(data, path, trust)
        else:
            msg = "the file is neither a skops archive nor a pickle/joblib file"
            raise ModelError(
                msg, where=str(path), fix="Save the model with upwell (skops) or skops.io.dump."
            )
        return _wrap(estimator, str(path))


LOADER = SklearnLoader()


def save(model: object, path: Path) -> None:
    """Write a fitted scikit-learn estimator or pipeline as a skops archive.

    Args:
        model: The fitted estimator.
        path: Where to write it (a ``.skops`` file).

    Raises:
        ModelError: The model is not a fitted scikit-learn estimator.
    """
    _check_fitted(model, str(path))
    skops_io = import_library("skops.io", ModelFormat.SKLEARN)
    skops_io.dump(model, path)


def _load_skops(data: bytes, path: Path, trust: Trust) -> Any:
    skops_io = import_library("skops.io", ModelFormat.SKLEARN)
    try:
        reported = list(skops_io.get_untrusted_types(data=data))
    except Exception as exc:
        raise _corrupt(path, exc) from exc
    check_types(reported, trust, str(path))
    try:
        return skops_io.loads(data, trusted=reported)
    except Exception as exc:
        raise _corrupt(path, exc) from exc


def _load_pickle(data: bytes, path: Path, trust: Trust) -> Any:
    digest = hashlib.sha256(data).hexdigest()
    if digest not in trust.pickle_sha256:
        msg = (
            "refusing to unpickle: loading a pickle/joblib file runs code stored in it, "
            f"and this file's SHA-256 ({digest}) is not pinned"
        )
        raise ModelError(
            msg,
            where=str(path),
            fix=(
                "Save the model as a skops archive instead (upwell saves scikit-learn "
                "models that way), or, if you trust this exact file, register it with "
                "allow_pickle=True (CLI: --allow-pickle), which pins this digest; "
                f"load_model takes it as Trust(pickle_sha256=({digest!r},))."
            ),
        )
    joblib = import_library("joblib", ModelFormat.SKLEARN)
    try:
        return joblib.load(io.BytesIO(data))
    except Exception as exc:
        raise _corrupt(path, exc) from exc


def _corrupt(path: Path, exc: Exception) -> ModelError:
    return ModelError(
        f"cannot read the scikit-learn model: {type(exc).__name__}: {exc}",
        where=str(path),
        fix="The file is truncated or not a model; save the model again.",
    )


def _wrap(estimator: Any, where: str) -> SklearnModel:
    _check_fitted(estimator, where)
    is_classifier = _is_classifier(estimator)
    if is_classifier:
        classes = list(getattr(estimator, "classes_", []))
        if len(classes) != 2:
            msg = (
                f"the classifier has {len(classes)} classes; upwell scores binary "
                "classifiers (the probability of the second class) and regressors"
            )
            raise ModelError(
                msg,
                where=where,
                fix="Train a one-vs-rest binary classifier per class you need to score.",
            )
        if not hasattr(estimator, "predict_proba"):
            msg = "the classifier has no predict_proba, so it gives no probability"
            raise ModelError(
                msg,
                where=where,
                fix="Wrap it in sklearn.calibration.CalibratedClassifierCV.",
            )
    names = getattr(estimator, "feature_names_in_", None)
    n_inputs = getattr(estimator, "n_features_in_", None)
    takes_frame = _selects_columns_by_name(estimator)
    if not takes_frame:
        _forget_feature_names(estimator)
    _score_on_the_calling_thread(estimator)
    return SklearnModel(
        estimator=estimator,
        input_names=None if names is None else tuple(str(name) for name in names),
        n_inputs=None if n_inputs is None else int(n_inputs),
        where=where,
        is_classifier=is_classifier,
        takes_frame=takes_frame,
    )


def _parts(estimator: Any) -> list[Any]:
    """The estimator and every estimator nested in it (pipeline steps, transformers)."""
    found = [estimator]
    for _, step in getattr(estimator, "steps", []):
        found += _parts(step)
    for item in getattr(estimator, "transformers_", []):
        found += _parts(item[1])
    return [part for part in found if part not in (None, "passthrough", "drop")]


def _selects_columns_by_name(estimator: Any) -> bool:
    """Whether a part picks columns by name (a ColumnTransformer), so needs a DataFrame."""
    return any(hasattr(part, "transformers_") for part in _parts(estimator))


def _score_on_the_calling_thread(estimator: Any) -> None:
    """Set ``n_jobs`` to 1 on a loaded copy: a served row or batch is too small for a pool.

    A forest fitted with ``n_jobs=-1`` otherwise starts a thread pool per call (tens of
    milliseconds for one row); the scores are the same either way.
    """
    for part in _parts(estimator):
        if getattr(part, "n_jobs", None) not in (None, 1):
            part.n_jobs = 1


def _forget_feature_names(estimator: Any) -> None:
    """Drop the recorded input names of a loaded copy, so a matrix is taken as it is.

    The service's columns were checked against the names at registration; scoring a
    NumPy matrix then skips building a DataFrame per call (about a millisecond) and
    scikit-learn's check that would warn about the missing names.
    """
    for part in _parts(estimator):
        if hasattr(part, "feature_names_in_"):
            with contextlib.suppress(AttributeError):
                delattr(part, "feature_names_in_")


def _check_fitted(estimator: object, where: str) -> None:
    base = import_library("sklearn.base", ModelFormat.SKLEARN)
    validation = import_library("sklearn.utils.validation", ModelFormat.SKLEARN)
    exceptions = import_library("sklearn.exceptions", ModelFormat.SKLEARN)
    if not isinstance(estimator, base.BaseEstimator) or not hasattr(estimator, "predict"):
        msg = f"expected a scikit-learn estimator with predict, got {type(estimator).__name__}"
        raise ModelError(
            msg,
            where=where,
            fix="Save a fitted scikit-learn estimator or pipeline.",
        )
    try:
        validation.check_is_fitted(estimator)
    except exceptions.NotFittedError as exc:
        msg = f"the {type(estimator).__name__} is not fitted"
        raise ModelError(
            msg,
            where=where,
            fix="Fit the model before saving it.",
        ) from exc


def _is_classifier(estimator: Any) -> bool:
    base = import_library("sklearn.base", ModelFormat.SKLEARN)
    return bool(base.is_classifier(estimator))


def _split(estimator: Any) -> tuple[Any, list[Any]]:
    """The final estimator and the transformers before it (none for a bare model)."""
    pipeline = import_library("sklearn.pipeline", ModelFormat.SKLEARN)
    if isinstance(estimator, pipeline.Pipeline):
        steps = [step for _, step in estimator.steps if step not in (None, "passthrough")]
        return steps[-1], steps[:-1]
    return estimator, []
