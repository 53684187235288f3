"""Checks a model must pass before it is registered."""

from __future__ import annotations

import numpy as np

from upwell.models.errors import ModelError
from upwell.models.protocol import LoadedModel


def check_inputs(model: LoadedModel, inputs: tuple[str, ...], service: str, where: str) -> None:
    """Check a model's recorded inputs against its feature service's columns.

    Args:
        model: The loaded model.
        inputs: The service's output columns, in order.
        service: The service's name, for the message.
        where: The model, for the message.

    Raises:
        ModelError: The count or the names (where the file records them) differ.
    """
    if model.n_inputs is not None and model.n_inputs != len(inputs):
        msg = (
            f"the model takes {model.n_inputs} inputs but feature service {service!r} "
            f"gives {len(inputs)}"
        )
        raise ModelError(
            msg, where=where, fix="register it with the feature service it was trained on"
        )
    names = model.input_names
    if names is not None and tuple(names) != tuple(inputs):
        missing = [n for n in names if n not in inputs]
        extra = [n for n in inputs if n not in names]
        detail = (
            f"missing from the service: {missing}; not in the model: {extra}"
            if missing or extra
            else "the same names in another order"
        )
        msg = f"the model's inputs do not match feature service {service!r} ({detail})"
        raise ModelError(
            msg,
            where=where,
            fix="train on the service's columns in its order (set output_names on the "
            "FeatureService to the model's names if they differ)",
        )


def smoke_score(model: LoadedModel, n_inputs: int, where: str) -> None:
    """Score two rows and check one finite score comes back per row.

    Raises:
        ModelError: The model fails or answers in another shape.
    """
    x = np.zeros((2, n_inputs), dtype=np.float64)
    try:
        scores = np.asarray(model.predict(x), dtype=np.float64)
    except ModelError:
        raise
    except Exception as error:
        msg = f"scoring a test row failed: {type(error).__name__}: {error}"
        raise ModelError(
            msg, where=where, fix="check the model takes one row of feature values"
        ) from None
    if scores.shape != (2,) or not np.isfinite(scores).all():
        msg = f"scoring two test rows gave {scores.shape} values, not two finite scores"
        raise ModelError(
            msg,
            where=where,
            fix="register a binary classifier or a regressor with a single output",
        )
