"""A worker's share of the event log: Parquet partitioned by source and event date.

Layout under the log directory, shared by every worker (each writes only its own files)::

    source=<name>/date=YYYY-MM-DD/part-<worker>-<generation>.parquet
    _wal/<worker>.wal        events this worker logged since its last roll
    _wal/<worker>.lock       held while the worker runs (one process per worker name)

``append`` writes one record to the worker's write-ahead file before returning, so
a logged event survives the worker being killed (and, with ``Fsync.ALWAYS``, a
machine crash). ``roll`` writes the records since the last roll into one Parquet file
per (source, date), all of one *generation*, then empties the write-ahead file. A
file's name depends only on (source, date, worker, generation) and every record
carries its generation, so a worker restarted after a crash inside ``roll`` writes the
same files again from the same records: nothing is lost and nothing doubles.

DuckDB reads the whole log with hive partitioning::

    SELECT * FROM read_parquet('log/source=payments/*/*.parquet', hive_partitioning=true)

Delivery is at least once, so an event may sit in the log twice (a worker died after
logging it and before acknowledging it): :func:`read_log` keeps one row per event id.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from upwell.definitions.source import EventSource
from upwell.eventlog.arrow_rows import rows_to_table
from upwell.eventlog.protocol import Fsync
from upwell.eventlog.wal import WriteAheadFile
from upwell.ingest.values import datetime_from_ms
from upwell.stores.directory_lock import DirectoryLock, StoreLockedError
from upwell.workers.errors import WorkerError

DAY_MS = 86_400_000
_UTC_MS = pa.timestamp("ms", tz="UTC")


class PartitionedEventLog:
    """One worker's writer of the shared, partitioned event log.

    Args:
        directory: The log directory (shared by every worker).
        worker: This worker's name; two running workers never share one.
        sources: The sources whose events it logs, by name.
        fsync: When appended events are forced to stable storage.
        roll_events: Roll once this many events wait in the write-ahead file.
        roll_interval_s: Roll at least this often while events arrive.

    Raises:
        WorkerError: Another running process uses this worker name.
    """

    def __init__(
        self,
        directory: Path,
        worker: str,
        sources: Mapping[str, EventSource],
        fsync: Fsync = Fsync.NEVER,
        roll_events: int = 100_000,
        roll_interval_s: float = 10.0,
    ) -> None:
        self.directory = directory
        self.worker = worker
        self._sources = sources
        self._roll_events = roll_events
        self._roll_interval_s = roll_interval_s
        try:
            self._lock = DirectoryLock(directory / "_wal" / worker)
        except StoreLockedError:
            msg = f"another running worker is named {worker!r}"
            raise WorkerError(
                msg,
                where=str(directory),
                fix="give each worker its own --name (unique in the group, stable across restarts)",
            ) from None
        self._wal = WriteAheadFile(directory / "_wal" / f"{worker}.wal", fsync)
        self._pending: dict[str, tuple[list[dict[str, Any]], list[int]]] = {}
        self._count = 0
        self._last_roll = time.monotonic()
        self.generation = self._last_generation() + 1
        for record in self._wal.records():
            self._restore(orjson.loads(record))
        if self._count:
            self.roll()  # finish the roll a crash interrupted (rewrites the same files)
            self.generation = max(self.generation, self._last_generation() + 1)

    def _last_generation(self) -> int:
        parts = self.directory.glob(f"source=*/date=*/part-{self.worker}-*.parquet")
        return max((int(p.stem.rsplit("-", 1)[1]) for p in parts), default=0)

    def _restore(self, record: dict[str, Any]) -> None:
        self.generation = record["g"]
        rows = [dict(zip(record["f"], values, strict=True)) for values in record["r"]]
        self._buffer(record["s"], rows, record["q"])

    def _buffer(self, source: str, rows: list[dict[str, Any]], seqs: list[int]) -> None:
        pending_rows, pending_seqs = self._pending.setdefault(source, ([], []))
        pending_rows.extend(rows)
        pending_seqs.extend(seqs)
        self._count += len(rows)

    def append(self, source: EventSource, rows: list[dict[str, Any]], seqs: list[int]) -> None:
        """Log accepted events; durable (per the fsync policy) on return.

        Args:
            source: Their source.
            rows: Validated rows (timestamps in epoch ms).
            seqs: Their positions, as applied to the online store.
        """
        if not rows:
            return
        fields = list(source.schema)
        record = {
            "g": self.generation,
            "s": source.name,
            "f": fields,
            "r": [[row[f] for f in fields] for row in rows],
            "q": seqs,
        }
        self._wal.append(orjson.dumps(record))
        self._buffer(source.name, rows, seqs)
        if self._count >= self._roll_events or self.is_roll_due():
            self.roll()

    def is_roll_due(self) -> bool:
        """Whether events have waited in the write-ahead file for the roll interval.

        Returns:
            True when a roll is due.
        """
        return self._count > 0 and time.monotonic() - self._last_roll >= self._roll_interval_s

    def roll(self) -> list[Path]:
        """Write the events since the last roll to Parquet and empty the write-ahead file.

        Returns:
            The files written.
        """
        written = []
        for name, (rows, seqs) in self._pending.items():
            source = self._sources[name]
            table = _to_parquet(rows_to_table(source, rows, seqs), source)
            days = pc.divide(table[source.timestamp].cast(pa.int64()), DAY_MS)
            for day in sorted(set(days.to_pylist())):
                mask = pc.equal(days, day)
                written.append(self._write(name, day, table.filter(mask)))
        self._wal.reset()
        self._pending = {}
        self._count = 0
        self._last_roll = time.monotonic()
        if written:
            self.generation += 1
        return written

    def _write(self, source: str, day: int, table: pa.Table) -> Path:
        date = datetime_from_ms(day * DAY_MS).date().isoformat()
        folder = self.directory / f"source={source}" / f"date={date}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"part-{self.worker}-{self.generation:010d}.parquet"
        tmp = path.with_suffix(".tmp")
        pq.write_table(table, tmp)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        return path

    def close(self) -> None:
        """Roll what is left, close the write-ahead file and release the worker name."""
        self.roll()
        self._wal.close()
        self._lock.release()


def _to_parquet(table: pa.Table, source: EventSource) -> pa.Table:
    index = table.schema.get_field_index(source.timestamp)
    return table.set_column(index, source.timestamp, table[source.timestamp].cast(_UTC_MS))
