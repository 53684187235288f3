"""The in-process online store: the engine's state in memory."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from upwell.definitions.registry import Registry
from upwell.engine.admission import Verdict
from upwell.engine.feature_engine import FeatureEngine
from upwell.stores.protocol import EntityKey


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

    def read(self, view: str, keys: Sequence[EntityKey], as_of: int) -> list[dict[str, Any]]:  # noqa: D102
        state = self.engine.views[view]
        return [state.read(key, as_of) for key in keys]

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

    def checkpoint(self) -> None:  # noqa: D102
        self.engine.maintain()

    def close(self) -> None:  # noqa: D102
        return None
