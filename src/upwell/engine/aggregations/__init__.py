"""Aggregation implementations, looked up by spec type."""

from __future__ import annotations

from upwell.definitions.aggregations import Aggregation
from upwell.engine.aggregations import distinct, extremes, ordered, percentile, sums
from upwell.engine.aggregations.base import AggregationImpl, ColumnarQuery

_IMPLEMENTATIONS: dict[type[Aggregation], AggregationImpl] = {
    **sums.IMPLEMENTATIONS,
    **extremes.IMPLEMENTATIONS,
    **ordered.IMPLEMENTATIONS,
    **distinct.IMPLEMENTATIONS,
    **percentile.IMPLEMENTATIONS,
}


def implementation(spec: Aggregation) -> AggregationImpl:
    """The implementation of an aggregation spec.

    Args:
        spec: The spec.

    Returns:
        Its implementation.
    """
    return _IMPLEMENTATIONS[type(spec)]


__all__ = ["AggregationImpl", "ColumnarQuery", "implementation"]
