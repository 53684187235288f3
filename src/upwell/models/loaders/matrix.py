"""The feature matrix a loaded model scores: rows of examples, one column per input."""

from __future__ import annotations

import numpy as np

from upwell.models.errors import ModelError


def as_matrix(x: np.ndarray, n_inputs: int | None, where: str) -> np.ndarray:
    """Check a feature matrix and return it as C-ordered float64.

    Args:
        x: One row per example, one column per model input.
        n_inputs: How many columns the model expects (None: any number).
        where: The model file, named in errors.

    Returns:
        The matrix as a C-contiguous float64 array (``x`` itself when it already is).

    Raises:
        ModelError: The matrix is not 2-D, not numeric, or has the wrong width.

    >>> as_matrix(np.ones((2, 3)), 3, "model.txt").shape
    (2, 3)
    """
    try:
        matrix = np.ascontiguousarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        msg = f"the feature matrix is not numeric: {exc}"
        raise ModelError(
            msg,
            where=where,
            fix="Pass a float matrix, one row per example and one column per input.",
        ) from exc
    if matrix.ndim != 2:
        msg = f"the feature matrix has {matrix.ndim} dimension(s), expected 2"
        raise ModelError(
            msg,
            where=where,
            fix="Pass one row per example; reshape a single example with x.reshape(1, -1).",
        )
    if n_inputs is not None and matrix.shape[1] != n_inputs:
        msg = f"the feature matrix has {matrix.shape[1]} column(s); the model takes {n_inputs}"
        raise ModelError(
            msg,
            where=where,
            fix="Pass one column per model input, in the model's input order.",
        )
    return matrix


def as_scores(values: object, n_rows: int, where: str) -> np.ndarray:
    """Check a model's output and return it as a float64 vector, one score per row.

    Args:
        values: What the model's library returned.
        n_rows: How many rows were scored.
        where: The model file, named in errors.

    Returns:
        A float64 vector of length ``n_rows``.

    Raises:
        ModelError: The model gave several outputs per row (multiclass, multi-output).

    >>> as_scores(np.ones((2, 1), dtype=np.float32), 2, "model.onnx").dtype
    dtype('float64')
    """
    scores = np.asarray(values, dtype=np.float64)
    if scores.ndim == 2 and scores.shape[1] == 1:
        scores = scores[:, 0]
    if scores.shape != (n_rows,):
        msg = (
            f"the model gave output of shape {scores.shape} for {n_rows} row(s); "
            "upwell scores one value per row (a binary probability or a regression)"
        )
        raise ModelError(
            msg,
            where=where,
            fix="Use a binary classifier or a single-output regressor.",
        )
    return scores
