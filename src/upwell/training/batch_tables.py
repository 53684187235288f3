"""Loaded batch feature tables: validated, kept for training sets, loaded online."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from upwell.definitions.batch import BatchFeatures
from upwell.definitions.errors import DefinitionError
from upwell.definitions.registry import Registry
from upwell.definitions.types import FieldType, ValueType
from upwell.ingest.columnar_batch import to_table, validate_columns
from upwell.ingest.errors import EventError
from upwell.stores.protocol import OnlineStore


def unknown_group(group: str, registry: Registry) -> DefinitionError:
    """The error for a batch group name that is not defined.

    Args:
        group: The name.
        registry: The definitions.

    Returns:
        The error to raise.
    """
    return DefinitionError(
        "load_batch",
        "group",
        f"{group!r} is not a BatchFeatures group",
        f"use one of {sorted(registry.batches)}",
    )


def validate(spec: BatchFeatures, data: Any) -> pa.Table:
    """Check a batch table: entity keys, a UTC ``valid_from`` and the schema's columns.

    Args:
        spec: The group.
        data: A DataFrame, Arrow table or Parquet path.

    Returns:
        A table with keys, ``valid_from`` as epoch-ms int64, and the feature columns.

    Raises:
        EventError: A column is missing, null, mistyped, or not UTC.
    """
    table = to_table(data)
    missing = [k for k in spec.entity.keys if k not in table.column_names]
    if missing:
        msg = f"lacks entity key columns {missing}"
        raise EventError(
            msg,
            where=f"load_batch {spec.name!r}",
            fix=f"add the keys {list(spec.entity.keys)}",
        )
    for key in spec.entity.keys:
        if table[key].null_count:
            msg = "has null keys"
            raise EventError(msg, where=f"load_batch {spec.name!r}.{key}", fix="drop them")
    schema: dict[str, ValueType] = {spec.valid_from: FieldType.TIMESTAMP, **spec.schema}
    rest = table.drop_columns(list(spec.entity.keys))
    columns = validate_columns(rest, schema, f"load_batch {spec.name!r}")
    data_out: dict[str, Any] = {k: table[k] for k in spec.entity.keys}
    data_out.update({name: _arrow(values) for name, values in columns.items()})
    return pa.table(data_out)


def _arrow(values: np.ndarray) -> pa.Array:
    if values.dtype == object and values.size and isinstance(values[0], list):
        return pa.array(values.tolist(), type=pa.list_(pa.float64()))
    return pa.array(values)


def load_into(store: OnlineStore, spec: BatchFeatures, table: pa.Table) -> None:
    """Put every row of a validated batch table into the online store.

    Args:
        store: The online store.
        spec: The group.
        table: The validated table.
    """
    keys = list(zip(*(table[k].to_pylist() for k in spec.entity.keys), strict=True))
    valid_from = table[spec.valid_from].to_pylist()
    columns = [table[c].to_pylist() for c in spec.schema]
    for i, key in enumerate(keys):
        store.put_batch_row(spec.name, key, valid_from[i], tuple(col[i] for col in columns))


class BatchTables:
    """Every loaded batch table, kept for training sets (Parquet files under ``directory``).

    Args:
        directory: Where to keep the tables, or None to keep them in memory.
    """

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self._memory: dict[str, list[pa.Table]] = {}

    def append(self, spec: BatchFeatures, table: pa.Table) -> None:
        """Keep a validated table.

        Args:
            spec: The group.
            table: The validated table.
        """
        if self.directory is None:
            self._memory.setdefault(spec.name, []).append(table)
            return
        folder = self.directory / spec.name
        folder.mkdir(parents=True, exist_ok=True)
        index = len(list(folder.glob("part-*.parquet")))
        path = folder / f"part-{index:06d}.parquet"
        tmp = path.with_suffix(".tmp")
        pq.write_table(table, tmp)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)

    def read(self, spec: BatchFeatures) -> pa.Table | None:
        """Every loaded row of a group, in load order, or None if nothing was loaded.

        Args:
            spec: The group.

        Returns:
            The rows.
        """
        if self.directory is None:
            tables = self._memory.get(spec.name, [])
        else:
            tables = [
                pq.read_table(p)
                for p in sorted((self.directory / spec.name).glob("part-*.parquet"))
            ]
        return pa.concat_tables(tables) if tables else None

    def frame(self, spec: BatchFeatures) -> pd.DataFrame:
        """The loaded rows as a DataFrame (empty with the right columns if none).

        Args:
            spec: The group.

        Returns:
            The rows.
        """
        table = self.read(spec)
        if table is None:
            return pd.DataFrame(columns=[*spec.entity.keys, spec.valid_from, *spec.schema])
        frame: pd.DataFrame = table.to_pandas()
        return frame
