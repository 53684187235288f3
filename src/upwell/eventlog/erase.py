"""Removing an entity's events from logged tables: the row filter and the file rewrite.

An erasure rewrites each Parquet file that holds a matching row: the rows kept are
written to a temporary file, synced, and renamed over the original, then the folder is
synced, so a crash leaves either the old or the new file, never half of one. A file keeps
its name (and so the range of log positions it covers) even when no row is left, so
positions are never handed out twice. An erasure interrupted by a crash is completed by
running it again: rewriting a file without matching rows changes nothing.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

KeyValues = Mapping[str, Any]
"""Key column to value, e.g. ``{"customer_id": 42}``; a row matches when all are equal."""


def _scalar(value: Any, kind: pa.DataType) -> pa.Scalar:
    """The value as a scalar of the column's type (a key given as text matches an int)."""
    if pa.types.is_integer(kind) and not isinstance(value, bool):
        return pa.scalar(int(value), type=kind)
    if pa.types.is_floating(kind):
        return pa.scalar(float(value), type=kind)
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return pa.scalar(str(value), type=kind)
    return pa.scalar(value).cast(kind)


def matching(table: pa.Table, key: KeyValues) -> pa.ChunkedArray | pa.Array:
    """Which rows of a table hold the key values (False where a key is null).

    Args:
        table: Rows with the key columns.
        key: Key column to value.

    Returns:
        A boolean mask, one entry per row.

    Raises:
        KeyError: A key column is missing from the table.
    """
    mask: Any = pa.array([True] * table.num_rows, type=pa.bool_())
    for column, value in key.items():
        values = table[column]
        equal = pc.fill_null(pc.equal(values, _scalar(value, values.type)), fill_value=False)
        mask = pc.and_(mask, equal)
    return mask


def without(table: pa.Table, key: KeyValues) -> tuple[pa.Table, int]:
    """A table without the rows that hold the key values.

    Args:
        table: The rows.
        key: Key column to value.

    Returns:
        The rows kept, and how many were removed.

    >>> kept, removed = without(pa.table({"id": [1, 2, 1], "x": [3, 4, 5]}), {"id": 1})
    >>> kept.to_pydict(), removed
    ({'id': [2], 'x': [4]}, 2)
    """
    mask = matching(table, key)
    removed = int(pc.sum(mask).as_py() or 0)
    if not removed:
        return table, 0
    return table.filter(pc.invert(mask)), removed


def rewrite_parquet(path: Path, key: KeyValues) -> int:
    """Rewrite a Parquet file without the rows that hold the key values (atomically).

    Args:
        path: The file.
        key: Key column to value.

    Returns:
        How many rows were removed (0: the file is left untouched).
    """
    table = pq.read_table(path)
    kept, removed = without(table, key)
    if removed:
        replace_parquet(path, kept)
    return removed


def replace_parquet(path: Path, table: pa.Table) -> None:
    """Replace a Parquet file by a table: temporary file, sync, rename, folder sync.

    Args:
        path: The file.
        table: Its new content.
    """
    tmp = path.with_name(path.name + ".erase.tmp")
    pq.write_table(table, tmp)
    with open(tmp, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
