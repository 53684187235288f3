"""Small models of every supported format, trained on one synthetic data set.

Each ``ModelCase`` carries its own oracle: the scores the training library itself
gives for the data set (``predict_proba(x)[:, 1]`` or ``predict(x)``), and where the
format explains predictions, the raw margin its contributions must sum to.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import sklearn.base
import xgboost as xgb
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn2pmml import sklearn2pmml
from sklearn2pmml.pipeline import PMMLPipeline

from upwell.models.formats import save_model
from upwell.models.protocol import ModelFormat

FEATURES = ("amount", "hour", "velocity", "distance", "age")
N_ROWS = 500
SEED = 20240611
FLOAT32_TOLERANCE = 1e-5  # ONNX graphs over tensor(float) compute in float32
PMML_TOLERANCE = 1e-12  # PMML4S computes in float64; rows cross as shortest-repr JSON
# The newest scikit-learn the bundled JPMML-SkLearn converter accepts. Newer patch
# releases pickle the same attributes for the estimators used here; the exported
# PMML is checked against scikit-learn's own predictions all the same.
PMML_CONVERTER_SKLEARN = "1.9.0"


@dataclass(frozen=True)
class Data:
    """The synthetic data set: a C-ordered float64 matrix, a binary label, a target."""

    x: np.ndarray
    label: np.ndarray
    target: np.ndarray

    @property
    def frame(self) -> pd.DataFrame:
        """The same matrix with its column names (a view: the very same numbers)."""
        return pd.DataFrame(self.x, columns=list(FEATURES), copy=False)


@dataclass(frozen=True)
class ModelCase:
    """A saved model and what loading it must give."""

    id: str
    fmt: ModelFormat
    path: Path
    expected: np.ndarray
    tolerance: float
    input_names: tuple[str, ...] | None
    n_inputs: int
    margin: np.ndarray | None
    margin_tolerance: float = 0.0


class Doubler(TransformerMixin, BaseEstimator):
    """A custom transformer: a type no default skops allow-list can know."""

    def fit(self, x: Any, y: Any = None) -> Doubler:
        self.n_features_in_ = np.shape(x)[1]
        return self

    def transform(self, x: Any) -> np.ndarray:
        return np.asarray(x, dtype=np.float64) * 2.0


@functools.cache
def data() -> Data:
    """500 rows, 5 features; the label depends non-linearly on three of them."""
    rng = np.random.default_rng(SEED)
    x = rng.normal(size=(N_ROWS, len(FEATURES)))
    logit = 1.5 * x[:, 0] - x[:, 1] + 0.8 * x[:, 2] * x[:, 3] + rng.normal(0, 0.5, N_ROWS)
    target = x @ np.array([2.0, -1.0, 0.5, 0.0, 3.0]) + rng.normal(0, 0.1, N_ROWS)
    return Data(x, (logit > 0).astype(int), target)


@functools.cache
def linear_pipeline() -> Pipeline:
    """StandardScaler + LogisticRegression, fitted on named columns."""
    return Pipeline([("scale", StandardScaler()), ("model", LogisticRegression())]).fit(
        data().frame, data().label
    )


@functools.cache
def xgb_classifier() -> xgb.XGBClassifier:
    """A small XGBoost classifier fitted on named columns."""
    return xgb.XGBClassifier(n_estimators=20, max_depth=3, random_state=0).fit(
        data().frame, data().label
    )


def export_pmml(pipeline: PMMLPipeline, path: Path) -> None:
    """Export with sklearn2pmml (runs a JVM), labelling the estimators with a version
    the converter accepts."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sklearn.base, "__version__", PMML_CONVERTER_SKLEARN)
        sklearn2pmml(pipeline, str(path))


def export_onnx(model: Any, path: Path, *, per_input: bool = False, **options: Any) -> None:
    """Convert a scikit-learn model with skl2onnx: one [None, 5] input or one per feature."""
    inputs = (
        [(name, FloatTensorType([None, 1])) for name in FEATURES]
        if per_input
        else [("input", FloatTensorType([None, len(FEATURES)]))]
    )
    onx = convert_sklearn(
        model, initial_types=inputs, options={id(model): options} if options else None
    )
    path.write_bytes(onx.SerializeToString())


def _saved(model: object, directory: Path, fmt: ModelFormat, suffix: str) -> Path:
    saved_fmt, path = save_model(model, directory)
    assert (saved_fmt, path.suffix) == (fmt, suffix)
    return path


def _sklearn_linear(directory: Path) -> ModelCase:
    model, d = linear_pipeline(), data()
    return ModelCase(
        id="sklearn-linear",
        fmt=ModelFormat.SKLEARN,
        path=_saved(model, directory, ModelFormat.SKLEARN, ".skops"),
        expected=model.predict_proba(d.frame)[:, 1],
        tolerance=0.0,
        input_names=FEATURES,
        n_inputs=len(FEATURES),
        margin=model.decision_function(d.frame),
        margin_tolerance=1e-12,
    )


def _sklearn_forest(directory: Path) -> ModelCase:
    d = data()
    model = RandomForestClassifier(n_estimators=10, max_depth=4, random_state=0)
    model.fit(d.x, d.label)  # unnamed columns: the file records no input names
    return ModelCase(
        id="sklearn-forest",
        fmt=ModelFormat.SKLEARN,
        path=_saved(model, directory, ModelFormat.SKLEARN, ".skops"),
        expected=model.predict_proba(d.x)[:, 1],
        tolerance=0.0,
        input_names=None,
        n_inputs=len(FEATURES),
        margin=None,
    )


def _sklearn_ridge(directory: Path) -> ModelCase:
    d = data()
    model = Pipeline([("scale", StandardScaler()), ("model", Ridge())]).fit(d.frame, d.target)
    return ModelCase(
        id="sklearn-ridge",
        fmt=ModelFormat.SKLEARN,
        path=_saved(model, directory, ModelFormat.SKLEARN, ".skops"),
        expected=model.predict(d.frame),
        tolerance=0.0,
        input_names=FEATURES,
        n_inputs=len(FEATURES),
        margin=model.predict(d.frame),
        margin_tolerance=1e-12,
    )


def _lightgbm(directory: Path) -> ModelCase:
    d = data()
    model = lgb.LGBMClassifier(n_estimators=20, num_leaves=7, verbose=-1).fit(d.frame, d.label)
    return ModelCase(
        id="lightgbm",
        fmt=ModelFormat.LIGHTGBM,
        path=_saved(model, directory, ModelFormat.LIGHTGBM, ".txt"),
        expected=model.predict_proba(d.frame)[:, 1],
        tolerance=0.0,
        input_names=FEATURES,
        n_inputs=len(FEATURES),
        margin=model.predict(d.frame, raw_score=True),
        margin_tolerance=1e-12,
    )


def _lightgbm_regressor(directory: Path) -> ModelCase:
    d = data()
    model = lgb.LGBMRegressor(n_estimators=20, num_leaves=7, verbose=-1).fit(d.x, d.target)
    return ModelCase(
        id="lightgbm-regressor",
        fmt=ModelFormat.LIGHTGBM,
        path=_saved(model.booster_, directory, ModelFormat.LIGHTGBM, ".txt"),
        expected=model.predict(d.x),
        tolerance=0.0,
        input_names=None,  # LightGBM names unnamed columns Column_0..: not recorded names
        n_inputs=len(FEATURES),
        margin=model.predict(d.x, raw_score=True),
        margin_tolerance=1e-12,
    )


def _xgboost_ubj(directory: Path) -> ModelCase:
    model, d = xgb_classifier(), data()
    return ModelCase(
        id="xgboost-ubj",
        fmt=ModelFormat.XGBOOST,
        path=_saved(model, directory, ModelFormat.XGBOOST, ".ubj"),
        expected=model.predict_proba(d.frame)[:, 1],
        tolerance=0.0,
        input_names=FEATURES,
        n_inputs=len(FEATURES),
        margin=model.predict(d.frame, output_margin=True),
        margin_tolerance=1e-5,  # XGBoost sums contributions in float32
    )


def _xgboost_json(directory: Path) -> ModelCase:
    model, d = xgb_classifier(), data()
    path = directory / "model.json"
    model.get_booster().save_model(str(path))
    return ModelCase(
        id="xgboost-json",
        fmt=ModelFormat.XGBOOST,
        path=path,
        expected=model.predict_proba(d.frame)[:, 1],
        tolerance=0.0,
        input_names=FEATURES,
        n_inputs=len(FEATURES),
        margin=model.predict(d.frame, output_margin=True),
        margin_tolerance=1e-5,
    )


def _xgboost_regressor(directory: Path) -> ModelCase:
    d = data()
    model = xgb.XGBRegressor(n_estimators=20, max_depth=3, random_state=0).fit(d.x, d.target)
    return ModelCase(
        id="xgboost-regressor",
        fmt=ModelFormat.XGBOOST,
        path=_saved(model.get_booster(), directory, ModelFormat.XGBOOST, ".ubj"),
        expected=model.predict(d.x),
        tolerance=0.0,
        input_names=None,
        n_inputs=len(FEATURES),
        margin=model.predict(d.x, output_margin=True),
        margin_tolerance=1e-5,
    )


def _onnx(directory: Path, case_id: str, **options: Any) -> ModelCase:
    model, d = linear_pipeline(), data()
    path = directory / "model.onnx"
    export_onnx(model, path, **options)
    return ModelCase(
        id=case_id,
        fmt=ModelFormat.ONNX,
        path=path,
        expected=model.predict_proba(d.frame)[:, 1],
        tolerance=FLOAT32_TOLERANCE,
        input_names=FEATURES if options.get("per_input") else None,
        n_inputs=len(FEATURES),
        margin=None,
    )


def _onnx_regressor(directory: Path) -> ModelCase:
    d = data()
    model = LinearRegression().fit(d.x, d.target)
    path = directory / "model.onnx"
    export_onnx(model, path)
    return ModelCase(
        id="onnx-regressor",
        fmt=ModelFormat.ONNX,
        path=path,
        expected=model.predict(d.x),
        tolerance=FLOAT32_TOLERANCE * 10,  # |target| up to ~15: float32 spacing ~1e-6
        input_names=None,
        n_inputs=len(FEATURES),
        margin=None,
    )


def _pmml(directory: Path, case_id: str, estimator: BaseEstimator, y: np.ndarray) -> ModelCase:
    d = data()
    pipeline = PMMLPipeline([("scale", StandardScaler()), ("model", estimator)])
    pipeline.fit(d.frame, pd.Series(y, name="label"))
    path = directory / "model.pmml"
    export_pmml(pipeline, path)
    is_classifier = hasattr(pipeline, "predict_proba")
    return ModelCase(
        id=case_id,
        fmt=ModelFormat.PMML,
        path=path,
        expected=pipeline.predict_proba(d.frame)[:, 1]
        if is_classifier
        else pipeline.predict(d.frame),
        tolerance=PMML_TOLERANCE,
        input_names=FEATURES,
        n_inputs=len(FEATURES),
        margin=None,
    )


BUILDERS: dict[str, Callable[[Path], ModelCase]] = {
    "sklearn-linear": _sklearn_linear,
    "sklearn-forest": _sklearn_forest,
    "sklearn-ridge": _sklearn_ridge,
    "lightgbm": _lightgbm,
    "lightgbm-regressor": _lightgbm_regressor,
    "xgboost-ubj": _xgboost_ubj,
    "xgboost-json": _xgboost_json,
    "xgboost-regressor": _xgboost_regressor,
    "onnx-tensor": functools.partial(_onnx, case_id="onnx-tensor", zipmap=False),
    "onnx-zipmap": functools.partial(_onnx, case_id="onnx-zipmap"),
    "onnx-per-input": functools.partial(_onnx, case_id="onnx-per-input", per_input=True),
    "onnx-regressor": _onnx_regressor,
    "pmml": lambda directory: _pmml(directory, "pmml", LogisticRegression(), data().label),
    "pmml-regressor": lambda directory: _pmml(
        directory, "pmml-regressor", LinearRegression(), data().target
    ),
}
