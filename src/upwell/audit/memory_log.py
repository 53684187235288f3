"""A prediction log in memory: for tests and short-lived processes (nothing survives exit)."""

from __future__ import annotations

import threading

import pandas as pd
import pyarrow as pa

from upwell.audit.log_protocol import LogStats
from upwell.audit.records import PREDICTION_SCHEMA, PredictionRecord
from upwell.audit.sql_views import TableSource, run_sql
from upwell.audit.tables import Row, prediction_frame, record_row, rows_to_table
from upwell.audit.time_filter import time_filter

__all__ = ["MemoryPredictionLog"]


class MemoryPredictionLog:
    """Keeps every record in a list; ``record`` stores it at once, so nothing is buffered.

    Args:
        capacity: The most records kept; further ones are dropped (and counted).
    """

    def __init__(self, capacity: int = 1_000_000) -> None:
        self._capacity = capacity
        self._rows: list[Row] = []
        self._dropped = 0
        self._lock = threading.Lock()

    def record(self, rec: PredictionRecord) -> bool:
        """Store a prediction.

        Args:
            rec: The prediction.

        Returns:
            False if the log is full (the record is counted as dropped).
        """
        row = record_row(rec)
        with self._lock:
            if len(self._rows) >= self._capacity:
                self._dropped += 1
                return False
            self._rows.append(row)
        return True

    def flush(self, timeout_s: float | None = None) -> bool:
        """Nothing to wait for: every record is stored on ``record``.

        Args:
            timeout_s: Ignored.

        Returns:
            True.
        """
        return True

    def stats(self) -> LogStats:
        """The counters: ``written`` equals ``accepted``."""
        with self._lock:
            stored, dropped = len(self._rows), self._dropped
        return LogStats(
            accepted=stored,
            dropped=dropped,
            buffered=0,
            written=stored,
            failed=0,
            recovered=0,
            capacity=0,
            flush_interval_s=0.0,
        )

    def _table(self) -> pa.Table:
        with self._lock:
            rows = list(self._rows)
        return rows_to_table(range(1, len(rows) + 1), rows)

    def read(
        self,
        *,
        model: str | None = None,
        version: int | None = None,
        start_ms: int | None = None,
        end_ms: int | None = None,
    ) -> pd.DataFrame:
        """Stored predictions with ``start_ms < ts <= end_ms``, ordered by ``ts``, ``seq``.

        Args:
            model: Only this model.
            version: Only this version.
            start_ms: Exclusive lower bound of the event time.
            end_ms: Inclusive upper bound of the event time.

        Returns:
            The same columns as :meth:`ParquetPredictionLog.read`.
        """
        where, params = time_filter(model, version, start_ms, end_ms)
        sql = f"SELECT * FROM predictions {where} ORDER BY ts, seq"  # noqa: S608 (no user text)
        source = {"predictions": TableSource(PREDICTION_SCHEMA, (), self._table())}
        table = run_sql(source, sql, params=params, where="MemoryPredictionLog.read")
        return prediction_frame(table.cast(PREDICTION_SCHEMA))

    def query(self, sql: str) -> pa.Table:
        """Run DuckDB SQL in which ``predictions`` holds every stored prediction.

        Args:
            sql: The query.

        Returns:
            The result.

        Raises:
            AuditQueryError: If the query fails.
        """
        source = {"predictions": TableSource(PREDICTION_SCHEMA, (), self._table())}
        return run_sql(source, sql, where="MemoryPredictionLog.query")

    def close(self) -> None:
        """Nothing to release."""
