"""Event sources: streams of timestamped events that feature views aggregate."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from upwell.definitions.durations import Duration, to_ms
from upwell.definitions.entity import Entity
from upwell.definitions.errors import DefinitionError
from upwell.definitions.names import check_name
from upwell.definitions.types import FieldType, ValueType, to_schema


@dataclass(frozen=True, kw_only=True)
class EventSource:
    """A stream of events with a schema and an event-time column.

    Args:
        name: The source's name (events are pushed to it by this name).
        schema: Field name to type; must include the timestamp, the event id and every
            key of every entity.
        timestamp: The event-time field (type timestamp).
        entities: The entities the events describe.
        event_id: A field that identifies an event; duplicates are applied once.
        allowed_lateness: How far behind the latest event time an event may arrive and
            still update its windows; later events go to the dead-letter sink.

    Raises:
        DefinitionError: A field is missing from the schema or has the wrong type.
    """

    name: str
    schema: Mapping[str, ValueType]
    timestamp: str
    entities: tuple[Entity, ...]
    event_id: str | None = None
    allowed_lateness: Duration = field(default=timedelta(0))

    def __post_init__(self) -> None:
        where = f"EventSource {self.name!r}"
        check_name(self.name, definition=where)
        schema = to_schema(self.schema, definition=where)
        object.__setattr__(self, "schema", schema)
        entities = (self.entities,) if isinstance(self.entities, Entity) else tuple(self.entities)
        object.__setattr__(self, "entities", entities)
        if not entities or not all(isinstance(e, Entity) for e in entities):
            raise DefinitionError(
                where, "entities", "must list at least one Entity", "pass entities=(customer,)"
            )
        self._check_field("timestamp", self.timestamp, FieldType.TIMESTAMP)
        if self.event_id is not None:
            self._check_field("event_id", self.event_id, None)
        for entity in entities:
            for key in entity.keys:
                self._check_field("entities", key, None)
        lateness = to_ms(self.allowed_lateness, definition=where, field="allowed_lateness")
        if lateness < 0:
            raise DefinitionError(
                where, "allowed_lateness", "is negative", "use a duration >= 0, e.g. '10m'"
            )
        object.__setattr__(self, "allowed_lateness", timedelta(milliseconds=lateness))

    @property
    def allowed_lateness_ms(self) -> int:
        """The allowed lateness in milliseconds."""
        return to_ms(self.allowed_lateness, definition=self.name, field="allowed_lateness")

    def _check_field(self, role: str, name: object, kind: FieldType | None) -> None:
        where = f"EventSource {self.name!r}"
        if not isinstance(name, str) or name not in self.schema:
            raise DefinitionError(
                where,
                role,
                f"names field {name!r}, which is not in the schema {sorted(self.schema)}",
                f"add {name!r} to the schema or name an existing field",
            )
        if kind is not None and self.schema[name] != kind:
            raise DefinitionError(
                where,
                role,
                f"field {name!r} has type {self.schema[name]}, expected {kind}",
                f"declare {name!r} as {kind.value} in the schema",
            )
