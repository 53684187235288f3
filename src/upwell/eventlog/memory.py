"""An in-memory event log, for tests and throwaway sessions (nothing survives the process)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from upwell.definitions.source import EventSource
from upwell.eventlog.arrow_rows import empty_table, rows_to_table
from upwell.eventlog.erase import KeyValues, without
from upwell.eventlog.protocol import SEQ, LoggedEvent


class MemoryEventLog:
    """Keeps each source's events as Arrow tables plus a list of rows not yet converted."""

    def __init__(self) -> None:
        self._tables: dict[str, list[pa.Table]] = {}
        self._pending: dict[str, tuple[list[dict[str, Any]], list[int]]] = {}
        self._sources: dict[str, EventSource] = {}
        self._last = 0

    def append(self, source: EventSource, rows: list[dict[str, Any]], first_seq: int) -> None:  # noqa: D102
        self._sources[source.name] = source
        pending_rows, pending_seqs = self._pending.setdefault(source.name, ([], []))
        for i, row in enumerate(rows):
            pending_rows.append(row)
            pending_seqs.append(first_seq + i)
        if rows:
            self._last = first_seq + len(rows) - 1

    def append_table(self, source: EventSource, table: pa.Table) -> None:  # noqa: D102
        if table.num_rows == 0:
            return
        self._sources[source.name] = source
        self._convert(source)
        self._tables.setdefault(source.name, []).append(table)
        self._last = int(table[SEQ][-1].as_py())

    def _convert(self, source: EventSource) -> None:
        rows, seqs = self._pending.pop(source.name, ([], []))
        if rows:
            self._tables.setdefault(source.name, []).append(rows_to_table(source, rows, seqs))

    def last_seq(self) -> int:  # noqa: D102
        return self._last

    def replay(self, after_seq: int) -> Iterator[LoggedEvent]:  # noqa: D102
        events: list[LoggedEvent] = []
        for name, source in self._sources.items():
            for row in self.read_source(source).to_pylist():
                seq = row.pop(SEQ)
                if seq > after_seq:
                    events.append((name, seq, row))
        events.sort(key=lambda e: e[1])
        return iter(events)

    def read_source(self, source: EventSource) -> pa.Table:  # noqa: D102
        self._convert(source)
        tables = self._tables.get(source.name)
        if not tables:
            return empty_table(source)
        table = pa.concat_tables(tables).combine_chunks()
        self._tables[source.name] = [table]
        return table

    def erase(self, sources: list[EventSource], key: KeyValues) -> int:
        """Remove every event of the sources whose columns hold the key values.

        Args:
            sources: The sources to erase from (each has the key columns).
            key: Key column to value.

        Returns:
            How many events were removed.
        """
        removed = 0
        for source in sources:
            kept, count = without(self.read_source(source), key)
            self._tables[source.name] = [kept]
            removed += count
        return removed

    def flush(self) -> None:  # noqa: D102
        return None

    def close(self) -> None:  # noqa: D102
        return None
