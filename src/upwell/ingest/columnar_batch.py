"""Vectorised validation of large tables (backfill, file ingest, batch features)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from upwell.definitions.types import FieldType, ValueType, Vector
from upwell.ingest.errors import EventError
from upwell.ingest.values import convert


def to_table(data: Any) -> pa.Table:
    """Read a pandas or Polars DataFrame, an Arrow table, a Parquet path or row dicts.

    Args:
        data: The data.

    Returns:
        An Arrow table.

    Raises:
        EventError: The data is of an unsupported kind.
    """
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    if isinstance(data, str) or hasattr(data, "__fspath__"):
        import pyarrow.parquet as pq  # noqa: PLC0415 (only file ingest needs it)

        try:
            return pq.read_table(data)
        except (FileNotFoundError, OSError) as error:
            msg = f"cannot read Parquet file {str(data)!r}: {error}"
            raise EventError(
                msg,
                where="table",
                fix="check the path, or pass a DataFrame or Arrow table",
            ) from None
    module = type(data).__module__.split(".")[0]
    if module == "pandas":
        return pa.Table.from_pandas(data, preserve_index=False)
    if module == "polars":
        return data.to_arrow()
    if isinstance(data, list) and all(isinstance(r, Mapping) for r in data):
        return pa.Table.from_pylist(data)
    msg = f"cannot read a table from {type(data).__name__}"
    raise EventError(
        msg,
        where="table",
        fix="pass a pandas or Polars DataFrame, an Arrow table, a Parquet path or a list of dicts",
    )


def validate_columns(
    table: pa.Table, schema: Mapping[str, ValueType], where: str
) -> dict[str, np.ndarray]:
    """Check a table's columns against a schema; convert timestamps to epoch-ms int64.

    Args:
        table: The table (extra columns are an error).
        schema: Column name to type.
        where: What the table is, for the error message.

    Returns:
        Column name to NumPy array.

    Raises:
        EventError: A column is missing, unknown, null, mistyped, NaN or infinite, or a
            timestamp column is naive or not UTC.
    """
    missing = [c for c in schema if c not in table.column_names]
    unknown = [c for c in table.column_names if c not in schema]
    if missing or unknown:
        msg = f"columns missing {missing}, unknown {unknown}"
        raise EventError(
            msg,
            where=where,
            fix=f"provide exactly the columns {list(schema)}",
        )
    return {name: _column(table[name], kind, f"{where}.{name}") for name, kind in schema.items()}


def _column(column: pa.ChunkedArray, kind: ValueType, where: str) -> np.ndarray:
    if column.null_count:
        row = int(pc.index(pc.is_null(column), True).as_py())
        msg = f"row {row} is null"
        raise EventError(msg, where=where, fix="fill or drop null values")
    arrow = column.type
    if isinstance(kind, Vector):
        return _vectors(column.to_pylist(), kind, where)
    if kind is FieldType.TIMESTAMP:
        return _timestamps(column, where)
    checks = {
        FieldType.INT: pa.types.is_integer,
        FieldType.FLOAT: lambda t: pa.types.is_floating(t) or pa.types.is_integer(t),
        FieldType.BOOL: pa.types.is_boolean,
        FieldType.STRING: lambda t: pa.types.is_string(t) or pa.types.is_large_string(t),
    }
    if not checks[kind](arrow):
        msg = f"column has type {arrow}, expected {kind.value}"
        raise EventError(
            msg,
            where=where,
            fix=f"cast it to {kind.value}",
        )
    if kind is FieldType.FLOAT:
        values = column.to_numpy().astype(np.float64)
        bad = ~np.isfinite(values)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            msg = f"row {row} holds {values[row]}, not a finite number"
            raise EventError(
                msg,
                where=where,
                fix="drop or impute NaN and infinite values first",
            )
        return np.asarray(values)
    if kind is FieldType.STRING:
        return np.asarray(column.to_pylist(), dtype=object)
    if kind is FieldType.INT:
        return _int64(column, where)
    return np.asarray(column.to_numpy())


def _int64(column: pa.ChunkedArray, where: str) -> np.ndarray:
    # The log stores integers as int64; unsigned values above its range cannot be kept.
    limit = np.iinfo(np.int64).max
    if pa.types.is_unsigned_integer(column.type) and len(column):
        too_big = pc.greater(column, pa.scalar(limit, column.type))
        if pc.any(too_big).as_py():
            row = int(pc.index(too_big, True).as_py())
            msg = f"row {row} holds {column[row].as_py()}, beyond the 64-bit signed range"
            raise EventError(
                msg,
                where=where,
                fix=f"keep integers at or below {limit}, or declare the column str",
            )
    return np.asarray(column.to_numpy(), dtype=np.int64)


def _vectors(values: list[Any], kind: Vector, where: str) -> np.ndarray:
    """A 1-d object array of float lists, each checked for length and finiteness."""
    out = np.empty(len(values), dtype=object)
    for i, value in enumerate(values):
        out[i] = convert(value, kind, f"{where}[{i}]")
    return out


def _timestamps(column: pa.ChunkedArray, where: str) -> np.ndarray:
    arrow = column.type
    if not pa.types.is_timestamp(arrow):
        msg = f"column has type {arrow}, expected a UTC timestamp"
        raise EventError(
            msg,
            where=where,
            fix="cast it to timestamps",
        )
    if arrow.tz is None or arrow.tz not in ("UTC", "utc", "Etc/UTC", "+00:00", "Z"):
        state = "naive (no time zone)" if arrow.tz is None else f"in time zone {arrow.tz}"
        msg = f"timestamps are {state}"
        raise EventError(
            msg,
            where=where,
            fix="use UTC times: pandas .dt.tz_localize('UTC') or .dt.tz_convert('UTC')",
        )
    millis = pc.cast(column, pa.timestamp("ms", tz="UTC"), safe=False)
    return np.asarray(pc.cast(millis, pa.int64()).to_numpy(), dtype=np.int64)
