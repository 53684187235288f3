"""Point-in-time-correct training sets, with values identical to the online path."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from upwell.definitions.batch import BatchFeatures
from upwell.definitions.registry import Registry
from upwell.definitions.request import RequestSource
from upwell.definitions.source import EventSource
from upwell.definitions.types import FieldType
from upwell.engine import request_features
from upwell.engine.columnar import Anchors, compute_view
from upwell.engine.plan import compile_view
from upwell.serving.errors import RequestError
from upwell.serving.feature_plan import FeatureRequestPlan

SourceReader = Callable[[EventSource], pa.Table]
BatchReader = Callable[[BatchFeatures], pd.DataFrame]


@dataclass(frozen=True)
class AnchorFrame:
    """Rows to compute: columns (keys, request fields), read times, optional log positions."""

    columns: Mapping[str, np.ndarray]
    ts: np.ndarray
    seq: np.ndarray | None = None


def build(
    registry: Registry,
    plan: FeatureRequestPlan,
    anchors: AnchorFrame,
    read_source: SourceReader,
    read_batch: BatchReader,
) -> dict[str, np.ndarray]:
    """Every requested feature for every anchor row.

    Args:
        registry: The definitions.
        plan: What to compute.
        anchors: The rows.
        read_source: Returns a source's logged events (see the event log contract).
        read_batch: Returns a batch group's loaded rows (keys, valid_from ms, columns).

    Returns:
        Qualified name to one value per anchor row.
    """
    out: dict[str, np.ndarray] = {}
    for view_name, names in plan.views.items():
        view = registry.views[view_name]
        table = read_source(view.source)
        events = {n: table[n].to_numpy(zero_copy_only=False) for n in table.column_names}
        keys = [_column(anchors, k) for k in view.entity.keys]
        values = compute_view(
            compile_view(view),
            events,
            events[view.source.timestamp].astype(np.int64),
            events["__seq__"].astype(np.int64),
            Anchors(keys=keys, ts=anchors.ts, seq=anchors.seq),
        )
        for name in names:
            out[f"{view_name}.{name}"] = values[name]
    for group_name, names in plan.batches.items():
        group = registry.batches[group_name]
        out.update(_as_of_join(group, names, anchors, read_batch(group)))
    for source_name, names in plan.request_fields.items():
        source = registry.groups[source_name]
        assert isinstance(source, RequestSource)  # noqa: S101 (planned from the registry)
        for name in names:
            column = _column(anchors, name)
            if source.schema[name] is FieldType.TIMESTAMP:
                column = _datetimes(column)
            out[f"{source_name}.{name}"] = column
    if plan.request_order:
        _request_columns(registry, plan, out, len(anchors.ts))
    return {ref: out[ref] for ref in plan.refs}


def _column(anchors: AnchorFrame, name: str) -> np.ndarray:
    if name not in anchors.columns:
        msg = f"the anchor rows lack column {name!r}"
        raise RequestError(
            msg,
            where="training set",
            fix=f"add {name!r} (an entity key or request field) to the entity DataFrame",
        )
    return np.asarray(anchors.columns[name])


def _request_columns(
    registry: Registry, plan: FeatureRequestPlan, out: dict[str, np.ndarray], n: int
) -> None:
    columns: dict[str, list[Any]] = {
        ref: values.tolist() for ref, values in out.items() if ref not in plan.request_order
    }
    request_features.compute_columns(registry, plan.request_order, columns)
    for ref in plan.request_order:
        result = np.empty(n, dtype=object)
        result[:] = columns[ref]
        out[ref] = result


def _as_of_join(
    group: BatchFeatures, names: list[str], anchors: AnchorFrame, rows: pd.DataFrame
) -> dict[str, np.ndarray]:
    keys = list(group.entity.keys)
    left = pd.DataFrame({k: _column(anchors, k) for k in keys})
    left["__ts__"] = anchors.ts.astype(np.int64)
    left["__row__"] = np.arange(len(left))
    right = rows[[*keys, group.valid_from, *names]].rename(columns={group.valid_from: "__ts__"})
    right = right.astype({"__ts__": np.int64}).sort_values("__ts__", kind="stable")
    merged = pd.merge_asof(
        left.sort_values("__ts__", kind="stable"), right, on="__ts__", by=keys, direction="backward"
    ).sort_values("__row__")
    result = {}
    for name in names:
        values = merged[name].tolist()
        column = np.empty(len(values), dtype=object)
        for i, value in enumerate(values):
            column[i] = None if _is_missing(value) else _plain(value)
        result[f"{group.name}.{name}"] = column
    return result


def _is_missing(value: Any) -> bool:
    """A null left by the as-of join where no row holds yet (NaN, None or NaT)."""
    return value is None or (isinstance(value, float) and value != value)  # noqa: PLR0124


def _plain(value: Any) -> Any:
    """Vectors as lists of floats, as the online path returns them."""
    return value.tolist() if isinstance(value, np.ndarray) else value


def _datetimes(values: np.ndarray) -> np.ndarray:
    """A timestamp request column as aware UTC datetimes, as the online path passes them.

    The column holds epoch milliseconds (read from the event log) or datetimes (from an
    entity DataFrame's timestamp column, in any unit).
    """
    array = np.asarray(values)
    if np.issubdtype(array.dtype, np.integer):
        stamps = pd.to_datetime(array.astype(np.int64), unit="ms", utc=True)
    else:
        stamps = pd.to_datetime(array, utc=True)
    return np.asarray(stamps.to_pydatetime(), dtype=object)
