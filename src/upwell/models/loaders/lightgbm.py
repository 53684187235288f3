"""LightGBM models in LightGBM's own text format (data only; nothing runs on load)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from upwell.models.errors import ModelError
from upwell.models.loaders.content import read_bytes
from upwell.models.loaders.library import import_library
from upwell.models.loaders.lightgbm_text import check_model_text
from upwell.models.loaders.matrix import as_matrix, as_scores
from upwell.models.protocol import ModelFormat, Trust

_UNNAMED_PREFIX = "Column_"  # LightGBM's name for a column it was given no name for
# Up to this many rows are scored on the calling thread: starting OpenMP workers for a
# few rows costs more than it saves, and far more when a server's threads compete.
_SINGLE_THREAD_ROWS = 64


def _threads(n_rows: int) -> dict[str, int]:
    return {"num_threads": 1} if n_rows <= _SINGLE_THREAD_ROWS else {}


@dataclass(frozen=True, eq=False)
class LightGBMModel:
    """A LightGBM booster.

    Attributes:
        booster: The ``lightgbm.Booster``.
        input_names: The feature names it was trained with (None when LightGBM
            named them ``Column_0``, ``Column_1``, ...).
        n_inputs: ``num_feature()``.
        where: The file it came from.
    """

    booster: Any
    input_names: tuple[str, ...] | None
    n_inputs: int | None
    where: str
    format: ModelFormat = field(default=ModelFormat.LIGHTGBM, init=False)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """The booster's prediction: the probability for a binary objective.

        Args:
            x: One row per example, one column per input.

        Returns:
            A float64 vector, one score per row.
        """
        matrix = as_matrix(x, self.n_inputs, self.where)
        scores = self.booster.predict(matrix, **_threads(len(matrix)))
        return as_scores(scores, len(matrix), self.where)

    def contributions(self, x: np.ndarray) -> np.ndarray:
        """SHAP values from LightGBM (``pred_contrib=True``), in raw-score units.

        Args:
            x: One row per example, one column per input.

        Returns:
            One column per input plus the expected raw score; each row sums to the
            raw score (log-odds for a binary objective).
        """
        matrix = as_matrix(x, self.n_inputs, self.where)
        values = self.booster.predict(matrix, pred_contrib=True, **_threads(len(matrix)))
        return np.asarray(values, dtype=np.float64)


class LightGBMLoader:
    """Loads LightGBM text models (``Booster.save_model``)."""

    format: ModelFormat = ModelFormat.LIGHTGBM

    def load_model(self, path: Path, trust: Trust) -> LightGBMModel:
        """Read a LightGBM text model.

        Args:
            path: The model file.
            trust: Unused: the text format holds no code.

        Returns:
            The model.

        Raises:
            ModelError: The file is not a readable LightGBM model, or is multiclass.
        """
        del trust
        lgb = import_library("lightgbm", ModelFormat.LIGHTGBM)
        try:
            text = read_bytes(path).decode("utf-8")
        except UnicodeDecodeError as exc:
            msg = "the file is not text, so not a LightGBM text model"
            raise ModelError(
                msg,
                where=str(path),
                fix="Pass a model saved with Booster.save_model.",
            ) from exc
        check_model_text(text, str(path))
        try:
            booster = lgb.Booster(model_str=text)
        except (lgb.basic.LightGBMError, ValueError) as exc:
            msg = f"cannot read the LightGBM model: {exc}"
            raise ModelError(
                msg,
                where=str(path),
                fix="The file is truncated or not a LightGBM text model; save it again "
                "with Booster.save_model.",
            ) from exc
        if booster.num_model_per_iteration() != 1:
            msg = (
                f"the model is multiclass ({booster.num_model_per_iteration()} classes); "
                "upwell scores binary classifiers and regressors"
            )
            raise ModelError(
                msg,
                where=str(path),
                fix="Train a binary model per class you need to score.",
            )
        names = tuple(str(name) for name in booster.feature_name())
        if all(name == f"{_UNNAMED_PREFIX}{i}" for i, name in enumerate(names)):
            names = ()
        return LightGBMModel(
            booster=booster,
            input_names=names or None,
            n_inputs=int(booster.num_feature()),
            where=str(path),
        )


LOADER = LightGBMLoader()


def save(model: object, path: Path) -> None:
    """Write a LightGBM Booster or fitted scikit-learn-API model as a text model.

    Args:
        model: A ``lightgbm.Booster`` or fitted ``LGBMModel``.
        path: Where to write it (a ``.txt`` file).

    Raises:
        ModelError: The model is not a fitted LightGBM model.
    """
    lgb = import_library("lightgbm", ModelFormat.LIGHTGBM)
    booster: Any = model
    if isinstance(model, lgb.LGBMModel):
        if not model.__sklearn_is_fitted__():
            msg = f"the {type(model).__name__} is not fitted"
            raise ModelError(
                msg,
                where=str(path),
                fix="Fit the model before saving it.",
            )
        booster = model.booster_
    if not isinstance(booster, lgb.Booster):
        msg = f"expected a LightGBM Booster or LGBMModel, got {type(model).__name__}"
        raise ModelError(
            msg,
            where=str(path),
        )
    booster.save_model(str(path))
