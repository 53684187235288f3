"""Conversion between validated event rows and Arrow tables."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from upwell.definitions.source import EventSource
from upwell.definitions.types import FieldType, Vector
from upwell.eventlog.protocol import SEQ

_ARROW = {
    FieldType.INT: pa.int64(),
    FieldType.FLOAT: pa.float64(),
    FieldType.BOOL: pa.bool_(),
    FieldType.STRING: pa.string(),
    FieldType.TIMESTAMP: pa.int64(),
}


def arrow_schema(source: EventSource) -> pa.Schema:
    """The Arrow schema of a source's logged events (timestamps as epoch-ms int64).

    Args:
        source: The source.

    Returns:
        The schema, with ``__seq__`` first.
    """
    fields = [pa.field(SEQ, pa.int64())]
    for name, kind in source.schema.items():
        arrow = pa.list_(pa.float64()) if isinstance(kind, Vector) else _ARROW[kind]
        fields.append(pa.field(name, arrow))
    return pa.schema(fields)


def rows_to_table(source: EventSource, rows: list[dict[str, Any]], seqs: list[int]) -> pa.Table:
    """Build a table from validated rows and their positions.

    Args:
        source: The source.
        rows: The rows.
        seqs: Their log positions.

    Returns:
        The table.
    """
    schema = arrow_schema(source)
    columns: dict[str, list[Any]] = {SEQ: seqs}
    for name in source.schema:
        columns[name] = [row[name] for row in rows]
    return pa.table(columns, schema=schema)


def empty_table(source: EventSource) -> pa.Table:
    """A table with a source's logged schema and no rows.

    Args:
        source: The source.

    Returns:
        The empty table.
    """
    return arrow_schema(source).empty_table()
