"""Online feature vectors: stored window features, batch rows and request-time values."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from upwell.definitions.batch import BatchFeatures
from upwell.definitions.registry import Registry
from upwell.definitions.request import RequestSource
from upwell.definitions.types import FieldType
from upwell.engine import request_features
from upwell.ingest.errors import EventError
from upwell.ingest.values import convert, datetime_from_ms
from upwell.serving.errors import RequestError
from upwell.serving.feature_plan import FeatureRequestPlan
from upwell.stores.protocol import OnlineStore


def read_online(
    registry: Registry,
    store: OnlineStore,
    plan: FeatureRequestPlan,
    rows: Sequence[Mapping[str, Any]],
    as_of: int,
) -> list[list[Any]]:
    """Feature values for each entity row, as of a time.

    Args:
        registry: The definitions.
        store: The online store.
        plan: What to read (see :func:`~upwell.serving.feature_plan.plan_request`).
        rows: Entity rows: the entities' keys plus request fields by their bare names.
        as_of: Read time, ms.

    Returns:
        One list per row with the values of ``plan.refs``, in that order.

    Raises:
        RequestError: A row lacks a key or request field, or a field has a bad value.
    """
    values: list[dict[str, Any]] = [{} for _ in rows]
    requests = [
        (view, [_key(row, plan.key_sets[view], i) for i, row in enumerate(rows)])
        for view in plan.view_outputs
    ]
    found_by_view = store.read_many(requests, as_of) if requests else []
    for (view, _keys), found in zip(requests, found_by_view, strict=True):
        pairs = plan.view_outputs[view]
        for out, features in zip(values, found, strict=True):
            for name, ref in pairs:
                out[ref] = features[name]
    for group, names in plan.batches.items():
        _read_batch(registry, store, plan, group, names, rows, values, as_of)
    for source_name, names in plan.request_fields.items():
        source = registry.groups[source_name]
        assert isinstance(source, RequestSource)  # noqa: S101 (planned from the registry)
        for i, (out, row) in enumerate(zip(values, rows, strict=True)):
            for name in names:
                out[f"{source_name}.{name}"] = request_value(source, name, row, i)
    if plan.request_order:
        for out in values:
            request_features.compute(registry, plan.request_order, out)
    refs = plan.refs
    return [[out[ref] for ref in refs] for out in values]


def _read_batch(
    registry: Registry,
    store: OnlineStore,
    plan: FeatureRequestPlan,
    group: str,
    names: list[str],
    rows: Sequence[Mapping[str, Any]],
    values: list[dict[str, Any]],
    as_of: int,
) -> None:
    batch = registry.groups[group]
    assert isinstance(batch, BatchFeatures)  # noqa: S101 (planned from the registry)
    positions = {c: i for i, c in enumerate(batch.schema)}
    keys = [_key(row, plan.key_sets[group], i) for i, row in enumerate(rows)]
    for out, found in zip(values, store.read_batch(group, keys, as_of), strict=True):
        for name in names:
            out[f"{group}.{name}"] = None if found is None else found[positions[name]]


def _key(row: Mapping[str, Any], keys: tuple[str, ...], i: int) -> tuple[Any, ...]:
    try:
        return tuple([row[k] for k in keys])
    except KeyError as error:
        msg = f"entity row lacks key {error.args[0]!r}"
        raise RequestError(
            msg,
            where=f"entity_rows[{i}]",
            fix=f"give every row the keys {list(keys)}",
        ) from None


def request_value(source: RequestSource, name: str, row: Mapping[str, Any], i: int) -> Any:
    """A request field's value from an entity row, checked against its type.

    Timestamps are passed to request feature functions as aware UTC datetimes at
    millisecond precision, as the training-set builder passes them.

    Args:
        source: The request source.
        name: The field.
        row: The entity row.
        i: The row's index, for the error message.

    Returns:
        The value.

    Raises:
        RequestError: The field is missing or invalid.
    """
    if name not in row:
        msg = f"entity row lacks request field {name!r} of request source {source.name!r}"
        raise RequestError(
            msg,
            where=f"entity_rows[{i}]",
            fix=f"add {name!r} to the row",
        )
    kind = source.schema[name]
    try:
        value = convert(row[name], kind, f"entity_rows[{i}].{name}")
    except EventError as error:
        raise RequestError(error.what, where=error.where, fix=error.fix) from None
    return datetime_from_ms(value) if kind is FieldType.TIMESTAMP else value
