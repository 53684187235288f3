"""The prediction log contract every backend implements.

Contract:

- ``record(rec)`` never blocks on I/O: it puts the record into a bounded in-memory
  buffer and returns True, or, when the buffer is full, counts the record as dropped
  and returns False. A background thread writes the buffer to durable storage.
- A record is *written* once it is durable: in the write-ahead file or a Parquet file
  (embedded), or committed (PostgreSQL). ``stats().written`` counts them; records are
  written in the order they were accepted.
- A crash (SIGKILL) loses at most the records still in the buffer: ``stats().buffered``
  at that moment, never more than ``stats().capacity``. When the backend keeps up, a
  record waits at most ``flush_interval_s`` plus one write in the buffer.
- ``flush()`` waits until every record accepted before the call is written (or failed).
- ``read()`` and ``query()`` see every written record exactly once. Time ranges are
  right-closed: ``start_ms < ts <= end_ms``, as every upwell window.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import pandas as pd
import pyarrow as pa

from upwell.audit.buffer import BufferCounts
from upwell.audit.records import PredictionRecord

__all__ = ["LogStats", "PredictionLog"]


@dataclass(frozen=True, kw_only=True)
class LogStats:
    """Counters of a prediction log since it was opened.

    Args:
        accepted: Records ``record()`` took into the buffer.
        dropped: Records refused because the buffer was full (never silently).
        buffered: Records in the buffer now, not yet durable: what a SIGKILL would lose now.
        written: Records durably stored.
        failed: Accepted records lost because the backend refused them (see ``last_error``).
        recovered: Records found in the write-ahead file on open and kept (embedded log).
        capacity: The buffer's size: the most records a SIGKILL can ever lose.
        flush_interval_s: The longest a record waits in the buffer while the backend keeps up.
        last_error: The last backend error, if any.
    """

    accepted: int
    dropped: int
    buffered: int
    written: int
    failed: int
    recovered: int
    capacity: int
    flush_interval_s: float
    last_error: str | None = None

    @classmethod
    def of_buffer(
        cls, counts: BufferCounts, capacity: int, flush_interval_s: float, recovered: int = 0
    ) -> LogStats:
        """The stats of a log whose buffer reports ``counts``."""
        return cls(
            accepted=counts.accepted,
            dropped=counts.dropped,
            buffered=counts.buffered,
            written=counts.written,
            failed=counts.failed,
            recovered=recovered,
            capacity=capacity,
            flush_interval_s=flush_interval_s,
            last_error=counts.last_error,
        )

    @classmethod
    def empty(cls) -> LogStats:
        """All zero: a log that buffers nothing (read-only)."""
        return cls(
            accepted=0,
            dropped=0,
            buffered=0,
            written=0,
            failed=0,
            recovered=0,
            capacity=0,
            flush_interval_s=0.0,
        )

    @property
    def max_loss(self) -> int:
        """The most records a crash can lose: the buffer's capacity."""
        return self.capacity


class PredictionLog(Protocol):
    """Durable, queryable storage of every prediction."""

    def record(self, rec: PredictionRecord) -> bool:
        """Buffer a prediction without blocking; False when the buffer is full (dropped)."""
        ...

    def flush(self, timeout_s: float | None = None) -> bool:
        """Wait until every record accepted so far is written; False on timeout."""
        ...

    def stats(self) -> LogStats:
        """The log's counters."""
        ...

    def read(
        self,
        *,
        model: str | None = None,
        version: int | None = None,
        start_ms: int | None = None,
        end_ms: int | None = None,
    ) -> pd.DataFrame:
        """Written predictions with ``start_ms < ts <= end_ms``, ordered by ``ts`` then ``seq``."""
        ...

    def query(self, sql: str) -> pa.Table:
        """Run SQL in which ``predictions`` is the table of written predictions."""
        ...

    def close(self) -> None:
        """Write the buffer and release resources."""
        ...
