"""Batch features: slowly changing attributes loaded from tables, joined as of a time."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from upwell.definitions.entity import Entity
from upwell.definitions.errors import DefinitionError
from upwell.definitions.names import check_name
from upwell.definitions.types import ValueType, to_schema


@dataclass(frozen=True, kw_only=True)
class BatchFeatures:
    """Attributes of an entity that hold from a ``valid_from`` time until replaced.

    Reading as of ``t`` gives, per entity, the row with the greatest ``valid_from <= t``
    (an as-of join), never simply the latest row. Values may be scalars or vectors.

    Args:
        name: The group's name; its columns are referred to as ``"name.column"``.
        entity: The entity the rows describe; the loaded table carries its keys.
        schema: Feature column to type (``float``, ``Vector(64)``, ...).
        valid_from: The loaded table's column giving when a row starts to hold.
        description: Free text for humans.

    Raises:
        DefinitionError: A name is invalid or a column clashes with a key.
    """

    name: str
    entity: Entity
    schema: Mapping[str, ValueType]
    valid_from: str = "valid_from"
    description: str = ""

    def __post_init__(self) -> None:
        where = f"BatchFeatures {self.name!r}"
        check_name(self.name, definition=where)
        check_name(self.valid_from, definition=where, field="valid_from")
        schema = to_schema(self.schema, definition=where)
        clash = sorted(set(schema) & ({self.valid_from} | set(self.entity.keys)))
        if clash:
            raise DefinitionError(
                where,
                "schema",
                f"columns {clash} clash with the entity keys or valid_from",
                "rename the feature columns",
            )
        object.__setattr__(self, "schema", schema)

    @property
    def feature_refs(self) -> tuple[str, ...]:
        """The qualified names ``group.column``."""
        return tuple(f"{self.name}.{c}" for c in self.schema)
