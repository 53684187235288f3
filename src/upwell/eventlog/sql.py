"""SQL over the event log with DuckDB: each source is a table named after it."""

from __future__ import annotations

from collections.abc import Mapping

import duckdb
import pyarrow as pa

from upwell.definitions.source import EventSource
from upwell.eventlog.errors import QueryError
from upwell.eventlog.protocol import EventLog


def query_events(log: EventLog, sources: Mapping[str, EventSource], sql: str) -> pa.Table:
    """Run a SQL query in which every source is a table of its logged events.

    Timestamps are UTC ``TIMESTAMP WITH TIME ZONE`` values and ``__seq__`` is each
    event's log position, so ``ORDER BY __seq__`` gives the order events were logged.

    Args:
        log: The event log.
        sources: The sources, by name.
        sql: The query, e.g. ``SELECT CUSTOMER_ID, count(*) FROM transactions GROUP BY 1``.

    Returns:
        The result as an Arrow table.

    Raises:
        QueryError: The query is not valid SQL or names unknown tables or columns.
    """
    connection = duckdb.connect()
    try:
        for name, source in sources.items():
            table = log.read_source(source)
            stamps = table[source.timestamp].cast(pa.timestamp("ms", tz="UTC"))
            index = table.schema.get_field_index(source.timestamp)
            connection.register(name, table.set_column(index, source.timestamp, stamps))
        result: pa.Table = connection.sql(sql).to_arrow_table()
        return result
    except duckdb.Error as error:
        raise QueryError(
            f"the query failed: {error}",  # noqa: EM102 (structured error)
            where="sql",
            fix=f"query the tables {sorted(sources)} with DuckDB's SQL dialect",
        ) from None
    finally:
        connection.close()
