"""Predictions and labels as plain rows, Arrow tables and pandas DataFrames.

A *row* is the JSON-ready tuple a record is written as (see :data:`ROW_FIELDS`); every
backend turns rows into the same Arrow table (:data:`~upwell.audit.records.PREDICTION_SCHEMA`)
or DataFrame, so readers see one shape whatever stored the predictions.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from upwell.audit.records import LABEL_SCHEMA, PREDICTION_SCHEMA, Label, PredictionRecord

__all__ = [
    "ROW_FIELDS",
    "Row",
    "dumps",
    "entity_values",
    "feature_arrays",
    "label_frame",
    "labels_to_table",
    "prediction_frame",
    "record_row",
    "rows_to_table",
    "to_datetime",
    "ts_ms_of",
]

ROW_FIELDS = (
    "request_id",
    "model",
    "version",
    "ts_ms",
    "entity",
    "features",
    "score",
    "decision",
    "latency_us",
    "explanation",
    "route",
    "shadow_version",
    "shadow_score",
)
"""The fields of a row, in order."""

Row = tuple[Any, ...]
"""One prediction as JSON-ready values, in :data:`ROW_FIELDS` order."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
_MAP_COLUMNS = ("features", "explanation")


def dumps(value: Any) -> bytes:
    """JSON bytes of a value; numpy scalars are numbers and NaN is ``null``.

    Args:
        value: Anything orjson serialises (dicts, lists, numbers, datetimes, numpy values).

    Returns:
        The encoded bytes.
    """
    return orjson.dumps(value, option=_JSON_OPTIONS)


def to_datetime(ts_ms: int) -> datetime:
    """An aware UTC datetime for epoch milliseconds (exact, no float rounding).

    Args:
        ts_ms: Epoch milliseconds.

    Returns:
        The instant.

    >>> to_datetime(1_500)
    datetime.datetime(1970, 1, 1, 0, 0, 1, 500000, tzinfo=datetime.timezone.utc)
    """
    return _EPOCH + timedelta(milliseconds=ts_ms)


def record_row(record: PredictionRecord) -> Row:
    """The row of a record.

    Args:
        record: A prediction.

    Returns:
        Its values in :data:`ROW_FIELDS` order.
    """
    return (
        record.request_id,
        record.model,
        record.version,
        record.ts_ms,
        record.entity,
        record.features,
        float(record.score),
        record.decision,
        float(record.latency_us),
        record.explanation,
        str(record.route),
        record.shadow_version,
        None if record.shadow_score is None else float(record.shadow_score),
    )


def _number_map(values: Sequence[Any]) -> pa.Array:
    """A ``MAP(string, double)`` array whose NaN values are nulls (NaN means missing)."""
    array = pa.array(list(values), type=PREDICTION_SCHEMA.field("features").type)
    items = array.items
    if items.null_count == len(items) or len(items) == 0:
        return array
    cleaned = pc.if_else(pc.is_nan(items), pa.scalar(None, pa.float64()), items)
    return pa.MapArray.from_arrays(array.offsets, array.keys, cleaned)


def rows_to_table(seqs: Sequence[int], rows: Sequence[Row]) -> pa.Table:
    """An Arrow table of :data:`~upwell.audit.records.PREDICTION_SCHEMA`.

    Args:
        seqs: The log position of each row.
        rows: The rows.

    Returns:
        The table, in the given order.
    """
    if not rows:
        return PREDICTION_SCHEMA.empty_table()
    columns = dict(zip(ROW_FIELDS, zip(*rows, strict=True), strict=True))
    arrays: dict[str, Any] = {
        "seq": pa.array(seqs, pa.int64()),
        "ts": pa.array(columns.pop("ts_ms"), pa.int64()).cast(PREDICTION_SCHEMA.field("ts").type),
        "entity": [dumps(e).decode() for e in columns.pop("entity")],
    }
    for name in _MAP_COLUMNS:
        arrays[name] = _number_map(columns.pop(name))
    arrays.update(columns)
    return pa.table(
        [pa.array(arrays[f.name], f.type) for f in PREDICTION_SCHEMA], schema=PREDICTION_SCHEMA
    )


def prediction_frame(table: pa.Table) -> pd.DataFrame:
    """Predictions as a DataFrame: ``ts`` a UTC datetime, maps and ``entity`` as dicts.

    ``decision`` holds None where absent and ``shadow_version`` is a nullable ``Int64``.

    Args:
        table: Rows of :data:`~upwell.audit.records.PREDICTION_SCHEMA` (extra columns kept).

    Returns:
        One row per prediction, columns in schema order.
    """
    frame: pd.DataFrame = table.to_pandas(maps_as_pydicts="strict")
    frame["entity"] = [orjson.loads(e) for e in frame["entity"]]
    frame["decision"] = pd.Series(table["decision"].to_pylist(), index=frame.index, dtype=object)
    frame["shadow_version"] = pd.array(table["shadow_version"].to_pylist(), dtype="Int64")
    for name in _MAP_COLUMNS:
        frame[name] = [v if v is not None else {} for v in frame[name]]
    return frame


def labels_to_table(seqs: Sequence[int], labels: Sequence[Label]) -> pa.Table:
    """An Arrow table of :data:`~upwell.audit.records.LABEL_SCHEMA`.

    Args:
        seqs: The position of each label in its store.
        labels: The labels.

    Returns:
        The table.
    """
    ts = pa.array([lb.ts_ms for lb in labels], pa.int64())
    return pa.table(
        {
            "seq": pa.array(seqs, pa.int64()),
            "key": pa.array([lb.key for lb in labels], pa.string()),
            "label": pa.array([float(lb.label) for lb in labels], pa.float64()),
            "ts": ts.cast(LABEL_SCHEMA.field("ts").type),
        },
        schema=LABEL_SCHEMA,
    )


def label_frame(table: pa.Table) -> pd.DataFrame:
    """Labels as a DataFrame with columns ``key``, ``label``, ``ts`` (UTC datetime).

    Args:
        table: Rows of :data:`~upwell.audit.records.LABEL_SCHEMA`.

    Returns:
        The labels.
    """
    frame: pd.DataFrame = table.select(["key", "label", "ts"]).to_pandas()
    return frame


def ts_ms_of(frame: pd.DataFrame) -> NDArray[np.int64]:
    """Event times of a predictions DataFrame (its ``ts`` column) as epoch milliseconds."""
    if frame.empty:
        return np.zeros(0, dtype=np.int64)
    stamps = pd.to_datetime(frame["ts"], utc=True).dt.as_unit("ms")
    return np.asarray(stamps.astype("int64"), dtype=np.int64)


def feature_arrays(frame: pd.DataFrame, names: Sequence[str]) -> dict[str, NDArray[np.float64]]:
    """Columns of feature values from a predictions DataFrame (NaN where missing).

    Args:
        frame: Predictions, with a ``features`` column of dicts.
        names: The features wanted.

    Returns:
        One float array per name, aligned with the frame's rows.
    """
    table = pd.DataFrame.from_records(list(frame["features"]), columns=list(names))
    return {n: table[n].to_numpy(dtype=np.float64, na_value=np.nan) for n in names}


def entity_values(frame: pd.DataFrame, key: str) -> list[object]:
    """The value of one entity key in each prediction (None where absent)."""
    return [entity.get(key) for entity in frame["entity"]]
