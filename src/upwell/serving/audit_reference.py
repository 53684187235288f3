"""The training reference of a model version: what drift is measured against.

When a version is registered with its training set, the training rows of the model's
inputs and the version's own scores on them are written beside the model file, as
``<registry>/<model>/<version>/reference.parquet``. The audit builds a
:class:`~upwell.audit.ReferenceProfile` from it: one reference per input column, plus
``score`` for the score itself.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from upwell.audit import SCORE, ReferenceProfile
from upwell.models.metadata import ModelVersion
from upwell.models.registry import ModelRegistry

__all__ = ["REFERENCE_FILE", "load_references", "reference_path", "save_reference"]

REFERENCE_FILE = "reference.parquet"
"""The file, in a version's directory, holding its training inputs and scores."""


def reference_path(root: Path, model: str, version: int) -> Path:
    """Where a version's reference lives in a registry directory.

    >>> reference_path(Path("models"), "fraud", 3).as_posix()
    'models/fraud/3/reference.parquet'
    """
    return root / model / str(version) / REFERENCE_FILE


def save_reference(registry: ModelRegistry, version: ModelVersion, training_set: Any) -> bool:
    """Write a version's training inputs and its scores on them.

    Args:
        registry: The registry holding the version.
        version: The version, already registered.
        training_set: The training DataFrame (or anything ``pandas.DataFrame`` takes).

    Returns:
        False (and nothing written) when the training set lacks one of the model's
        inputs or holds a non-numeric one: the version then has no drift reference.
    """
    frame = training_set if isinstance(training_set, pd.DataFrame) else pd.DataFrame(training_set)
    inputs = list(version.inputs)
    if not inputs or any(c not in frame.columns for c in inputs):
        return False
    try:
        x = frame[inputs].to_numpy(dtype=np.float64)
    except (TypeError, ValueError):
        return False
    reference = pd.DataFrame(x, columns=inputs)
    reference[SCORE] = np.asarray(registry.load(version).predict(x), dtype=np.float64)
    target = reference_path(registry.root, version.name, version.version)
    temporary = target.with_name(f".{REFERENCE_FILE}.tmp")
    reference.to_parquet(temporary, index=False)
    os.replace(temporary, target)
    return True


def load_references(
    root: Path, known: set[tuple[str, int]] | None = None
) -> dict[tuple[str, int], ReferenceProfile]:
    """The profiles of every version with a reference file in a registry directory.

    Args:
        root: The registry's directory.
        known: Versions to skip (already loaded).

    Returns:
        Profiles by ``(model, version)``; a column without any value is left out.
    """
    found: dict[tuple[str, int], ReferenceProfile] = {}
    if not root.is_dir():
        return found
    for file in sorted(root.glob(f"*/*/{REFERENCE_FILE}")):
        if not file.parent.name.isdigit():
            continue
        key = (file.parent.parent.name, int(file.parent.name))
        if known is not None and key in known:
            continue
        with contextlib.suppress(OSError, ValueError):  # written by a crashed registration
            frame = pd.read_parquet(file)
            columns = [c for c in frame.columns if frame[c].notna().any()]
            found[key] = ReferenceProfile.from_frame(frame, columns)
    return found
