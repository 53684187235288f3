"""An in-memory event log, for tests and throwaway sessions (nothing survives the process)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from upwell.definitions.source import EventSource
from upwell.eventlog.arrow_rows import rows_to_table
from upwell.eventlog.protocol import SEQ, LoggedEvent


class MemoryEventLog:
    """Keeps events in lists."""

    def __init__(self) -> None:
        self._events: list[LoggedEvent] = []
        self._sources: dict[str, EventSource] = {}

    def append(self, source: EventSource, rows: list[dict[str, Any]], first_seq: int) -> None:  # noqa: D102
        self._sources[source.name] = source
        for i, row in enumerate(rows):
            self._events.append((source.name, first_seq + i, row))

    def append_table(self, source: EventSource, table: pa.Table) -> None:  # noqa: D102
        rows = table.to_pylist()
        seqs = [row.pop(SEQ) for row in rows]
        self.append(source, rows, seqs[0]) if rows else None

    def last_seq(self) -> int:  # noqa: D102
        return self._events[-1][1] if self._events else 0

    def replay(self, after_seq: int) -> Iterator[LoggedEvent]:  # noqa: D102
        return (e for e in self._events if e[1] > after_seq)

    def read_source(self, source: EventSource) -> pa.Table:  # noqa: D102
        mine = [(seq, row) for name, seq, row in self._events if name == source.name]
        return rows_to_table(source, [r for _, r in mine], [s for s, _ in mine])

    def flush(self) -> None:  # noqa: D102
        return None

    def close(self) -> None:  # noqa: D102
        return None
