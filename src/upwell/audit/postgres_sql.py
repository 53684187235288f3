"""What the PostgreSQL backends share: connections, table names, SQL into Arrow."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import psycopg
import pyarrow as pa
from psycopg import sql
from psycopg.types.string import TextLoader

from upwell.audit.errors import AuditError, AuditQueryError

__all__ = ["connect", "fetch_table", "table_identifier"]

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def table_identifier(name: str) -> sql.Identifier:
    """A safely quoted table name, ``table`` or ``schema.table``.

    Args:
        name: The name.

    Returns:
        The identifier.

    Raises:
        AuditError: If a part is not a plain SQL name.
    """
    parts = name.split(".")
    if len(parts) > 2 or not all(_NAME.match(p) for p in parts):
        msg = f"{name!r} is not a table name"
        raise AuditError(msg, where="table", fix="use letters, digits and _, e.g. 'predictions'.")
    return sql.Identifier(*parts)


def connect(conninfo: str, connect_timeout_s: float, where: str) -> psycopg.Connection[Any]:
    """An autocommit connection, or an :class:`AuditError` saying why there is none.

    Args:
        conninfo: libpq connection string, e.g. ``"host=127.0.0.1 user=postgres dbname=app"``.
        connect_timeout_s: The longest wait for the server.
        where: Names the caller in error messages.

    Returns:
        The connection.

    Raises:
        AuditError: If the server cannot be reached or refuses the connection.
    """
    try:
        return psycopg.connect(
            conninfo, autocommit=True, connect_timeout=max(1, round(connect_timeout_s))
        )
    except psycopg.Error as error:
        msg = f"cannot connect to PostgreSQL: {error}"
        raise AuditError(
            msg, where=where, fix="check the connection string and that the server is up."
        ) from None


def fetch_table(
    connection: psycopg.Connection[Any],
    query: str | sql.Composed,
    params: Sequence[Any] | None = None,
    *,
    where: str,
) -> pa.Table:
    """Run a query and return its rows as Arrow (JSON columns as text).

    Args:
        connection: The connection.
        query: The query.
        params: ``%s`` parameters.
        where: Names the caller in error messages.

    Returns:
        One column per result column (an empty table for statements without rows).

    Raises:
        AuditQueryError: If the query fails.
    """
    try:
        with connection.cursor() as cursor:
            cursor.adapters.register_loader("jsonb", TextLoader)
            cursor.adapters.register_loader("json", TextLoader)
            cursor.execute(query, params)
            if cursor.description is None:
                return pa.table({})
            names = [c.name for c in cursor.description]
            rows = cursor.fetchall()
    except psycopg.Error as error:
        msg = f"the query failed: {error}"
        raise AuditQueryError(msg, where=where, fix="check the SQL (PostgreSQL dialect).") from None
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    return pa.table({n: pa.array(list(c)) for n, c in zip(names, columns, strict=True)})
