"""SQL over audit data with DuckDB: each table is Parquet files plus an in-memory tail."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from upwell.audit.errors import AuditQueryError

__all__ = ["TableSource", "run_sql"]


@dataclass(frozen=True)
class TableSource:
    """The rows of one SQL table: Parquet files, then an Arrow table of recent rows.

    Args:
        schema: The table's columns.
        files: Parquet files holding rows of ``schema``.
        tail: Rows not yet in a file.
    """

    schema: pa.Schema
    files: Sequence[Path] = ()
    tail: pa.Table | None = None


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _view(connection: duckdb.DuckDBPyConnection, name: str, source: TableSource) -> None:
    columns = ", ".join(f'"{f.name}"' for f in source.schema)
    tail_name = f"__{name}_tail"
    tail = source.tail if source.tail is not None else source.schema.empty_table()
    connection.register(tail_name, tail)
    parts = [f"SELECT {columns} FROM {tail_name}"]  # noqa: S608 (names from the schema)
    if source.files:
        files = ", ".join(_quote(str(p)) for p in source.files)
        parts.insert(0, f"SELECT {columns} FROM read_parquet([{files}])")  # noqa: S608
    body = " UNION ALL ".join(parts)
    connection.sql(f"CREATE VIEW {name} AS {body}")


def run_sql(
    tables: Mapping[str, TableSource],
    sql: str,
    *,
    params: Sequence[Any] | None = None,
    where: str = "sql",
) -> pa.Table:
    """Run a query in which each name of ``tables`` is a view of its rows.

    Timestamps come back as UTC ``timestamp[us, tz=UTC]`` (the session time zone is UTC).

    Args:
        tables: View name -> its rows.
        sql: The query (DuckDB dialect); ``$1``, ``$2``... are ``params``.
        params: Query parameters.
        where: Names the caller in error messages.

    Returns:
        The result (an empty table for statements that return nothing).

    Raises:
        AuditQueryError: The query is not valid SQL or names unknown tables or columns.
    """
    connection = duckdb.connect()
    try:
        connection.sql("SET TimeZone = 'UTC'")
        for name, source in tables.items():
            _view(connection, name, source)
        relation = connection.sql(sql, params=list(params) if params else None)
        return relation.to_arrow_table() if relation is not None else pa.table({})
    except duckdb.Error as error:
        raise AuditQueryError(
            f"the query failed: {error}",  # noqa: EM102 (structured error)
            where=where,
            fix=f"query the tables {sorted(tables)} with DuckDB's SQL dialect",
        ) from None
    finally:
        connection.close()
