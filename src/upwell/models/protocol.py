"""The loader contract every model format implements.

Contract:

- ``load_model(path, trust)`` reads a model file of its format and returns a
  :class:`LoadedModel`, or raises :class:`~upwell.models.errors.ModelError` saying what
  is wrong with the file (corrupt, wrong format, untrusted content) and how to fix it.
  Loading never runs code from the file unless ``trust`` allows it explicitly.
- ``LoadedModel.predict(x)`` takes a float64 matrix, one row per example and one
  column per input in ``input_names`` order, and returns a float64 vector: the
  probability of the positive class for a classifier, the prediction for a regressor.
  The same matrix always gives the same scores.
- ``input_names`` are the input names the file records (None when the format does
  not record them); ``n_inputs`` is how many columns ``predict`` expects (None when
  the file does not say).
- ``contributions(x)`` returns per-input contributions (one row per example, one
  column per input plus a last column for the bias), or None where the format cannot
  explain its predictions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Protocol

import numpy as np


class ModelFormat(Enum):
    """The model file formats upwell loads."""

    SKLEARN = "sklearn"
    LIGHTGBM = "lightgbm"
    XGBOOST = "xgboost"
    ONNX = "onnx"
    PMML = "pmml"


@dataclass(frozen=True, kw_only=True)
class Trust:
    """What a load may trust beyond data-only formats.

    Args:
        types: Fully qualified Python types a scikit-learn (skops) file may contain
            beyond those skops trusts by default.
        pickle_sha256: SHA-256 digests of pickle/joblib files allowed to load; a pickle
            runs code when loaded, so only a file whose digest was pinned at
            registration is ever unpickled.
    """

    types: tuple[str, ...] = ()
    pickle_sha256: tuple[str, ...] = field(default=())


class LoadedModel(Protocol):
    """A model ready to score feature matrices."""

    @property
    def format(self) -> ModelFormat:
        """The file's format."""
        ...

    @property
    def input_names(self) -> tuple[str, ...] | None:
        """The inputs' names as recorded in the file, if it records them."""
        ...

    @property
    def n_inputs(self) -> int | None:
        """How many inputs ``predict`` expects, if the file says."""
        ...

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Scores for each row of a float64 matrix."""
        ...

    def contributions(self, x: np.ndarray) -> np.ndarray | None:
        """Per-input contributions (plus a bias column), or None if unsupported."""
        ...


class ModelLoader(Protocol):
    """Loads one format."""

    format: ModelFormat

    def load_model(self, path: Path, trust: Trust) -> LoadedModel:
        """Read a model file."""
        ...
