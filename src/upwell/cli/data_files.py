"""Event and entity files: CSV, Parquet and JSON lines in, Parquet and CSV out.

Timestamps are normalised to UTC on the way in. A text timestamp must be ISO-8601; one
with an offset (``Z``, ``+02:00``) is converted to UTC, one without an offset is an
error unless ``assume_utc`` is given, in which case it is read as UTC. Parquet
timestamp columns follow the same rule: a time zone is converted, none is an error
unless ``assume_utc``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from upwell.cli.errors import CommandError
from upwell.definitions.types import FieldType, ValueType

READ_SUFFIXES = (".csv", ".parquet", ".pq", ".jsonl", ".ndjson", ".json")
WRITE_SUFFIXES = (".parquet", ".csv")
_ARROW_TYPES = {
    FieldType.INT: pa.int64(),
    FieldType.FLOAT: pa.float64(),
    FieldType.BOOL: pa.bool_(),
    FieldType.STRING: pa.string(),
    FieldType.TIMESTAMP: pa.string(),
}
# A time of day followed by an offset; a bare date such as 2024-05-01 has none.
_HAS_OFFSET = r"^\d{4}-\d{2}-\d{2}[T ]\S*?(?:[Zz]|[+-]\d{2}(?::?\d{2})?)$"


def read_table(
    path: Path,
    types: Mapping[str, ValueType],
    timestamps: Collection[str],
    *,
    assume_utc: bool = False,
) -> pa.Table:
    """Read a file into an Arrow table with UTC timestamp columns.

    Args:
        path: A ``.csv``, ``.parquet`` or ``.jsonl`` file.
        types: Declared types of columns the file may hold (text is read as these).
        timestamps: Columns holding timestamps (converted to UTC timestamps).
        assume_utc: Read timestamps without an offset or time zone as UTC.

    Returns:
        The table.

    Raises:
        CommandError: The file is missing, of an unknown kind or malformed, or a
            timestamp is not ISO-8601 or has no offset (without ``assume_utc``).
    """
    if not path.is_file():
        msg = f"file {str(path)!r} does not exist"
        raise CommandError(msg, fix="check the path")
    suffix = path.suffix.lower()
    if suffix not in READ_SUFFIXES:
        msg = f"cannot read {path.name!r}: unknown file kind {suffix!r}"
        raise CommandError(msg, where=str(path), fix=f"use one of {list(READ_SUFFIXES)}")
    try:
        table = _read(path, suffix, types, timestamps)
    except (pa.ArrowInvalid, OSError) as error:
        msg = f"cannot be read: {' '.join(str(error).split())}"
        raise CommandError(msg, where=str(path), fix="check the file's format") from None
    for name in timestamps:
        if name in table.column_names:
            column = _utc(table[name], f"{path}, column {name!r}", assume_utc)
            table = table.set_column(table.column_names.index(name), name, column)
    return table


def _read(
    path: Path, suffix: str, types: Mapping[str, ValueType], timestamps: Collection[str]
) -> pa.Table:
    if suffix == ".csv":
        from pyarrow import csv  # noqa: PLC0415 (only this format needs it)

        column_types = {n: _ARROW_TYPES[t] for n, t in types.items() if isinstance(t, FieldType)}
        column_types.update({n: pa.string() for n in timestamps})
        return csv.read_csv(path, convert_options=csv.ConvertOptions(column_types=column_types))
    if suffix in (".parquet", ".pq"):
        import pyarrow.parquet as pq  # noqa: PLC0415 (only this format needs it)

        return pq.read_table(path)
    from pyarrow import json  # noqa: PLC0415 (only this format needs it)

    # Timestamps are read as text so that offsets (or their absence) can be checked;
    # the reader fills a declared column the file lacks with nulls, so such a column
    # is dropped again and reported as missing by the validation that follows.
    schema = pa.schema([(n, pa.string()) for n in timestamps])
    options = json.ParseOptions(explicit_schema=schema, unexpected_field_behavior="infer")
    table = json.read_json(path, parse_options=options)
    absent = [n for n in timestamps if table[n].null_count == table.num_rows > 0]
    return table.drop_columns(absent)


def _utc(column: pa.ChunkedArray, where: str, assume_utc: bool) -> pa.ChunkedArray:
    kind = column.type
    if pa.types.is_timestamp(kind):
        if kind.tz is None and not assume_utc:
            msg = "timestamps have no time zone"
            raise CommandError(msg, where=where, fix=_NAIVE_FIX)
        return pc.cast(column, pa.timestamp(kind.unit, tz="UTC"))
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        msg = f"column has type {kind}, expected ISO-8601 timestamps"
        raise CommandError(msg, where=where, fix="write times such as 2024-05-01T12:00:00Z")
    text = column.to_pandas()
    blank = text.isna() | (text.str.strip() == "")
    if blank.any():
        row = int(blank.to_numpy().nonzero()[0][0])
        msg = f"row {row} has no timestamp"
        raise CommandError(msg, where=where, fix="give every row a time")
    naive = ~pc.match_substring_regex(column, _HAS_OFFSET).to_pandas()
    if naive.any() and not assume_utc:
        row = int(naive.to_numpy().nonzero()[0][0])
        msg = f"row {row} holds {text.iloc[row]!r}, which has no UTC offset"
        raise CommandError(msg, where=where, fix=_NAIVE_FIX)
    parsed = pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce")
    if parsed.isna().any():
        row = int(parsed.isna().to_numpy().nonzero()[0][0])
        msg = f"row {row} holds {text.iloc[row]!r}, which is not an ISO-8601 timestamp"
        raise CommandError(msg, where=where, fix="write times such as 2024-05-01T12:00:00Z")
    return pa.chunked_array([pa.array(parsed)])


_NAIVE_FIX = (
    "write the offset (2024-05-01T12:00:00Z or +02:00), or pass --assume-utc to read "
    "times without one as UTC"
)


def check_output(path: Path) -> None:
    """Check, before any work, that an output path has a suffix we can write.

    Args:
        path: The output file.

    Raises:
        CommandError: The suffix is not ``.parquet`` or ``.csv``, or the directory is missing.
    """
    if path.suffix.lower() not in WRITE_SUFFIXES:
        msg = f"cannot write {path.name!r}: unknown file kind {path.suffix!r}"
        raise CommandError(msg, where="--out", fix=f"end the name in {' or '.join(WRITE_SUFFIXES)}")
    if not path.parent.is_dir():
        msg = f"directory {str(path.parent)!r} does not exist"
        raise CommandError(msg, where="--out", fix="create it first")


def write_table(table: pa.Table, path: Path) -> None:
    """Write a table as Parquet or CSV, chosen by the file's suffix.

    Args:
        table: The table.
        path: The output file (checked with :func:`check_output`).

    Raises:
        CommandError: A column cannot be written as CSV (a list), or writing fails.
    """
    check_output(path)
    try:
        if path.suffix.lower() == ".csv":
            from pyarrow import csv  # noqa: PLC0415 (only this format needs it)

            nested = [f.name for f in table.schema if pa.types.is_nested(f.type)]
            if nested:
                msg = f"columns {nested} hold lists, which CSV cannot"
                raise CommandError(msg, where="--out", fix="write a .parquet file instead")
            csv.write_csv(table, path)
        else:
            import pyarrow.parquet as pq  # noqa: PLC0415 (only this format needs it)

            pq.write_table(table, path)
    except (pa.ArrowException, OSError) as error:
        msg = f"cannot be written: {error}"
        raise CommandError(msg, where=str(path), fix="check the path and permissions") from None
