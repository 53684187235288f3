"""The embedded prediction log: a bounded buffer, a write-ahead file, Parquet by day.

Layout under ``<directory>/predictions/``::

    wal.log                                   framed batches not yet in Parquet
    date=YYYY-MM-DD/part-<first>-<last>.parquet   rolled predictions, by event day (UTC)
    .writer.lock                              held by the one process that writes

``record`` puts a prediction into the buffer (see :mod:`upwell.audit.buffer`). The writer
thread gives each batch consecutive positions (``seq``), appends it to ``wal.log`` as one
framed record (it reaches the operating system before the batch counts as written; with
``fsync="always"`` it reaches the disk) and keeps it in memory as an Arrow table for
queries. Every ``roll_records`` records or ``roll_interval_s`` seconds the in-memory tail
is written to one Parquet file per event day and ``wal.log`` is emptied. On open, the
records of ``wal.log`` missing from the Parquet files (a crash before or during a roll)
are rolled and counted in ``stats().recovered``.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa

from upwell.audit.buffer import RecordBuffer
from upwell.audit.day_folders import DayFolders
from upwell.audit.errors import AuditClosedError
from upwell.audit.journal import Journal, SyncPolicy, sync_policy
from upwell.audit.log_protocol import LogStats
from upwell.audit.records import PREDICTION_SCHEMA, PredictionRecord
from upwell.audit.segments import (
    compact_folder,
    publish,
    remove_covered,
    segment_range,
)
from upwell.audit.sql_views import TableSource, run_sql
from upwell.audit.store_lock import WriterLock
from upwell.audit.tables import prediction_frame, record_row, rows_to_table
from upwell.audit.time_filter import time_filter

__all__ = ["ParquetPredictionLog"]


class ParquetPredictionLog:
    """The prediction log on local disk (the embedded default).

    Args:
        directory: The audit folder; predictions go to ``<directory>/predictions``.
        capacity: Buffer size: the most records a SIGKILL can lose.
        flush_interval_s: How often the writer thread empties the buffer.
        roll_records: Roll to Parquet once this many records are in ``wal.log``.
        roll_interval_s: Roll at least this often while records wait in ``wal.log``.
        fsync: ``"never"``, ``"every_second"`` or ``"always"``: when ``wal.log`` is synced.
        read_only: Open for reading only (another process may be writing): no buffer, no
            lock; queries include the records of ``wal.log``.

    Raises:
        AuditError: If another writer holds the folder, or an argument is invalid.
    """

    def __init__(
        self,
        directory: Path | str,
        *,
        capacity: int = 10_000,
        flush_interval_s: float = 0.1,
        roll_records: int = 100_000,
        roll_interval_s: float = 300.0,
        fsync: SyncPolicy | str = SyncPolicy.NEVER,
        read_only: bool = False,
    ) -> None:
        self.directory = Path(directory)
        self._root = self.directory / "predictions"
        self._disk = DayFolders(self._root)
        self._roll_records = roll_records
        self._roll_interval_s = roll_interval_s
        self._io = threading.Lock()  # journal writes, rolls and compaction, one at a time
        self._view = threading.Lock()  # what a query sees: published files + tail
        self._tail: list[pa.Table] = []
        self._tail_rows = 0
        self._tail_since: float | None = None
        self._recovered = 0
        self._closed = read_only
        self._journal: Journal | None = None
        self._buffer: RecordBuffer[PredictionRecord] | None = None
        self._lock: WriterLock | None = None
        if read_only:
            return
        self._lock = WriterLock(self._root / ".writer.lock")
        try:
            self._next_seq = self._recover(sync_policy(fsync))
            self._buffer = RecordBuffer(
                self._write,
                capacity=capacity,
                flush_interval_s=flush_interval_s,
                name="upwell-prediction-log",
                tick=self._maybe_roll,
            )
        except BaseException:
            self._lock.release()
            raise

    def _recover(self, sync: SyncPolicy) -> int:
        for folder in self._disk.folders():
            remove_covered(folder)
        files = self._disk.files()
        last = max((segment_range(p)[1] for p in files), default=0)
        wal_seqs, rows = self._disk.journal_rows()
        missing = self._disk.unrolled(wal_seqs, rows, files)
        self._journal = Journal(self._disk.wal, sync)
        if missing is not None:
            publish(self._disk.write_days(missing))
            self._recovered = missing.num_rows
        self._journal.reset()
        return max([last, *wal_seqs]) + 1

    # -- writing ---------------------------------------------------------------------

    def record(self, rec: PredictionRecord) -> bool:
        """Buffer a prediction without blocking.

        Args:
            rec: The prediction.

        Returns:
            True if buffered; False if the buffer was full (counted in ``stats().dropped``).

        Raises:
            AuditClosedError: If the log is closed or read-only.
        """
        return self._writer().offer(rec)

    def _writer(self) -> RecordBuffer[PredictionRecord]:
        if self._buffer is None or self._closed:
            msg = "the prediction log is closed or read-only"
            raise AuditClosedError(
                msg,
                where=str(self._root),
                fix="open the log for writing (read_only=False) and do not use it after close().",
            )
        return self._buffer

    def _write(self, batch: list[PredictionRecord]) -> None:
        rows = [record_row(r) for r in batch]
        journal = self._journal
        if journal is None:  # a buffer exists only with a journal
            msg = "no write-ahead file"
            raise AuditClosedError(msg, where=str(self._root))
        with self._io:
            first = self._next_seq
            table = rows_to_table(range(first, first + len(rows)), rows)
            journal.append(self._disk.journal_payload(first, rows))
            self._next_seq += len(rows)
            with self._view:
                self._tail.append(table)
                self._tail_rows += len(rows)
            if self._tail_since is None:
                self._tail_since = time.monotonic()

    def _maybe_roll(self) -> None:
        since = self._tail_since
        if self._tail_rows >= self._roll_records or (
            since is not None and time.monotonic() - since >= self._roll_interval_s
        ):
            self.roll()

    def roll(self) -> int:
        """Move the records of ``wal.log`` into Parquet files now.

        Returns:
            How many records were rolled.
        """
        if self._journal is None:
            return 0
        with self._io:
            if not self._tail:
                return 0
            table = pa.concat_tables(self._tail)
            files = self._disk.write_days(table)
            with self._view:
                publish(files)
                self._tail, self._tail_rows = [], 0
            self._tail_since = None
            self._journal.reset()
            return int(table.num_rows)

    def compact(self) -> int:
        """Merge each day's Parquet files into one.

        Returns:
            How many day folders were compacted.

        Raises:
            AuditClosedError: If the log is read-only or closed.
        """
        self._writer()
        merged = 0
        with self._io:
            for folder in self._disk.folders():
                written = compact_folder(folder, PREDICTION_SCHEMA)
                if written is not None:
                    with self._view:
                        publish([written])
                        remove_covered(folder)
                    merged += 1
        return merged

    def flush(self, timeout_s: float | None = None) -> bool:
        """Wait until every record accepted so far is in ``wal.log`` (durable).

        Args:
            timeout_s: The longest wait; None waits as long as it takes.

        Returns:
            False if the wait timed out.
        """
        return self._writer().flush(timeout_s)

    def stats(self) -> LogStats:
        """The log's counters (all zero for a read-only log)."""
        if self._buffer is None:
            return LogStats.empty()
        b = self._buffer
        return LogStats.of_buffer(b.counts(), b.capacity, b.flush_interval_s, self._recovered)

    # -- reading ---------------------------------------------------------------------

    def _source(self, start_ms: int | None = None, end_ms: int | None = None) -> TableSource:
        if self._journal is None:  # read-only: the journal first, then the files
            seqs, rows = self._disk.journal_rows()
            tail = self._disk.unrolled(seqs, rows, self._disk.files())
            return TableSource(PREDICTION_SCHEMA, self._disk.files(start_ms, end_ms), tail)
        with self._view:
            tail = pa.concat_tables(self._tail) if self._tail else None
            return TableSource(PREDICTION_SCHEMA, self._disk.files(start_ms, end_ms), tail)

    def read(
        self,
        *,
        model: str | None = None,
        version: int | None = None,
        start_ms: int | None = None,
        end_ms: int | None = None,
    ) -> pd.DataFrame:
        """Written predictions with ``start_ms < ts <= end_ms``, ordered by ``ts``, ``seq``.

        Args:
            model: Only this model.
            version: Only this version.
            start_ms: Exclusive lower bound of the event time.
            end_ms: Inclusive upper bound of the event time.

        Returns:
            The columns of :data:`~upwell.audit.PREDICTION_SCHEMA`; ``ts`` is a UTC datetime,
            ``entity``, ``features`` and ``explanation`` are dicts.
        """
        where, params = time_filter(model, version, start_ms, end_ms)
        sql = f"SELECT * FROM predictions {where} ORDER BY ts, seq"  # noqa: S608 (no user text)
        source = {"predictions": self._source(start_ms, end_ms)}
        table = run_sql(source, sql, params=params, where="ParquetPredictionLog.read")
        return prediction_frame(table.cast(PREDICTION_SCHEMA))

    def query(self, sql: str) -> pa.Table:
        """Run DuckDB SQL in which ``predictions`` holds every written prediction.

        Args:
            sql: The query, e.g. ``SELECT model, count(*) FROM predictions GROUP BY 1``.

        Returns:
            The result.

        Raises:
            AuditQueryError: If the query fails.
        """
        return run_sql({"predictions": self._source()}, sql, where="ParquetPredictionLog.query")

    def close(self) -> None:
        """Write the buffer, roll it to Parquet and release the folder (idempotent)."""
        if self._buffer is None or self._closed:
            return
        self._closed = True
        self._buffer.close()
        self.roll()
        if self._journal is not None:
            self._journal.close()
        if self._lock is not None:
            self._lock.release()

    def __enter__(self) -> ParquetPredictionLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
