"""Evaluation of request-time features, in dependency order."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from upwell.definitions.registry import Registry
from upwell.definitions.request import RequestFeature, RequestFeatureView
from upwell.engine.errors import RequestFeatureError


def request_feature(registry: Registry, ref: str) -> RequestFeature:
    """The request feature a qualified name refers to.

    Args:
        registry: The definitions.
        ref: ``"view.feature"`` of a request feature view.

    Returns:
        The feature.
    """
    return registry.request_features[ref]


def needed_request_features(registry: Registry, refs: tuple[str, ...]) -> tuple[str, ...]:
    """The request features to compute for ``refs``, dependencies first.

    Args:
        registry: The definitions.
        refs: The requested qualified names.

    Returns:
        Request feature names in an order where inputs come first.
    """
    needed: set[str] = set()
    stack = [r for r in refs if isinstance(registry.group_of(r), RequestFeatureView)]
    while stack:
        ref = stack.pop()
        if ref in needed:
            continue
        needed.add(ref)
        for dep in request_feature(registry, ref).inputs:
            if isinstance(registry.group_of(dep), RequestFeatureView):
                stack.append(dep)
    return tuple(r for r in registry.request_order if r in needed)


def inputs_of(registry: Registry, request_refs: tuple[str, ...]) -> set[str]:
    """The non-request inputs (fields and stored features) that request features read.

    Args:
        registry: The definitions.
        request_refs: Request feature names.

    Returns:
        Qualified names.
    """
    deps = set()
    for ref in request_refs:
        for dep in request_feature(registry, ref).inputs:
            if not isinstance(registry.group_of(dep), RequestFeatureView):
                deps.add(dep)
    return deps


def compute(registry: Registry, order: tuple[str, ...], values: MutableMapping[str, Any]) -> None:
    """Compute request features into ``values``, which holds their inputs.

    Args:
        registry: The definitions.
        order: Request features in dependency order (see :func:`needed_request_features`).
        values: Qualified name to value; results are added.

    Raises:
        RequestFeatureError: A feature's function raised.
    """
    for ref in order:
        feature = request_feature(registry, ref)
        args = [values[dep] for dep in feature.inputs]
        try:
            values[ref] = feature.function(*args)
        except Exception as error:
            raise _failed(ref, feature, error) from error


def compute_columns(
    registry: Registry, order: tuple[str, ...], columns: MutableMapping[str, list[Any]]
) -> None:
    """Compute request features for whole columns (the training-set path).

    Each function is called once per row with that row's inputs, exactly as
    :func:`compute` calls it online, feature by feature instead of row by row.

    Args:
        registry: The definitions.
        order: Request features in dependency order.
        columns: Qualified name to a list of values; results are added.

    Raises:
        RequestFeatureError: A feature's function raised.
    """
    for ref in order:
        feature = request_feature(registry, ref)
        function = feature.function
        inputs = [columns[dep] for dep in feature.inputs]
        try:
            columns[ref] = [function(*args) for args in zip(*inputs, strict=True)]
        except Exception as error:
            raise _failed(ref, feature, error) from error


def _failed(ref: str, feature: RequestFeature, error: Exception) -> RequestFeatureError:
    """The error for a request feature's function that raised, on either path."""
    msg = (
        f"function {getattr(feature.function, '__name__', '?')} raised "
        f"{type(error).__name__}: {error}"
    )
    return RequestFeatureError(
        msg,
        where=f"RequestFeature {ref!r}",
        fix="make the function handle every valid input, or validate the request fields",
    )
