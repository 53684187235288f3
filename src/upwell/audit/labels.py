"""Late labels: the contract of a label store, and the join of labels to predictions.

A label says what really happened for one join key (a request id, or an entity key such
as a transaction id), and when that became known. Several labels may arrive for one key
(corrections); the *latest* wins: the one with the highest ``ts``, and of those the one
stored last. Keys are strings; an integer key ``42`` is ``"42"``.

Contract of a :class:`LabelStore`:

- ``add(labels)`` stores labels; they are durable when it returns.
- ``read(keys, as_of_ms)`` returns the latest label of each key (only labels known at
  ``as_of_ms`` when given) as a DataFrame with columns ``key``, ``label``, ``ts``.
- ``query(sql)`` runs SQL in which ``labels`` holds every stored label (superseded ones
  too) with columns ``seq``, ``key``, ``label``, ``ts``.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterable
from typing import Any, Protocol

import numpy as np
import pandas as pd
import pyarrow as pa

from upwell.audit.errors import AuditError
from upwell.audit.records import LABEL_SCHEMA, Label
from upwell.audit.sql_views import TableSource, run_sql
from upwell.audit.tables import label_frame, labels_to_table, to_datetime

__all__ = [
    "LATEST_LABELS_SQL",
    "REQUEST_ID",
    "LabelStore",
    "MemoryLabelStore",
    "join_keys",
    "join_labels",
    "labels_from_frame",
    "read_latest",
]

REQUEST_ID = "request_id"
"""Join on the prediction's request id (the default); any other name is an entity key."""

LATEST_LABELS_SQL = (
    "SELECT key, label, ts FROM labels {where} "
    "QUALIFY row_number() OVER (PARTITION BY key ORDER BY ts DESC, seq DESC) = 1 ORDER BY key"
)
"""DuckDB query of the latest label per key (``{where}`` filters keys and time)."""


class LabelStore(Protocol):
    """Durable storage of late labels."""

    def add(self, labels: Iterable[Label]) -> int:
        """Store labels, durable on return; returns how many."""
        ...

    def read(
        self, keys: Collection[str] | None = None, *, as_of_ms: int | None = None
    ) -> pd.DataFrame:
        """The latest label of each key (of ``keys`` if given) known at ``as_of_ms``."""
        ...

    def query(self, sql: str) -> pa.Table:
        """Run SQL in which ``labels`` holds every stored label."""
        ...

    def close(self) -> None:
        """Release resources."""
        ...


def labels_from_frame(frame: pd.DataFrame, *, key: str, label: str, ts: str) -> list[Label]:
    """Labels from the columns of a DataFrame.

    Args:
        frame: One row per label.
        key: Column of the join key (converted to strings).
        label: Column of the outcome.
        ts: Column of when the label became known: epoch milliseconds, or datetimes
            (naive ones are read as UTC).

    Returns:
        The labels.

    Raises:
        AuditError: If a column is missing or a value is invalid.
    """
    missing = [c for c in (key, label, ts) if c not in frame.columns]
    if missing:
        msg = f"missing column(s) {missing}"
        raise AuditError(msg, where="labels_from_frame", fix="name the key, label and ts columns.")
    stamps = frame[ts]
    if pd.api.types.is_datetime64_any_dtype(stamps):
        utc = pd.to_datetime(stamps, utc=True)
        ms = utc.dt.as_unit("ms").astype("int64").to_numpy()
    else:
        ms = stamps.to_numpy(dtype=np.int64)
    return [
        Label(key=str(k), label=float(v), ts_ms=int(t))
        for k, v, t in zip(frame[key].tolist(), frame[label].tolist(), ms.tolist(), strict=True)
    ]


def join_keys(predictions: pd.DataFrame, on: str = REQUEST_ID) -> pd.Series:
    """The label key of each prediction, as strings (None where the entity lacks ``on``).

    Args:
        predictions: As returned by a prediction log's ``read()``.
        on: :data:`REQUEST_ID`, or the name of an entity key.

    Returns:
        A Series aligned with ``predictions``.
    """
    if on == REQUEST_ID:
        return predictions[REQUEST_ID].astype(str)
    values = [entity.get(on) for entity in predictions["entity"]]
    return pd.Series(
        [None if v is None else str(v) for v in values], index=predictions.index, dtype=object
    )


def join_labels(
    predictions: pd.DataFrame, labels: pd.DataFrame, on: str = REQUEST_ID
) -> pd.DataFrame:
    """Predictions with the latest label of each, where one is known.

    Args:
        predictions: As returned by a prediction log's ``read()``.
        labels: Columns ``key``, ``label``, ``ts`` (several per key allowed: the latest
            ``ts`` wins, then the later row).
        on: :data:`REQUEST_ID`, or the name of an entity key holding the label key.

    Returns:
        ``predictions`` (same order and index) plus ``label`` (NaN when unknown) and
        ``label_ts`` (the label's ``ts``, NaT when unknown).
    """
    latest = labels.sort_values("ts", kind="stable").drop_duplicates("key", keep="last")
    right = pd.DataFrame(
        {
            "key": latest["key"].astype(object).to_numpy(),
            "label": latest["label"].to_numpy(dtype=np.float64),
            "label_ts": latest["ts"].array,
        }
    )
    left = pd.DataFrame({"key": join_keys(predictions, on).to_numpy(dtype=object)})
    merged = left.merge(right, on="key", how="left", validate="many_to_one")
    joined = predictions.copy()
    joined["label"] = merged["label"].to_numpy(dtype=np.float64)
    joined["label_ts"] = pd.Series(merged["label_ts"].array, index=predictions.index)
    return joined


def read_latest(
    source: TableSource, keys: Collection[str] | None, as_of_ms: int | None, where: str
) -> pd.DataFrame:
    """The latest label per key from labels stored in Parquet files and memory.

    Args:
        source: The stored labels (rows of :data:`~upwell.audit.records.LABEL_SCHEMA`).
        keys: Only these keys (None: all).
        as_of_ms: Only labels with ``ts <= as_of_ms`` (None: all).
        where: Names the caller in error messages.

    Returns:
        Columns ``key``, ``label``, ``ts``, one row per key, ordered by key.
    """
    tables = {"labels": source}
    terms: list[str] = []
    params: list[Any] = []
    if keys is not None:
        wanted = pa.table({"key": pa.array(list(keys), pa.string())})
        tables["wanted"] = TableSource(wanted.schema, (), wanted)
        terms.append("key IN (SELECT key FROM wanted)")
    if as_of_ms is not None:
        terms.append("ts <= $1")
        params.append(to_datetime(as_of_ms))
    clause = ("WHERE " + " AND ".join(terms)) if terms else ""
    table = run_sql(tables, LATEST_LABELS_SQL.format(where=clause), params=params, where=where)
    return label_frame(table.cast(LABEL_SCHEMA.remove(0)))


class MemoryLabelStore:
    """Labels in memory: for tests and short-lived processes (nothing survives exit)."""

    def __init__(self) -> None:
        self._labels: list[Label] = []
        self._lock = threading.Lock()

    def add(self, labels: Iterable[Label]) -> int:
        """Store labels.

        Args:
            labels: The labels.

        Returns:
            How many were stored.
        """
        batch = list(labels)
        with self._lock:
            self._labels.extend(batch)
        return len(batch)

    def _source(self) -> TableSource:
        with self._lock:
            labels = list(self._labels)
        table = labels_to_table(range(1, len(labels) + 1), labels)
        return TableSource(LABEL_SCHEMA, (), table)

    def read(
        self, keys: Collection[str] | None = None, *, as_of_ms: int | None = None
    ) -> pd.DataFrame:
        """The latest label of each key known at ``as_of_ms``.

        Args:
            keys: Only these keys (None: all).
            as_of_ms: Only labels with ``ts <= as_of_ms`` (None: all).

        Returns:
            Columns ``key``, ``label``, ``ts``.
        """
        return read_latest(self._source(), keys, as_of_ms, "MemoryLabelStore.read")

    def query(self, sql: str) -> pa.Table:
        """Run DuckDB SQL in which ``labels`` holds every stored label.

        Args:
            sql: The query.

        Returns:
            The result.
        """
        return run_sql({"labels": self._source()}, sql, where="MemoryLabelStore.query")

    def close(self) -> None:
        """Nothing to release."""
