"""XGBoost models in XGBoost's JSON or UBJSON format (data only; nothing runs on load)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from upwell.models.errors import ModelError
from upwell.models.loaders.content import HEAD_BYTES, Content, read_bytes, sniff
from upwell.models.loaders.library import import_library
from upwell.models.loaders.matrix import as_matrix, as_scores
from upwell.models.loaders.ubjson import check_document
from upwell.models.protocol import ModelFormat, Trust

_MULTICLASS_PREFIX = "multi:"


@dataclass(frozen=True, eq=False)
class XGBoostModel:
    """An XGBoost booster.

    Attributes:
        booster: The ``xgboost.Booster``.
        input_names: ``booster.feature_names`` (None when trained without names).
        n_inputs: ``booster.num_features()``.
        where: The file it came from.
    """

    booster: Any
    input_names: tuple[str, ...] | None
    n_inputs: int | None
    where: str
    format: ModelFormat = field(default=ModelFormat.XGBOOST, init=False)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """The booster's prediction: the probability for ``binary:logistic``.

        XGBoost computes in float32; the scores are those float32 values as float64.

        Args:
            x: One row per example, one column per input (NaN is missing).

        Returns:
            A float64 vector, one score per row.
        """
        matrix = as_matrix(x, self.n_inputs, self.where)
        # In-place prediction is thread-safe and skips building a DMatrix; the columns
        # are in input order by contract, so the names need no check.
        scores = self.booster.inplace_predict(matrix, validate_features=False)
        return as_scores(scores, len(matrix), self.where)

    def contributions(self, x: np.ndarray) -> np.ndarray:
        """SHAP values from XGBoost (``pred_contribs=True``), in margin units.

        Args:
            x: One row per example, one column per input (NaN is missing).

        Returns:
            One column per input plus the bias; each row sums to the margin
            (log-odds for ``binary:logistic``) up to float32 rounding.
        """
        matrix = as_matrix(x, self.n_inputs, self.where)
        xgb = import_library("xgboost", ModelFormat.XGBOOST)
        dmatrix = xgb.DMatrix(matrix, feature_names=self.booster.feature_names)
        values = self.booster.predict(dmatrix, pred_contribs=True)
        return np.asarray(values, dtype=np.float64)


class XGBoostLoader:
    """Loads XGBoost models saved with ``Booster.save_model`` (JSON or UBJSON)."""

    format: ModelFormat = ModelFormat.XGBOOST

    def load_model(self, path: Path, trust: Trust) -> XGBoostModel:
        """Read an XGBoost JSON or UBJSON model.

        Args:
            path: The model file.
            trust: Unused: the format holds no code.

        Returns:
            The model.

        Raises:
            ModelError: The file is not a readable XGBoost model, or is multiclass.
        """
        del trust
        xgb = import_library("xgboost", ModelFormat.XGBOOST)
        data = read_bytes(path)
        _check_content(data, str(path))
        booster = xgb.Booster()
        try:
            # From memory XGBoost tells JSON from UBJSON by content, not extension.
            booster.load_model(bytearray(data))
            objective = json.loads(booster.save_config())["learner"]["objective"]["name"]
        except (xgb.core.XGBoostError, ValueError, KeyError) as exc:
            msg = (
                f"cannot read the XGBoost model: {str(exc).splitlines()[0] if str(exc) else exc!r}"
            )
            raise ModelError(
                msg,
                where=str(path),
                fix="The file is truncated or not an XGBoost model; save it again with "
                "Booster.save_model to a .ubj or .json file.",
            ) from exc
        if str(objective).startswith(_MULTICLASS_PREFIX):
            msg = (
                f"the model is multiclass (objective {objective}); upwell scores binary "
                "classifiers and regressors"
            )
            raise ModelError(
                msg,
                where=str(path),
                fix="Train a binary model per class you need to score.",
            )
        names = booster.feature_names
        return XGBoostModel(
            booster=booster,
            input_names=None if names is None else tuple(str(name) for name in names),
            n_inputs=int(booster.num_features()),
            where=str(path),
        )


LOADER = XGBoostLoader()


def _check_content(data: bytes, where: str) -> None:
    """Let only complete JSON or UBJSON documents reach XGBoost's parser."""
    content = sniff(data[:HEAD_BYTES])
    if content is Content.XGBOOST_UBJ:
        check_document(data, where)
    elif content is not Content.XGBOOST_JSON:
        msg = "the file is not an XGBoost JSON or UBJSON model"
        raise ModelError(
            msg, where=where, fix="Save the model with Booster.save_model to .ubj or .json."
        )


def save(model: object, path: Path) -> None:
    """Write an XGBoost Booster or fitted scikit-learn-API model.

    Args:
        model: A ``xgboost.Booster`` or fitted ``XGBModel``.
        path: Where to write it; ``.ubj`` gives UBJSON, ``.json`` JSON.

    Raises:
        ModelError: The model is not a fitted XGBoost model.
    """
    xgb = import_library("xgboost", ModelFormat.XGBOOST)
    booster: Any = model
    if isinstance(model, xgb.XGBModel):
        if not model.__sklearn_is_fitted__():
            msg = f"the {type(model).__name__} is not fitted"
            raise ModelError(
                msg,
                where=str(path),
                fix="Fit the model before saving it.",
            )
        booster = model.get_booster()
    if not isinstance(booster, xgb.Booster):
        msg = f"expected an XGBoost Booster or XGBModel, got {type(model).__name__}"
        raise ModelError(
            msg,
            where=str(path),
        )
    booster.save_model(str(path))
