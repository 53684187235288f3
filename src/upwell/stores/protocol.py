"""The online store contract every backend implements.

Contract:

- ``check`` decides which events of a batch would be applied (lateness, duplicate
  ids) as if they arrived one by one, changing nothing; decisions depend only on the
  events applied before, so replaying the log reproduces them.
- ``apply`` records an accepted event (watermark, id) and folds it in with its log
  position; positions only increase.
- ``read`` returns every feature of a view for entities as of a time; a value read as
  of ``t`` covers exactly the applied events the window definition selects.
- ``applied_seq`` is the highest position whose effect the store holds durably after
  ``checkpoint`` (0 for a store that keeps nothing); a restart replays the log after it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from upwell.engine.admission import Verdict

EntityKey = tuple[Any, ...]
Applied = tuple[str, Mapping[str, Any], int, int, Any]
"""An accepted event to apply: source, fields, time (ms), log position, event id."""


class OnlineStore(Protocol):
    """Window state and batch feature rows per entity."""

    def check(self, source: str, times: list[int], ids: list[Any]) -> list[Verdict]:
        """Decide on a batch without changing anything."""
        ...

    def apply(
        self, source: str, event: Mapping[str, Any], ts: int, seq: int, event_id: Any
    ) -> None:
        """Record and fold an accepted event."""
        ...

    def apply_many(self, events: Sequence[Applied]) -> None:
        """Record and fold accepted events, in order (as many ``apply`` calls)."""
        ...

    def read(self, view: str, keys: Sequence[EntityKey], as_of: int) -> list[dict[str, Any]]:
        """Every feature of a view for each entity, as of a time."""
        ...

    def read_many(
        self, requests: Sequence[tuple[str, Sequence[EntityKey]]], as_of: int
    ) -> list[list[dict[str, Any]]]:
        """Several views' features for their entities (one round trip where remote)."""
        ...

    def put_batch_row(
        self, group: str, key: EntityKey, valid_from: int, values: tuple[Any, ...]
    ) -> None:
        """Store a batch feature row valid from a time."""
        ...

    def read_batch(
        self, group: str, keys: Sequence[EntityKey], as_of: int
    ) -> list[tuple[Any, ...] | None]:
        """The batch feature rows in force at a time."""
        ...

    def applied_seq(self) -> int:
        """The highest log position held durably."""
        ...

    def checkpoint(self) -> None:
        """Make the current state durable (a no-op where nothing is kept)."""
        ...

    def close(self) -> None:
        """Checkpoint and release resources."""
        ...
