"""ONNX models, run by onnxruntime on the CPU (a graph of operators; no Python runs).

Supported graphs take either one float tensor ``[batch, n]`` or one ``[batch, 1]``
tensor per input (then the tensors' names are the input names), and give a
probability output (``probabilities`` / ``output_probability`` as skl2onnx and
onnxmltools name it, as a ``[batch, 2]`` tensor or a ZipMap sequence of dicts) or a
regression output (``variable``, or a single ``[batch, 1]`` output). A ``tensor(float)``
input makes onnxruntime compute in float32: scores then agree with the original model
to float32 precision (about 1e-6 relative), not exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np

from upwell.models.errors import ModelError
from upwell.models.loaders.content import require_file
from upwell.models.loaders.library import import_library
from upwell.models.loaders.matrix import as_matrix, as_scores
from upwell.models.protocol import ModelFormat, Trust

_PROBABILITY_NAMES = ("probabilities", "output_probability")
_REGRESSION_NAMES = ("variable",)
_DTYPES: dict[str, type[np.floating[Any]]] = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
}
_CPU = "CPUExecutionProvider"


class OutputKind(Enum):
    """How a graph gives its score."""

    PROBABILITY = "a [batch, 2] probability tensor"
    ZIPMAP = "a sequence of {class: probability} maps"
    VALUE = "a regression value"


@dataclass(frozen=True, eq=False)
class OnnxModel:
    """An onnxruntime session over an ONNX graph.

    Attributes:
        session: The ``onnxruntime.InferenceSession``.
        input_names: The graph's input names when it takes one input per feature.
        n_inputs: The width the graph declares (None when it is dynamic).
        where: The file it came from.
        feeds: The graph inputs to feed (one, or one per feature).
        dtype: The numpy dtype the graph's inputs take.
        output: The output read for the score.
        output_kind: How that output gives the score.
    """

    session: Any
    input_names: tuple[str, ...] | None
    n_inputs: int | None
    where: str
    feeds: tuple[str, ...]
    dtype: type[np.floating[Any]]
    output: str
    output_kind: OutputKind
    format: ModelFormat = field(default=ModelFormat.ONNX, init=False)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """The positive-class probability (classifiers) or the prediction (regressors).

        Args:
            x: One row per example, one column per input; cast to the graph's input
                type (float32 for ``tensor(float)``).

        Returns:
            A float64 vector, one score per row.
        """
        matrix = as_matrix(x, self.n_inputs, self.where).astype(self.dtype, copy=False)
        if len(self.feeds) == 1:
            inputs = {self.feeds[0]: matrix}
        else:
            inputs = {name: matrix[:, [i]] for i, name in enumerate(self.feeds)}
        (result,) = self.session.run([self.output], inputs)
        return as_scores(_score_column(result, self.output_kind), len(matrix), self.where)

    def contributions(self, x: np.ndarray) -> None:
        """ONNX graphs do not explain their predictions: always None.

        Args:
            x: Ignored.
        """
        del x


class OnnxLoader:
    """Loads ``.onnx`` files with onnxruntime's CPU provider."""

    format: ModelFormat = ModelFormat.ONNX

    def load_model(self, path: Path, trust: Trust) -> OnnxModel:
        """Read an ONNX model.

        Args:
            path: The model file.
            trust: Unused: a graph holds no code.

        Returns:
            The model.

        Raises:
            ModelError: The file is not a readable ONNX model, or its inputs or
                outputs are not of a supported shape.
        """
        del trust
        ort = import_library("onnxruntime", ModelFormat.ONNX)
        require_file(path)
        try:
            session = ort.InferenceSession(str(path), providers=[_CPU])
        except Exception as exc:  # onnxruntime raises its own untyped exceptions
            msg = f"cannot read the ONNX model: {str(exc).strip().splitlines()[0]}"
            raise ModelError(
                msg,
                where=str(path),
                fix="The file is truncated or not an ONNX model; export the model again.",
            ) from exc
        feeds, dtype, names, n_inputs = _inputs(session, str(path))
        output, kind = _output(session, str(path))
        return OnnxModel(
            session=session,
            input_names=names,
            n_inputs=n_inputs,
            where=str(path),
            feeds=feeds,
            dtype=dtype,
            output=output,
            output_kind=kind,
        )


LOADER = OnnxLoader()


def save(model: object, path: Path) -> None:
    """Write an ``onnx.ModelProto``.

    Args:
        model: The model.
        path: Where to write it (an ``.onnx`` file).

    Raises:
        ModelError: The model is not an ONNX ModelProto.
    """
    onnx = import_library("onnx", ModelFormat.ONNX)
    if not isinstance(model, onnx.ModelProto):
        msg = f"expected an onnx.ModelProto, got {type(model).__name__}"
        raise ModelError(msg, where=str(path))
    path.write_bytes(model.SerializeToString())


def _inputs(
    session: Any, where: str
) -> tuple[tuple[str, ...], type[np.floating[Any]], tuple[str, ...] | None, int | None]:
    """The feeds, their dtype, the input names and the width a graph declares."""
    inputs = session.get_inputs()
    types = {arg.type for arg in inputs}
    shapes = [list(arg.shape) for arg in inputs]
    if len(types) != 1 or next(iter(types)) not in _DTYPES:
        msg = f"input types {sorted(types)}"
        raise _unsupported(msg, where)
    dtype = _DTYPES[next(iter(types))]
    feeds = tuple(str(arg.name) for arg in inputs)
    if len(inputs) == 1 and len(shapes[0]) == 2:
        width = shapes[0][1]
        return feeds, dtype, None, width if isinstance(width, int) else None
    if all(len(shape) == 2 and shape[1] == 1 for shape in shapes):
        return feeds, dtype, feeds, len(feeds)
    msg = f"input shapes {shapes}"
    raise _unsupported(msg, where)


def _output(session: Any, where: str) -> tuple[str, OutputKind]:
    """The output to read and how: a probability tensor, a ZipMap, or a value."""
    outputs = {str(arg.name): arg for arg in session.get_outputs()}
    named = [name for name in _PROBABILITY_NAMES if name in outputs]
    named += [name for name in outputs if "prob" in name.lower() and name not in named]
    if named:
        arg = outputs[named[0]]
        if str(arg.type).startswith("seq(map("):
            return named[0], OutputKind.ZIPMAP
        shape = list(arg.shape)
        if len(shape) == 2 and isinstance(shape[1], int) and shape[1] != 2:
            msg = (
                f"the model gives {shape[1]} class probabilities; upwell scores binary "
                "classifiers and regressors"
            )
            raise ModelError(
                msg,
                where=where,
                fix="Train a binary model per class you need to score.",
            )
        return named[0], OutputKind.PROBABILITY
    values = [name for name in _REGRESSION_NAMES if name in outputs] or list(outputs)
    if len(values) == 1 and str(outputs[values[0]].type) in _DTYPES:
        return values[0], OutputKind.VALUE
    msg = f"outputs {sorted(outputs)} (no probability or single value)"
    raise _unsupported(msg, where)


def _score_column(result: Any, kind: OutputKind) -> Any:
    """The positive-class column of a probability output, or the value itself."""
    if kind is OutputKind.VALUE:
        return result
    if kind is OutputKind.PROBABILITY:
        probabilities = np.asarray(result)
        is_binary = probabilities.ndim == 2 and probabilities.shape[1] == 2
        return probabilities[:, 1] if is_binary else probabilities  # else as_scores rejects
    rows: list[float] = []
    for probabilities in result:  # ZipMap: one {class: probability} per row
        classes = sorted(probabilities)
        if len(classes) != 2:
            return np.full((len(result), len(classes)), np.nan)  # rejected by as_scores
        rows.append(float(probabilities[classes[1]]))
    return np.asarray(rows, dtype=np.float64)


def _unsupported(what: str, where: str) -> ModelError:
    return ModelError(
        f"unsupported ONNX signature: {what}",
        where=where,
        fix="Export with one float input of shape [None, n_features] (or one [None, 1] "
        "input per feature) and a probability or single regression output.",
    )
