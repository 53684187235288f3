"""Request-time features: pure functions of request fields and other features."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from upwell.definitions.errors import DefinitionError
from upwell.definitions.names import check_name
from upwell.definitions.types import FieldType, ValueType, to_schema, to_value_type


@dataclass(frozen=True, kw_only=True)
class RequestSource:
    """Fields that arrive with a request (e.g. the transaction being scored).

    Args:
        name: The source's name; fields are referred to as ``"name.field"``.
        schema: Field name to type.
    """

    name: str
    schema: Mapping[str, ValueType]

    def __post_init__(self) -> None:
        where = f"RequestSource {self.name!r}"
        check_name(self.name, definition=where)
        object.__setattr__(self, "schema", to_schema(self.schema, definition=where))

    @property
    def feature_refs(self) -> tuple[str, ...]:
        """The qualified field names."""
        return tuple(f"{self.name}.{f}" for f in self.schema)


@dataclass(frozen=True, kw_only=True)
class RequestFeature:
    """A value computed at request time by a pure function.

    Args:
        name: The feature's name within its view.
        inputs: Qualified names of request fields or features passed, in order, to ``function``.
        function: A pure function of the inputs; it must not do I/O or read the clock.
        dtype: The type of the result.
    """

    name: str
    inputs: tuple[str, ...]
    function: Callable[..., Any]
    dtype: ValueType = FieldType.FLOAT

    def __post_init__(self) -> None:
        where = f"RequestFeature {self.name!r}"
        check_name(self.name, definition=where)
        raw: Any = self.inputs
        inputs = (raw,) if isinstance(raw, str) else tuple(raw)
        if not inputs:
            raise DefinitionError(where, "inputs", "is empty", "list the fields it reads")
        object.__setattr__(self, "inputs", inputs)
        if not callable(self.function):
            raise DefinitionError(where, "function", "is not callable", "pass a function")
        object.__setattr__(
            self, "dtype", to_value_type(self.dtype, definition=where, field="dtype")
        )


@dataclass(frozen=True, kw_only=True)
class RequestFeatureView:
    """A named group of request-time features.

    Args:
        name: The group's name; features are referred to as ``"name.feature"``.
        features: The features.
    """

    name: str
    features: tuple[RequestFeature, ...]

    def __post_init__(self) -> None:
        where = f"RequestFeatureView {self.name!r}"
        check_name(self.name, definition=where)
        features = tuple(self.features)
        object.__setattr__(self, "features", features)
        names = [f.name for f in features]
        if not names or len(set(names)) != len(names):
            raise DefinitionError(
                where,
                "features",
                f"is empty or repeats names {names}",
                "give each feature its own name",
            )

    @property
    def feature_refs(self) -> tuple[str, ...]:
        """The qualified names ``view.feature``."""
        return tuple(f"{self.name}.{f.name}" for f in self.features)
