"""Late labels in PostgreSQL: one row per label, the latest per key read with ``DISTINCT ON``."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

import pandas as pd
import psycopg
import pyarrow as pa
from psycopg import sql

from upwell.audit.postgres_sql import connect, fetch_table, table_identifier
from upwell.audit.records import Label
from upwell.audit.tables import to_datetime

__all__ = ["PostgresLabelStore"]

_DDL = """
CREATE TABLE IF NOT EXISTS {table} (
    seq bigserial PRIMARY KEY,
    key text NOT NULL,
    label double precision NOT NULL,
    ts timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS {index} ON {table} (key, ts)
"""


class PostgresLabelStore:
    """Label storage in a PostgreSQL table (created if missing).

    Args:
        conninfo: libpq connection string.
        table: The table (``name`` or ``schema.name``).
        connect_timeout_s: The longest wait for the server.

    Raises:
        AuditError: If the server cannot be reached or the table name is invalid.
    """

    def __init__(
        self, conninfo: str, *, table: str = "upwell_labels", connect_timeout_s: float = 5.0
    ) -> None:
        self._conninfo = conninfo
        self.table = table
        self._table = table_identifier(table)
        self._timeout_s = connect_timeout_s
        index = sql.Identifier(table.rsplit(".", maxsplit=1)[-1] + "_key_ts")
        with self._connect() as connection:
            connection.execute(sql.SQL(_DDL).format(table=self._table, index=index))

    def _connect(self) -> psycopg.Connection[Any]:
        return connect(self._conninfo, self._timeout_s, f"PostgresLabelStore({self.table})")

    def add(self, labels: Iterable[Label]) -> int:
        """Store labels in one transaction; committed when this returns.

        Args:
            labels: The labels.

        Returns:
            How many were stored.
        """
        batch = list(labels)
        copy_sql = sql.SQL("COPY {} (key, label, ts) FROM STDIN").format(self._table)
        rows = [(lb.key, float(lb.label), to_datetime(lb.ts_ms)) for lb in batch]
        with self._connect() as connection:
            self._copy(connection, copy_sql, rows)
        return len(batch)

    @staticmethod
    def _copy(
        connection: psycopg.Connection[Any], copy_sql: sql.Composed, rows: list[tuple[Any, ...]]
    ) -> None:
        with connection.transaction(), connection.cursor() as cursor, cursor.copy(copy_sql) as copy:
            for row in rows:
                copy.write_row(row)

    def read(
        self, keys: Collection[str] | None = None, *, as_of_ms: int | None = None
    ) -> pd.DataFrame:
        """The latest label of each key known at ``as_of_ms``.

        Args:
            keys: Only these keys (None: all).
            as_of_ms: Only labels with ``ts <= as_of_ms`` (None: all).

        Returns:
            Columns ``key``, ``label``, ``ts`` (UTC datetime), one row per key.
        """
        terms: list[sql.Composable] = []
        params: list[Any] = []
        if keys is not None:
            terms.append(sql.SQL("key = ANY(%s)"))
            params.append(list(keys))
        if as_of_ms is not None:
            terms.append(sql.SQL("ts <= %s"))
            params.append(to_datetime(as_of_ms))
        where = sql.SQL("WHERE ") + sql.SQL(" AND ").join(terms) if terms else sql.SQL("")
        query = sql.SQL(
            "SELECT DISTINCT ON (key) key, label, ts FROM {} {} ORDER BY key, ts DESC, seq DESC"
        ).format(self._table, where)
        with self._connect() as connection, connection.cursor() as cursor:
            cursor.execute(query, params)
            rows = cursor.fetchall()
        frame = pd.DataFrame(rows, columns=["key", "label", "ts"])
        frame["label"] = frame["label"].astype("float64")
        frame["ts"] = pd.to_datetime(frame["ts"], utc=True).dt.as_unit("ms")
        return frame

    def query(self, sql_text: str) -> pa.Table:
        """Run PostgreSQL SQL in which ``labels`` is a view of the table.

        Args:
            sql_text: The query.

        Returns:
            The result.

        Raises:
            AuditQueryError: If the query fails.
        """
        view = sql.SQL("CREATE TEMP VIEW labels AS SELECT * FROM {}").format(self._table)
        with self._connect() as connection:
            connection.execute(view)
            try:
                return fetch_table(connection, sql_text, where="PostgresLabelStore.query")
            finally:  # the server may drop temporary objects only after the session ends
                connection.execute("DROP VIEW IF EXISTS pg_temp.labels")

    def close(self) -> None:
        """Nothing is held between calls."""
