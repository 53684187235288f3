"""The in-process online store: the engine's state in memory."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from upwell.definitions.registry import Registry
from upwell.engine.admission import Verdict
from upwell.engine.feature_engine import FeatureEngine
from upwell.stores.protocol import Applied, EntityKey


class MemoryStore:
    """Keeps state in memory only; after a restart everything is replayed from the log.

    Args:
        registry: The definitions.
    """

    def __init__(self, registry: Registry) -> None:
        self.engine = FeatureEngine(registry)
        self._applied_since_maintain = 0

    def check(self, source: str, times: list[int], ids: list[Any]) -> list[Verdict]:  # noqa: D102
        return self.engine.check(source, times, ids)

    def apply(  # noqa: D102
        self, source: str, event: Mapping[str, Any], ts: int, seq: int, event_id: Any
    ) -> None:
        self.engine.apply(source, event, ts, seq, event_id)
        self._applied_since_maintain += 1
        if self._applied_since_maintain >= 100_000:
            self._applied_since_maintain = 0
            self.engine.maintain()

    def apply_many(self, events: Sequence[Applied]) -> None:
        """Apply events in order; those at or before the last applied position are skipped.

        Positions only increase, so a batch retried after a failure part-way through
        applies each event once.
        """
        for source, event, ts, seq, event_id in events:
            if seq > self.engine.last_seq:
                self.apply(source, event, ts, seq, event_id)

    def read(self, view: str, keys: Sequence[EntityKey], as_of: int) -> list[dict[str, Any]]:  # noqa: D102
        state = self.engine.views[view]
        return [state.read(key, as_of) for key in keys]

    def read_many(  # noqa: D102
        self, requests: Sequence[tuple[str, Sequence[EntityKey]]], as_of: int
    ) -> list[list[dict[str, Any]]]:
        return [self.read(view, keys, as_of) for view, keys in requests]

    def put_batch_row(  # noqa: D102
        self, group: str, key: EntityKey, valid_from: int, values: tuple[Any, ...]
    ) -> None:
        self.engine.batches[group].put(key, valid_from, values)

    def read_batch(  # noqa: D102
        self, group: str, keys: Sequence[EntityKey], as_of: int
    ) -> list[tuple[Any, ...] | None]:
        state = self.engine.batches[group]
        return [state.read(key, as_of) for key in keys]

    def applied_seq(self) -> int:  # noqa: D102
        return 0

    def erase(self, entity: str, key: EntityKey) -> int:
        """Remove an entity's window state from every view and its batch rows.

        Only the entity's own state goes: aggregates of other entities (a terminal's
        count of the transactions a customer made there) keep what they had folded in.

        Args:
            entity: The entity's name (e.g. ``"customer"``).
            key: Its key values, in the entity's key order.

        Returns:
            How many view states and batch groups held the entity.
        """
        registry = self.engine.registry
        removed = 0
        for name, state in self.engine.views.items():
            if registry.views[name].entity.name == entity:
                removed += state.entities.pop(tuple(key), None) is not None
        for name, batch in self.engine.batches.items():
            if registry.batches[name].entity.name == entity:
                removed += batch.rows.pop(tuple(key), None) is not None
        return removed

    def checkpoint(self) -> None:  # noqa: D102
        self.engine.maintain()

    def close(self) -> None:  # noqa: D102
        return None
