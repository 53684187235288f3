"""Value types of event fields, request fields and batch feature columns."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from upwell.definitions.errors import DefinitionError
from upwell.definitions.names import check_name


class FieldType(enum.Enum):
    """The scalar type of a field."""

    INT = "int"
    FLOAT = "float"
    BOOL = "bool"
    STRING = "string"
    TIMESTAMP = "timestamp"

    @property
    def is_numeric(self) -> bool:
        """Whether values of this type can be summed and averaged."""
        return self in (FieldType.INT, FieldType.FLOAT, FieldType.BOOL)


@dataclass(frozen=True)
class Vector:
    """A fixed-length vector of floats, e.g. an embedding.

    Args:
        dim: The number of elements.
    """

    dim: int

    def __post_init__(self) -> None:
        if not isinstance(self.dim, int) or self.dim <= 0:
            raise DefinitionError(
                "Vector",  # noqa: EM101 (the definition, not the message)
                "dim",
                f"{self.dim!r} is not a positive int",
                "use Vector(dim=N), N>0",
            )


ValueType = FieldType | Vector
"""The type of one column: a scalar field type or a vector."""

_PYTHON_TYPES: dict[object, FieldType] = {
    int: FieldType.INT,
    float: FieldType.FLOAT,
    bool: FieldType.BOOL,
    str: FieldType.STRING,
    datetime: FieldType.TIMESTAMP,
}
_NAMES = {t.value: t for t in FieldType}


def to_value_type(spec: object, *, definition: str, field: str) -> ValueType:
    """Normalise a type given as a FieldType, Vector, Python type or type name.

    Args:
        spec: ``FieldType.FLOAT``, ``float``, ``"float"``, ``Vector(8)``...
        definition: The definition, for the error message.
        field: The field, for the error message.

    Returns:
        The FieldType or Vector.

    Raises:
        DefinitionError: The spec names no known type.
    """
    if isinstance(spec, FieldType | Vector):
        return spec
    if isinstance(spec, str) and spec in _NAMES:
        return _NAMES[spec]
    if spec in _PYTHON_TYPES:
        return _PYTHON_TYPES[spec]
    raise DefinitionError(
        definition,
        field,
        f"{spec!r} is not a field type",
        f"use one of {sorted(_NAMES)}, the Python types int/float/bool/str/datetime, "
        "or Vector(dim)",
    )


def to_schema(schema: object, *, definition: str) -> dict[str, ValueType]:
    """Normalise a schema mapping of column name to type.

    Args:
        schema: A mapping of column names to types.
        definition: The definition, for the error message.

    Returns:
        A new dict of column name to ValueType.

    Raises:
        DefinitionError: The schema is not a non-empty mapping of valid names and types.
    """
    if not isinstance(schema, Mapping) or not schema:
        raise DefinitionError(
            definition, "schema", "must be a non-empty mapping", "pass {'column': float, ...}"
        )
    return {
        check_name(name, definition=definition, field=f"schema[{name!r}]"): to_value_type(
            kind, definition=definition, field=f"schema[{name!r}]"
        )
        for name, kind in schema.items()
    }
