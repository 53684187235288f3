"""The embedded event log: a write-ahead file in front of Parquet segments.

Layout under the log directory::

    wal.log                                   framed JSON records, newest events
    events/source=<name>/part-<first>-<last>.parquet

``append`` writes one record to ``wal.log`` before returning. ``flush`` moves the
records into one Parquet segment per source (written to a temporary name, synced,
then renamed) and only then empties ``wal.log``; a crash between the two leaves
records that are in both places. A record counts as stored in Parquet only when its
position is covered by a segment of its own source: sources interleave in the
write-ahead file, and a crash between two sources' segments must not hide the other
source's records.
DuckDB reads the segments directly (``read_parquet('events/*/*.parquet',
hive_partitioning=true)``); timestamps are stored as UTC ``timestamp[ms]``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from upwell.definitions.source import EventSource
from upwell.definitions.types import FieldType
from upwell.eventlog.arrow_rows import arrow_schema, empty_table, rows_to_table
from upwell.eventlog.erase import KeyValues, rewrite_parquet
from upwell.eventlog.protocol import SEQ, Fsync, LoggedEvent
from upwell.eventlog.wal import WriteAheadFile

_UTC_MS = pa.timestamp("ms", tz="UTC")


class ParquetEventLog:
    """Durable event log on local disk.

    Args:
        directory: Where the log lives (created if missing).
        sources: The sources whose events it may hold.
        fsync: When appended records are forced to stable storage.
        flush_events: Flush to Parquet once the write-ahead file holds this many events.
    """

    def __init__(
        self,
        directory: Path,
        sources: dict[str, EventSource],
        fsync: Fsync = Fsync.NEVER,
        flush_events: int = 200_000,
    ) -> None:
        self.directory = directory
        self._sources = sources
        self._wal = WriteAheadFile(directory / "wal.log", fsync)
        self._flush_events = flush_events
        self._segment_last = self._scan_segments()
        # the write-ahead records not yet in a segment, decoded once, by source
        self._tail: dict[str, tuple[list[dict[str, Any]], list[int]]] = {}
        self._pending = 0
        wal_last = 0
        for name, first, rows in self._wal_batches():
            wal_last = max(wal_last, first + len(rows) - 1)
            for i, row in enumerate(rows):
                if not self._in_segments(name, first + i):
                    self._buffer(name, row, first + i)
        self._last = max([*self._segment_last.values(), wal_last], default=0)

    def _buffer(self, source: str, row: dict[str, Any], seq: int) -> None:
        rows, seqs = self._tail.setdefault(source, ([], []))
        rows.append(row)
        seqs.append(seq)
        self._pending += 1

    def _segment_paths(self, source: str | None = None) -> list[Path]:
        pattern = f"source={source}/part-*.parquet" if source else "source=*/part-*.parquet"
        return sorted((self.directory / "events").glob(pattern))

    def _scan_segments(self) -> dict[str, int]:
        lasts: dict[str, int] = {}
        for path in self._segment_paths():
            name = path.parent.name.removeprefix("source=")
            lasts[name] = max(lasts.get(name, 0), int(path.stem.split("-")[2]))
        return lasts

    def _in_segments(self, source: str, seq: int) -> bool:
        return seq <= self._segment_last.get(source, 0)

    def _wal_batches(self) -> Iterator[tuple[str, int, list[dict[str, Any]]]]:
        for payload in self._wal.records():
            record = orjson.loads(payload)
            fields = record["f"]
            rows = [dict(zip(fields, values, strict=True)) for values in record["r"]]
            yield record["s"], record["q"], rows

    def append(self, source: EventSource, rows: list[dict[str, Any]], first_seq: int) -> None:  # noqa: D102
        fields = list(source.schema)
        record = {
            "s": source.name,
            "q": first_seq,
            "f": fields,
            "r": [[r[f] for f in fields] for r in rows],
        }
        self._wal.append(orjson.dumps(record))
        self._last = first_seq + len(rows) - 1
        for i, row in enumerate(rows):
            self._buffer(source.name, row, first_seq + i)
        if self._pending >= self._flush_events:
            self.flush()

    def append_table(self, source: EventSource, table: pa.Table) -> None:  # noqa: D102
        if table.num_rows == 0:
            return
        self.flush()
        seqs = table[SEQ]
        first, last = int(seqs[0].as_py()), int(seqs[-1].as_py())
        self._write_table(source, table, first, last)
        self._segment_last[source.name] = self._last = last

    def last_seq(self) -> int:  # noqa: D102
        return self._last

    def replay(self, after_seq: int) -> Iterator[LoggedEvent]:  # noqa: D102
        events: list[LoggedEvent] = []
        for name, source in self._sources.items():
            table = self._segments(source, after_seq)
            for row in table.to_pylist():
                seq = row.pop(SEQ)
                events.append((name, seq, row))
        for name, (rows, seqs) in self._tail.items():
            events.extend(
                (name, seq, row) for row, seq in zip(rows, seqs, strict=True) if seq > after_seq
            )
        # After a crash inside flush() one source's records may sit in a segment while an
        # earlier source's are still in the write-ahead file, so order by position.
        events.sort(key=lambda e: e[1])
        yield from events

    def _segments(self, source: EventSource, after_seq: int = 0) -> pa.Table:
        tables = []
        for path in self._segment_paths(source.name):
            if int(path.stem.split("-")[2]) > after_seq:
                tables.append(_from_parquet(pq.read_table(path), source))
        if not tables:
            return empty_table(source)
        table = pa.concat_tables(tables)
        return table.filter(pc.greater(table[SEQ], after_seq)) if after_seq else table

    def read_source(self, source: EventSource) -> pa.Table:  # noqa: D102
        rows, seqs = self._tail.get(source.name, ([], []))
        tail = rows_to_table(source, rows, seqs)
        return pa.concat_tables([self._segments(source), tail]).combine_chunks()

    def flush(self) -> None:  # noqa: D102
        for name, (rows, seqs) in self._tail.items():
            if rows:
                self._write_segment(self._sources[name], rows, seqs)
                self._segment_last[name] = seqs[-1]
        self._wal.reset()
        self._tail = {}
        self._pending = 0

    def _write_segment(
        self, source: EventSource, rows: list[dict[str, Any]], seqs: list[int]
    ) -> None:
        self._write_table(source, rows_to_table(source, rows, seqs), seqs[0], seqs[-1])

    def _write_table(self, source: EventSource, table: pa.Table, first: int, last: int) -> None:
        folder = self.directory / "events" / f"source={source.name}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"part-{first:020d}-{last:020d}.parquet"
        tmp = path.with_suffix(".tmp")
        pq.write_table(_to_parquet(table, source), tmp)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def erase(self, sources: list[EventSource], key: KeyValues) -> int:
        """Remove every event of the sources whose columns hold the key values.

        The write-ahead file is flushed to Parquet (and emptied) first; then each segment
        holding such an event is rewritten without it (see :mod:`upwell.eventlog.erase`).
        The caller keeps appends out meanwhile.

        Args:
            sources: The sources to erase from (each has the key columns).
            key: Key column to value, e.g. ``{"customer_id": 42}``.

        Returns:
            How many events were removed.
        """
        self.flush()
        return sum(rewrite_parquet(p, key) for s in sources for p in self._segment_paths(s.name))

    def close(self) -> None:  # noqa: D102
        self.flush()
        self._wal.close()


def _to_parquet(table: pa.Table, source: EventSource) -> pa.Table:
    index = table.schema.get_field_index(source.timestamp)
    return table.set_column(index, source.timestamp, table[source.timestamp].cast(_UTC_MS))


def _from_parquet(table: pa.Table, source: EventSource) -> pa.Table:
    index = table.schema.get_field_index(source.timestamp)
    ts = table[source.timestamp].cast(pa.int64())
    table = table.set_column(index, source.timestamp, ts)
    if source.schema.get(source.timestamp) is FieldType.TIMESTAMP:
        table = table.select(arrow_schema(source).names)
    return table.cast(arrow_schema(source))
