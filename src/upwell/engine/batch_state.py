"""Batch feature state: per entity, rows valid from a time, read by an as-of join."""

from __future__ import annotations

from bisect import bisect_right, insort
from typing import Any

EntityKey = tuple[Any, ...]


class BatchState:
    """Rows of one batch feature group, per entity, ordered by ``valid_from``."""

    def __init__(self) -> None:
        self.rows: dict[EntityKey, tuple[list[int], list[tuple[Any, ...]]]] = {}

    def put(self, key: EntityKey, valid_from: int, values: tuple[Any, ...]) -> None:
        """Add (or replace) the row of an entity valid from a time.

        Args:
            key: Entity key.
            valid_from: When the row starts to hold, ms.
            values: Column values in schema order.
        """
        times, rows = self.rows.setdefault(key, ([], []))
        pos = bisect_right(times, valid_from)
        if pos and times[pos - 1] == valid_from:
            rows[pos - 1] = values
            return
        insort(times, valid_from)
        rows.insert(pos, values)

    def read(self, key: EntityKey, as_of: int) -> tuple[Any, ...] | None:
        """The row in force at a time: greatest ``valid_from <= as_of``.

        Args:
            key: Entity key.
            as_of: Read time, ms.

        Returns:
            The values, or None if no row holds yet.
        """
        entry = self.rows.get(key)
        if entry is None:
            return None
        pos = bisect_right(entry[0], as_of)
        return entry[1][pos - 1] if pos else None
