"""Lineage: where a feature value or a prediction came from.

For a feature of an entity as of a time, :func:`feature_lineage` names the definitions'
fingerprint, the feature's group, its source, aggregation, window and filter, and lists
the logged events of that entity the window covers (each marked ``counted`` when it
passes the feature's ``where`` filter). A batch feature lists the loaded rows of the
entity up to that time; a request-time feature lists the lineage of its inputs.

For a logged prediction, :func:`prediction_lineage` adds the model, its version, the
fingerprint the version was registered with, and the lineage of every input feature as
of the prediction's time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from upwell.definitions.batch import BatchFeatures
from upwell.definitions.feature_view import FeatureView
from upwell.definitions.registry import Registry
from upwell.definitions.request import RequestFeatureView, RequestSource
from upwell.definitions.source import EventSource
from upwell.engine.windows import window_bounds
from upwell.eventlog.erase import matching
from upwell.serving.errors import RequestError
from upwell.serving.subjects import typed_key

ReadSource = Callable[[EventSource], pa.Table]
"""Every logged event of a source (timestamps in epoch ms, with ``__seq__``)."""
ReadBatch = Callable[[BatchFeatures], pa.Table | None]
"""Every loaded row of a batch group."""


def feature_lineage(
    registry: Registry,
    ref: str,
    row: Mapping[str, Any],
    as_of_ms: int,
    read_source: ReadSource,
    read_batch: ReadBatch,
) -> dict[str, Any]:
    """The lineage of one feature of one entity as of a time.

    Args:
        registry: The definitions.
        ref: The qualified feature name (``view.feature``).
        row: The entity's key columns (and request fields).
        as_of_ms: The read time.
        read_source: Reads a source's logged events.
        read_batch: Reads a batch group's loaded rows.

    Returns:
        A JSON-ready dict (see the module).
    """
    group = registry.group_of(ref)
    name = ref.partition(".")[2]
    out: dict[str, Any] = {
        "feature": ref,
        "definitions": registry.fingerprint,
        "as_of_ms": as_of_ms,
    }
    if isinstance(group, FeatureView):
        out.update(_window_lineage(registry, group, name, row, as_of_ms, read_source))
    elif isinstance(group, BatchFeatures):
        key = typed_key(registry, group.entity, row)
        table = read_batch(group)
        rows = [] if table is None else _rows(table.filter(matching(table, key)))
        out.update(
            kind="batch",
            entity=group.entity.name,
            key=key,
            rows=[r for r in rows if int(r[group.valid_from]) <= as_of_ms],
        )
    elif isinstance(group, RequestFeatureView):
        feature = next(f for f in group.features if f.name == name)
        out.update(
            kind="request",
            inputs=[
                feature_lineage(registry, i, row, as_of_ms, read_source, read_batch)
                for i in feature.inputs
            ],
        )
    elif isinstance(group, RequestSource):
        out.update(kind="request_field", value=row.get(name))
    return out


def _window_lineage(
    registry: Registry,
    view: FeatureView,
    name: str,
    row: Mapping[str, Any],
    as_of_ms: int,
    read_source: ReadSource,
) -> dict[str, Any]:
    feature = next(f for f in view.features if f.name == name)
    source = view.source
    key = typed_key(registry, view.entity, row)
    low, high = window_bounds(feature.window_spec, feature.offset_ms, as_of_ms)
    table = read_source(source)
    table = table.filter(matching(table, key))
    ts = table[source.timestamp]
    inside = pc.less_equal(ts, high)
    if low is not None:
        inside = pc.and_(inside, pc.greater(ts, low))
    events = _rows(table.filter(inside))
    for event in events:
        event["counted"] = feature.where is None or bool(feature.where.evaluate(event))
    return {
        "kind": "window",
        "view": view.name,
        "entity": view.entity.name,
        "key": key,
        "source": source.name,
        "aggregation": repr(feature.aggregation),
        "window": {"after_ms": low, "up_to_ms": high},
        "where": None if feature.where is None else repr(feature.where),
        "events": events,
    }


def _rows(table: pa.Table) -> list[dict[str, Any]]:
    return [dict(r) for r in table.to_pylist()]


def prediction_lineage(
    registry: Registry,
    prediction: Mapping[str, Any],
    version: Mapping[str, Any],
    refs: tuple[str, ...],
    read_source: ReadSource,
    read_batch: ReadBatch,
) -> dict[str, Any]:
    """The lineage of a logged prediction.

    Args:
        registry: The definitions.
        prediction: The logged prediction (request id, model, version, ``ts_ms``, entity,
            features, score).
        version: The model version's metadata (its JSON form).
        refs: The qualified names of the model's input features, in input order.
        read_source: Reads a source's logged events.
        read_batch: Reads a batch group's loaded rows.

    Returns:
        A JSON-ready dict: the prediction, the model version and its fingerprint, and
        each input feature's lineage as of the prediction's time.
    """
    ts = int(prediction["ts_ms"])
    row = dict(prediction["entity"])
    return {
        "prediction": dict(prediction),
        "model": prediction["model"],
        "version": prediction["version"],
        "definitions": registry.fingerprint,
        "registered_with_definitions": version.get("definitions_fingerprint"),
        "features": [feature_lineage(registry, r, row, ts, read_source, read_batch) for r in refs],
    }


def logged_prediction(log: Any, request_id: str, model: str | None = None) -> dict[str, Any]:
    """The last logged prediction of a request id (of a model, if given).

    Args:
        log: The prediction log (``read()`` as :class:`~upwell.audit.PredictionLog`).
        request_id: The request id.
        model: Only this model's predictions.

    Returns:
        The prediction with ``ts_ms`` (epoch ms) in place of ``ts``.

    Raises:
        UnknownPredictionError: No prediction of that request id is logged.
    """
    log.flush()
    frame = log.read(model=model)
    found = frame[frame["request_id"] == request_id]
    if found.empty:
        msg = f"no logged prediction has request id {request_id!r}"
        raise UnknownPredictionError(
            msg, where="request_id", fix="check the id; erased predictions are gone for good"
        )
    record = found.iloc[-1].to_dict()
    ts = record.pop("ts")
    record["ts_ms"] = int(ts.value // 1_000_000)
    return {k: _plain(v) for k, v in record.items()}


def _plain(value: Any) -> Any:
    item = getattr(value, "item", None)
    return item() if callable(item) and not isinstance(value, str | bytes) else value


class UnknownPredictionError(RequestError):
    """No logged prediction has the request id."""

    not_found = True
