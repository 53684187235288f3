"""The prediction log in PostgreSQL (at scale): the same buffer, batched ``COPY`` inserts.

The table (created if missing) has one row per prediction; ``entity``, ``features`` and
``explanation`` are ``jsonb``, ``ts`` is ``timestamptz`` and ``seq`` a ``bigserial``
(the insertion order). ``record`` never touches the network: the writer thread copies
each batch in one transaction, retrying with exponential backoff on connection errors;
a batch that still fails counts in ``stats().failed`` with the error in ``last_error``.
A crash loses what is buffered, at most ``capacity`` records, as with the embedded log.
"""

from __future__ import annotations

import time
from typing import Any

import pandas as pd
import psycopg
import pyarrow as pa
from psycopg import sql

from upwell.audit.buffer import RecordBuffer
from upwell.audit.log_protocol import LogStats
from upwell.audit.postgres_sql import connect, fetch_table, table_identifier
from upwell.audit.records import PredictionRecord
from upwell.audit.tables import dumps, prediction_frame, rows_to_table, to_datetime
from upwell.audit.time_filter import time_filter

__all__ = ["PostgresPredictionLog"]

_DDL = """
CREATE TABLE IF NOT EXISTS {table} (
    seq bigserial PRIMARY KEY,
    request_id text NOT NULL,
    model text NOT NULL,
    version bigint NOT NULL,
    ts timestamptz NOT NULL,
    entity jsonb NOT NULL,
    features jsonb NOT NULL,
    score double precision NOT NULL,
    decision text,
    latency_us double precision NOT NULL,
    explanation jsonb NOT NULL,
    route text NOT NULL,
    shadow_version bigint,
    shadow_score double precision
);
CREATE INDEX IF NOT EXISTS {index} ON {table} (model, version, ts)
"""
_COLUMNS = (
    "request_id, model, version, ts, entity, features, score, decision, latency_us, "
    "explanation, route, shadow_version, shadow_score"
)
_READ_COLUMNS = (
    "seq, request_id, model, version, (extract(epoch FROM ts) * 1000)::bigint, entity, "
    "features, score, decision, latency_us, explanation, route, shadow_version, shadow_score"
)


def _json(value: Any) -> str:
    return dumps(value).decode()


def _pg_row(rec: PredictionRecord) -> tuple[Any, ...]:
    return (
        rec.request_id,
        rec.model,
        rec.version,
        to_datetime(rec.ts_ms),
        _json(rec.entity),
        _json(rec.features),
        float(rec.score),
        rec.decision,
        float(rec.latency_us),
        _json(rec.explanation),
        str(rec.route),
        rec.shadow_version,
        None if rec.shadow_score is None else float(rec.shadow_score),
    )


class PostgresPredictionLog:
    """The prediction log in a PostgreSQL table.

    Args:
        conninfo: libpq connection string, e.g. ``"host=127.0.0.1 user=postgres dbname=app"``.
        table: The table (``name`` or ``schema.name``), created if missing.
        capacity: Buffer size: the most records a crash can lose.
        flush_interval_s: How often the writer thread empties the buffer.
        retries: How many times a failed batch is retried after a connection error.
        retry_backoff_s: Wait before the first retry; doubles each time.
        connect_timeout_s: The longest wait for the server.

    Raises:
        AuditError: If the server cannot be reached or the table name is invalid.
    """

    def __init__(
        self,
        conninfo: str,
        *,
        table: str = "upwell_predictions",
        capacity: int = 10_000,
        flush_interval_s: float = 0.1,
        retries: int = 3,
        retry_backoff_s: float = 0.5,
        connect_timeout_s: float = 5.0,
    ) -> None:
        self._conninfo = conninfo
        self.table = table
        self._table = table_identifier(table)
        self._retries = retries
        self._backoff_s = retry_backoff_s
        self._timeout_s = connect_timeout_s
        self._copy = sql.SQL("COPY {} (" + _COLUMNS + ") FROM STDIN").format(self._table)
        self._connection: psycopg.Connection[Any] | None = self._connect()
        index = sql.Identifier(table.rsplit(".", maxsplit=1)[-1] + "_model_version_ts")
        with self._connection.cursor() as cursor:
            cursor.execute(sql.SQL(_DDL).format(table=self._table, index=index))
        self._buffer: RecordBuffer[PredictionRecord] = RecordBuffer(
            self._write,
            capacity=capacity,
            flush_interval_s=flush_interval_s,
            name="upwell-prediction-log-postgres",
        )

    def _connect(self) -> psycopg.Connection[Any]:
        return connect(self._conninfo, self._timeout_s, f"PostgresPredictionLog({self.table})")

    def _copy_rows(self, rows: list[tuple[Any, ...]]) -> None:
        if self._connection is None or self._connection.closed:
            self._connection = self._connect()
        connection = self._connection
        with (
            connection.transaction(),
            connection.cursor() as cursor,
            cursor.copy(self._copy) as copy,
        ):
            for row in rows:
                copy.write_row(row)

    def _write(self, batch: list[PredictionRecord]) -> None:
        rows = [_pg_row(r) for r in batch]
        for attempt in range(self._retries + 1):
            try:
                self._copy_rows(rows)
                return
            except (psycopg.OperationalError, psycopg.InterfaceError):
                if self._connection is not None:
                    self._connection.close()
                self._connection = None
                if attempt == self._retries:
                    raise
                time.sleep(self._backoff_s * 2**attempt)

    def record(self, rec: PredictionRecord) -> bool:
        """Buffer a prediction without blocking.

        Args:
            rec: The prediction.

        Returns:
            True if buffered; False if the buffer was full (counted in ``stats().dropped``).

        Raises:
            AuditClosedError: If the log is closed.
        """
        return self._buffer.offer(rec)

    def flush(self, timeout_s: float | None = None) -> bool:
        """Wait until every record accepted so far is committed (or failed).

        Args:
            timeout_s: The longest wait; None waits as long as it takes.

        Returns:
            False if the wait timed out.
        """
        return self._buffer.flush(timeout_s)

    def stats(self) -> LogStats:
        """The log's counters."""
        b = self._buffer
        return LogStats.of_buffer(b.counts(), b.capacity, b.flush_interval_s)

    def read(
        self,
        *,
        model: str | None = None,
        version: int | None = None,
        start_ms: int | None = None,
        end_ms: int | None = None,
    ) -> pd.DataFrame:
        """Committed predictions with ``start_ms < ts <= end_ms``, ordered by ``ts``, ``seq``.

        Args:
            model: Only this model.
            version: Only this version.
            start_ms: Exclusive lower bound of the event time.
            end_ms: Inclusive upper bound of the event time.

        Returns:
            The same columns as :meth:`ParquetPredictionLog.read`.
        """
        where, params = time_filter(model, version, start_ms, end_ms, placeholder="%s")
        query = sql.SQL(
            "SELECT " + _READ_COLUMNS + " FROM {} " + where + " ORDER BY ts, seq"  # noqa: S608
        ).format(self._table)
        with self._connect() as connection, connection.cursor() as cursor:
            cursor.execute(query, params)
            fetched = cursor.fetchall()
        rows = [tuple(r[1:]) for r in fetched]
        return prediction_frame(rows_to_table([r[0] for r in fetched], rows))

    def query(self, sql_text: str) -> pa.Table:
        """Run PostgreSQL SQL in which ``predictions`` is a view of the table.

        JSON columns come back as text.

        Args:
            sql_text: The query.

        Returns:
            The result.

        Raises:
            AuditQueryError: If the query fails.
        """
        view = sql.SQL("CREATE TEMP VIEW predictions AS SELECT * FROM {}").format(self._table)
        with self._connect() as connection:
            connection.execute(view)
            try:
                return fetch_table(connection, sql_text, where="PostgresPredictionLog.query")
            finally:  # the server may drop temporary objects only after the session ends
                connection.execute("DROP VIEW IF EXISTS pg_temp.predictions")

    def close(self) -> None:
        """Commit the buffer and close the connection (idempotent)."""
        self._buffer.close()
        if self._connection is not None:
            self._connection.close()
            self._connection = None
