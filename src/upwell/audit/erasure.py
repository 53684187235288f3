"""Erasing an entity from the audit: its predictions, and the labels joined to them.

A prediction belongs to an entity when its ``entity`` holds every key of the erasure
with an equal value (``{"CUSTOMER_ID": 42}`` matches ``{"CUSTOMER_ID": 42,
"TERMINAL_ID": 7}``; a key given as text matches the number). Its labels are those keyed
by its request id, or by the entity's key value when labels join on that key.

The embedded log is first flushed and rolled, so every record is in a Parquet file and
``wal.log`` is empty; each file holding a matching record is then rewritten without it
(temporary file, sync, rename) while the log's writer waits. A file keeps its name even
when empty, so positions are never reused. Running an interrupted erasure again
completes it.
"""

from __future__ import annotations

import numbers
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from upwell.audit.errors import AuditError
from upwell.audit.labels import LabelStore, MemoryLabelStore
from upwell.audit.log_protocol import PredictionLog
from upwell.audit.memory_log import MemoryPredictionLog
from upwell.audit.parquet_labels import ParquetLabelStore
from upwell.audit.parquet_log import ParquetPredictionLog
from upwell.audit.segments import live_segments, publish, segment_range, write_temp
from upwell.audit.tables import ROW_FIELDS

__all__ = ["ErasedPredictions", "entity_matches", "erase_labels", "erase_predictions"]

_ENTITY = ROW_FIELDS.index("entity")


@dataclass(frozen=True)
class ErasedPredictions:
    """What erasing predictions removed.

    Args:
        count: How many predictions.
        request_ids: Their request ids (to erase the labels joined to them).
    """

    count: int
    request_ids: frozenset[str]


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return str(a) == str(b)
    if isinstance(a, numbers.Real) and isinstance(b, numbers.Real):
        return bool(a == b)
    return str(a) == str(b)


def entity_matches(entity: Mapping[str, Any] | str | None, key: Mapping[str, Any]) -> bool:
    """Whether a prediction's entity holds every key value.

    Args:
        entity: The prediction's entity, as a dict or its JSON text.
        key: Key name to value.

    Returns:
        True if every key is present with an equal value.

    >>> entity_matches('{"CUSTOMER_ID": 42, "TERMINAL_ID": 7}', {"CUSTOMER_ID": "42"})
    True
    >>> entity_matches({"CUSTOMER_ID": 4}, {"CUSTOMER_ID": 42})
    False
    """
    values = orjson.loads(entity) if isinstance(entity, str) else entity
    if not isinstance(values, Mapping):
        return False
    return all(name in values and _same(values[name], v) for name, v in key.items())


def erase_predictions(log: PredictionLog, key: Mapping[str, Any]) -> ErasedPredictions:
    """Remove every prediction whose entity holds the key values.

    Args:
        log: The prediction log (embedded Parquet, or in memory).
        key: Key name to value, e.g. ``{"CUSTOMER_ID": 42}``.

    Returns:
        How many were removed, and their request ids.

    Raises:
        AuditError: The log is of a kind that cannot erase (PostgreSQL: delete with SQL).
    """
    if isinstance(log, ParquetPredictionLog):
        return _erase_parquet(log, key)
    if isinstance(log, MemoryPredictionLog):
        # the logs' own locks are taken, as their writers take them
        with log._lock:
            gone = [r for r in log._rows if entity_matches(r[_ENTITY], key)]
            log._rows[:] = [r for r in log._rows if not entity_matches(r[_ENTITY], key)]
        return ErasedPredictions(len(gone), frozenset(str(r[0]) for r in gone))
    msg = f"a {type(log).__name__} cannot erase predictions"
    raise AuditError(
        msg,
        where="erase_predictions",
        fix="delete the rows in the database: DELETE FROM <table> WHERE entity->>'<key>' = ...",
    )


def _erase_parquet(log: ParquetPredictionLog, key: Mapping[str, Any]) -> ErasedPredictions:
    log.flush()
    while True:
        log.roll()
        with log._io:  # no write or roll while files are replaced
            if log._tail:  # records arrived since the roll: roll them too
                continue
            count, ids = 0, set[str]()
            for path in log._disk.files():
                table = pq.read_table(path)
                entities = table.column("entity").to_pylist()
                drop = [entity_matches(e, key) for e in entities]
                if any(drop):
                    request_ids = table.column("request_id").to_pylist()
                    ids.update(r for r, d in zip(request_ids, drop, strict=True) if d)
                    count += sum(drop)
                    _replace(log, path, table.filter(pa.array([not d for d in drop])))
            return ErasedPredictions(count, frozenset(ids))


def _replace(log: ParquetPredictionLog, path: Path, table: pa.Table) -> None:
    first, last = segment_range(path)
    temp, final = write_temp(path.parent, table, first, last)
    with log._view:
        publish([(temp, final)])


def erase_labels(labels: LabelStore, keys: Collection[str]) -> int:
    """Remove every label whose key is one of ``keys``.

    Args:
        labels: The label store (embedded Parquet, or in memory).
        keys: The keys (request ids, or entity key values as text).

    Returns:
        How many labels were removed.

    Raises:
        AuditError: The store is of a kind that cannot erase.
    """
    wanted = {str(k) for k in keys}
    if not wanted:
        return 0
    if isinstance(labels, MemoryLabelStore):
        with labels._lock:
            before = len(labels._labels)
            labels._labels[:] = [x for x in labels._labels if x.key not in wanted]
            return before - len(labels._labels)
    if isinstance(labels, ParquetLabelStore):
        removed = 0
        with labels._mutex:
            root = labels.directory / "labels"
            for path in live_segments(root) if root.exists() else []:
                table = pq.read_table(path)
                drop = [k in wanted for k in table.column("key").to_pylist()]
                if any(drop):
                    removed += sum(drop)
                    _publish_label_segment(path, table.filter(pa.array([not d for d in drop])))
        return removed
    msg = f"a {type(labels).__name__} cannot erase labels"
    raise AuditError(msg, where="erase_labels", fix="delete the rows in the database")


def _publish_label_segment(path: Path, table: pa.Table) -> None:
    first, last = segment_range(path)
    publish([write_temp(path.parent, table, first, last)])
