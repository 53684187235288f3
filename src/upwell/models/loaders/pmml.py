"""PMML documents, evaluated by pypmml (PMML4S on a Java virtual machine).

pypmml starts one JVM per process on the first PMML load (``java`` from ``JAVA_HOME``
or the ``PATH``), talks to it over a local py4j socket, and shares it between every
PMML model; the JVM ends when the Python process exits. Rows cross to the JVM as JSON
written and read with shortest round-trip float formatting, so no precision is lost
on the way. A failed load (missing Java, a corrupt document) raises at once and
leaves no model behind; the JVM, once started, stays for later loads.
"""

from __future__ import annotations

import re
import xml.parsers.expat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from upwell.models.errors import ModelError
from upwell.models.loaders.content import read_bytes
from upwell.models.loaders.library import import_library
from upwell.models.loaders.matrix import as_matrix, as_scores
from upwell.models.protocol import ModelFormat, Trust

_CLASSIFICATION = "classification"
_PROBABILITY = "probability"
_PREDICTED_VALUE = "predictedValue"
_JAVA_FIX = (
    "PMML models need a Java runtime (8 or newer): install one (e.g. apt-get install "
    "openjdk-17-jre-headless) and put java on the PATH or set JAVA_HOME."
)


@dataclass(frozen=True, eq=False)
class PmmlModel:
    """A PMML model evaluated by pypmml.

    Attributes:
        model: The ``pypmml.Model``.
        input_names: The model's active input fields, in order.
        n_inputs: How many there are.
        where: The file it came from.
        output: The result field holding the score: the positive class's probability
            (the second class, as scikit-learn orders them) or the predicted value.
    """

    model: Any
    input_names: tuple[str, ...] | None
    n_inputs: int | None
    where: str
    output: str
    format: ModelFormat = field(default=ModelFormat.PMML, init=False)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """The positive-class probability (classifiers) or the prediction (regressors).

        Args:
            x: One row per example, one column per input (NaN is a missing value).

        Returns:
            A float64 vector, one score per row.

        Raises:
            ModelError: The evaluator failed or gave no score field.
        """
        matrix = as_matrix(x, self.n_inputs, self.where)
        if len(matrix) == 0:
            return np.empty(0, dtype=np.float64)
        payload = {"columns": list(self.input_names or ()), "data": matrix}
        request = orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY).decode()
        try:
            result = orjson.loads(self.model.call("predict", request))
            column = result["columns"].index(self.output)
        except Exception as exc:  # py4j and PMML4S errors have no common base
            msg = f"the PMML evaluator failed: {exc}"
            raise ModelError(
                msg,
                where=self.where,
                fix="Check that the model's inputs are numeric and the JVM is running.",
            ) from exc
        values = [np.nan if row[column] is None else row[column] for row in result["data"]]
        return as_scores(values, len(matrix), self.where)

    def contributions(self, x: np.ndarray) -> None:
        """PMML models do not explain their predictions here: always None.

        Args:
            x: Ignored.
        """
        del x


class PmmlLoader:
    """Loads ``.pmml`` documents with pypmml."""

    format: ModelFormat = ModelFormat.PMML

    def load_model(self, path: Path, trust: Trust) -> PmmlModel:
        """Read a PMML document (starting the shared JVM on first use).

        Args:
            path: The PMML file.
            trust: Unused: PMML is a declarative document.

        Returns:
            The model.

        Raises:
            ModelError: Java is missing, the document is invalid, or the model is not
                a binary classifier or a regressor.
        """
        del trust
        pypmml = import_library("pypmml", ModelFormat.PMML)
        _check_document(read_bytes(path), str(path))
        try:
            model = pypmml.Model.fromFile(str(path))
            names = tuple(str(name) for name in model.inputNames)
            output = _score_field(model, str(path))
        except ModelError:
            raise
        except OSError as exc:  # the java executable could not be started
            msg = f"cannot start Java: {exc}"
            raise ModelError(msg, where=str(path), fix=_JAVA_FIX) from exc
        except Exception as exc:  # pypmml/py4j errors have no common base
            msg = f"cannot read the PMML model: {exc}"
            raise ModelError(
                msg,
                where=str(path),
                fix="The file is truncated or not a PMML document; export the model again "
                f"(if Java could not start: {_JAVA_FIX})",
            ) from exc
        return PmmlModel(
            model=model, input_names=names, n_inputs=len(names), where=str(path), output=output
        )


LOADER = PmmlLoader()


class _Refused(Exception):
    """The document declares something a PMML document never needs."""


def _check_document(data: bytes, where: str) -> None:
    """Raise unless ``data`` is complete, well-formed XML whose root is ``PMML``.

    PMML4S accepts a document cut short and evaluates what it read, so a truncated
    file would score wrongly instead of failing. A DOCTYPE is refused outright: PMML
    needs none, and refusing it rules out entity-expansion attacks.
    """
    parser = xml.parsers.expat.ParserCreate()
    roots: list[str] = []

    def start(name: str, attributes: dict[str, str]) -> None:
        del attributes
        if not roots:
            roots.append(name.rpartition(":")[2])

    def refuse_doctype(*declaration: object) -> None:
        del declaration
        msg = "it declares a DOCTYPE, which PMML documents do not use"
        raise _Refused(msg)

    parser.StartElementHandler = start
    parser.StartDoctypeDeclHandler = refuse_doctype
    try:
        parser.Parse(data, True)
    except (xml.parsers.expat.ExpatError, _Refused) as exc:
        msg = f"the file is not a complete PMML document: {exc}"
        raise ModelError(
            msg, where=where, fix="The file is truncated or corrupt; export the model again."
        ) from exc
    if roots != ["PMML"]:
        msg = f"the XML document's root element is {roots[:1]}, not PMML"
        raise ModelError(msg, where=where, fix="Pass a PMML document.")


def _score_field(model: Any, where: str) -> str:
    """The result field holding the score of a binary classifier or a regressor."""
    fields = [(str(f.name), str(f.feature), str(f.value)) for f in model.outputFields]
    if str(model.functionName) != _CLASSIFICATION:
        for name, feature, _ in fields:
            if feature == _PREDICTED_VALUE:
                return name
        return f"predicted_{model.targetName}"
    classes = [str(label) for label in model.classes]
    if len(classes) != 2:
        msg = (
            f"the PMML classifier has {len(classes)} classes; upwell scores binary "
            "classifiers (the probability of the second class) and regressors"
        )
        raise ModelError(
            msg,
            where=where,
            fix="Export a binary classifier per class you need to score.",
        )
    positive = classes[1]
    pattern = re.compile(rf"probability[(_ ]?{re.escape(positive)}\)?", re.IGNORECASE)
    for name, feature, value in fields:
        if feature == _PROBABILITY and value == positive:
            return name
    for name, _, _ in fields:
        if pattern.fullmatch(name):
            return name
    msg = (
        f"the PMML classifier has no probability output for class {positive!r} "
        f"(outputs: {[name for name, _, _ in fields]})"
    )
    raise ModelError(
        msg,
        where=where,
        fix=f'Add <OutputField feature="probability" value="{positive}"/> to its Output.',
    )
