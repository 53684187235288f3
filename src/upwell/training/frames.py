"""DataFrames in and out: anchor columns from pandas/Polars/Arrow, results back."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from upwell.ingest.columnar_batch import _timestamps, to_table
from upwell.ingest.errors import EventError


def anchor_columns(entity_df: Any, timestamp_column: str) -> tuple[pa.Table, dict[str, np.ndarray]]:
    """Read an entity DataFrame; its timestamp column becomes epoch-ms int64.

    Args:
        entity_df: pandas or Polars DataFrame, or Arrow table.
        timestamp_column: The column with each row's time (UTC).

    Returns:
        The table and its columns as NumPy arrays.

    Raises:
        EventError: The timestamp column is missing or not UTC.
    """
    table = to_table(entity_df)
    if timestamp_column not in table.column_names:
        msg = f"has no column {timestamp_column!r}"
        raise EventError(
            msg,
            where="entity_df",
            fix="pass timestamp_column= naming the column with each row's UTC time",
        )
    columns = {n: table[n].to_numpy(zero_copy_only=False) for n in table.column_names}
    columns[timestamp_column] = _timestamps(
        table[timestamp_column], f"entity_df.{timestamp_column}"
    )
    return table, columns


def _arrow_column(values: np.ndarray) -> pa.Array:
    if values.dtype == object:
        cleaned = [None if isinstance(v, float) and np.isnan(v) else v for v in values.tolist()]
        return pa.array(cleaned)
    return pa.array(values)


def attach(
    table: pa.Table,
    columns: Sequence[str],
    values: Mapping[str, np.ndarray],
    refs: Sequence[str],
    output: str,
) -> Any:
    """Append feature columns to the anchor table and convert to the requested output.

    Args:
        table: The anchor rows.
        columns: Output names of the features.
        values: Qualified name to values.
        refs: Qualified names, in the order of ``columns``.
        output: "pandas", "polars" or "arrow".

    Returns:
        The table in the requested form.
    """
    for name, ref in zip(columns, refs, strict=True):
        if name in table.column_names:
            table = table.drop_columns([name])
        table = table.append_column(name, _arrow_column(values[ref]))
    return convert(table, output)


def from_rows(rows: list[dict[str, Any]], columns: Sequence[str], output: str) -> Any:
    """Build a table from feature dicts.

    Args:
        rows: One dict per entity row.
        columns: Column order.
        output: "pandas", "polars" or "arrow".

    Returns:
        The table in the requested form.
    """
    table = pa.table({c: pa.array([r[c] for r in rows]) for c in columns})
    return convert(table, output)


def convert(table: pa.Table, output: str) -> Any:
    """Convert an Arrow table to pandas, Polars or Arrow.

    Args:
        table: The table.
        output: "pandas", "polars" or "arrow".

    Returns:
        The converted table.

    Raises:
        EventError: The output kind is unknown.
    """
    if output == "arrow":
        return table
    if output == "pandas":
        return table.to_pandas()
    if output == "polars":
        import polars as pl  # noqa: PLC0415 (optional dependency)

        return pl.from_arrow(table)
    msg = f"unknown output {output!r}"
    raise EventError(msg, where="output", fix="use pandas, polars or arrow")
