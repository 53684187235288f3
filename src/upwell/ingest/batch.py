"""Normalisation of pushed data (dicts, pandas, Polars, Arrow) into validated rows."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from math import isfinite
from typing import Any

import pyarrow as pa

from upwell.definitions.source import EventSource
from upwell.definitions.types import FieldType, ValueType
from upwell.ingest.errors import EventError
from upwell.ingest.values import INT64_MAX, INT64_MIN, convert

MAX_BATCH_EVENTS = 1_000_000


@dataclass(frozen=True)
class EventBatch:
    """Validated events of one source; the timestamp field holds epoch ms."""

    source: EventSource
    rows: list[dict[str, Any]]


def to_rows(data: Any) -> list[Mapping[str, Any]]:
    """Turn a dict, a list of dicts, a pandas or Polars DataFrame or an Arrow table into rows.

    Args:
        data: The pushed data.

    Returns:
        A list of mappings.

    Raises:
        EventError: The data is of an unsupported kind.
    """
    if type(data) is dict or isinstance(data, Mapping):
        return [data]
    if isinstance(data, pa.Table | pa.RecordBatch):
        return list(data.to_pylist())
    module = type(data).__module__.split(".")[0]
    if module == "pandas":
        return list(pa.Table.from_pandas(data, preserve_index=False).to_pylist())
    if module == "polars":
        return list(data.to_arrow().to_pylist())
    if isinstance(data, Iterable) and not isinstance(data, str | bytes):
        rows = list(data)
        if all(isinstance(r, Mapping) for r in rows):
            return rows
    msg = f"cannot read events from {type(data).__name__}"
    raise EventError(
        msg,
        where="push",
        fix="push a dict, a list of dicts, a pandas or Polars DataFrame, or an Arrow table",
    )


def validate(source: EventSource, data: Any, max_events: int = MAX_BATCH_EVENTS) -> EventBatch:
    """Validate every event of a push; any bad event rejects the whole batch.

    Args:
        source: The source the events belong to.
        data: The pushed data (see :func:`to_rows`).
        max_events: The largest batch accepted.

    Returns:
        The validated batch.

    Raises:
        EventError: A field is missing, unknown or of the wrong type, a timestamp is not
            UTC, a number is NaN or infinite, or the batch is too large.
    """
    rows = to_rows(data)
    if len(rows) > max_events:
        msg = f"batch of {len(rows)} events is larger than the limit of {max_events}"
        raise EventError(
            msg,
            where=f"source {source.name!r}",
            fix="split the push into smaller batches, or use backfill() for history",
        )
    schema = source.schema
    return EventBatch(source, [_row(source.name, schema, row, i) for i, row in enumerate(rows)])


def _row(
    name: str, schema: Mapping[str, ValueType], row: Mapping[str, Any], i: int
) -> dict[str, Any]:
    if row.keys() == schema.keys():
        return _fast_row(name, schema, row, i)
    missing = [f for f in schema if f not in row]
    if missing:
        msg = f"event lacks fields {missing}"
        raise EventError(
            msg,
            where=f"{name}[{i}]",
            fix=f"send every field of the schema {sorted(schema)}",
        )
    unknown = [f for f in row if f not in schema]
    if unknown:
        msg = f"event has fields {unknown} that are not in the schema"
        raise EventError(
            msg,
            where=f"{name}[{i}]",
            fix=f"drop them, or add them to EventSource {name!r}'s schema",
        )
    return {f: convert(row[f], kind, f"{name}[{i}].{f}") for f, kind in schema.items()}


def _fast_row(
    name: str, schema: Mapping[str, ValueType], row: Mapping[str, Any], i: int
) -> dict[str, Any]:
    """Convert a row with exactly the schema's fields (the hot path of push).

    Plain finite floats and 64-bit ints skip the general conversion and the building of
    its error-location string; anything else takes the general path.
    """
    out: dict[str, Any] = {}
    for field, kind in schema.items():
        value = row[field]
        value_type = type(value)
        if (value_type is float and kind is FieldType.FLOAT and isfinite(value)) or (
            value_type is int and kind is FieldType.INT and INT64_MIN <= value <= INT64_MAX
        ):
            out[field] = value
        else:
            out[field] = convert(value, kind, f"{name}[{i}].{field}")
    return out
