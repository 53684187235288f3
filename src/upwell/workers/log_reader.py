"""Reading the workers' partitioned event log back, one row per event."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa

from upwell.definitions.source import EventSource
from upwell.eventlog.arrow_rows import empty_table
from upwell.eventlog.protocol import SEQ


def read_log(directory: Path, source: EventSource) -> pa.Table:
    """Every event of a source that workers logged, each event id once.

    A worker that died after logging an event and before acknowledging it leaves a
    copy that another worker logs again; the copy with the lowest position is kept.

    Args:
        directory: The log directory.
        source: The source (it must declare an ``event_id``).

    Returns:
        The events (timestamps as UTC ``timestamp[ms]``, with ``__seq__``), ordered by
        event time, then position.
    """
    files = sorted(directory.glob(f"source={source.name}/date=*/part-*.parquet"))
    if not files:
        table = empty_table(source)
        index = table.schema.get_field_index(source.timestamp)
        stamps = table[source.timestamp].cast(pa.timestamp("ms", tz="UTC"))
        return table.set_column(index, source.timestamp, stamps)
    fields = ", ".join(_quote(name) for name in [SEQ, *source.schema])
    dedup = ""
    if source.event_id is not None:
        dedup = (
            f"QUALIFY row_number() OVER (PARTITION BY {_quote(source.event_id)} ORDER BY {SEQ}) = 1"
        )
    # identifiers are quoted and the file list is a bound parameter
    query = (
        f"SELECT {fields} FROM read_parquet($files, hive_partitioning = true) {dedup} "  # noqa: S608
        f"ORDER BY {_quote(source.timestamp)}, {SEQ}"
    )
    connection = duckdb.connect()
    try:
        result: pa.Table = connection.sql(
            query, params={"files": [str(f) for f in files]}
        ).to_arrow_table()
    finally:
        connection.close()
    return result


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
