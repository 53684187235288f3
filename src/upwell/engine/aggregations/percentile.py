"""Approximate percentiles: exact over raw values, a KLL sketch for evicted ones."""

from __future__ import annotations

from typing import Any

import numpy as np
from datasketches import kll_doubles_sketch

from upwell.definitions.aggregations import Aggregation, ApproxPercentile
from upwell.engine.aggregations.base import AggregationImpl, ColumnarQuery, kept_slices, kept_values
from upwell.engine.entity_state import EntityState
from upwell.engine.plan import FeaturePlan


def _exact_quantile(values: list[float], q: float) -> float | None:
    """The quantile KLL returns while it is exact: the value of rank ``floor(q * n)``.

    KLL compacts with random choices once it holds more than ``k`` values, so two
    sketches of the same values can disagree; computed from the raw values, the
    per-event and columnar paths give one answer (within any sketch's error bound).
    """
    if not values:
        return None
    ordered = sorted(values)
    return float(ordered[min(int(q * len(ordered)), len(ordered) - 1)])


def _quantile(values: list[float], base: kll_doubles_sketch | None, agg: ApproxPercentile) -> Any:
    if base is None:
        return _exact_quantile(values, agg.q)
    sketch = kll_doubles_sketch(agg.k)
    sketch.merge(base)
    for value in values:
        sketch.update(value)
    return None if sketch.is_empty() else float(sketch.get_quantile(agg.q))


class PercentileImpl:
    """:class:`~upwell.definitions.aggregations.ApproxPercentile`.

    Exact over the raw values a window holds; lifetime windows keep a KLL sketch of
    evicted values, so memory stays bounded, and merge it with the retained values.
    """

    def online(self, state: EntityState, plan: FeaturePlan, a: int, b: int, lifetime: bool) -> Any:  # noqa: D102
        agg = plan.aggregation
        assert isinstance(agg, ApproxPercentile)  # noqa: S101 (dispatched by type)
        base = state.base.get(plan.index) if lifetime else None
        return _quantile(kept_values(state, plan.channels[0], a, b), base, agg)

    def fold(self, base: Any, state: EntityState, plan: FeaturePlan, n: int) -> Any:  # noqa: D102
        agg = plan.aggregation
        assert isinstance(agg, ApproxPercentile)  # noqa: S101 (dispatched by type)
        sketch = kll_doubles_sketch(agg.k)
        if base is not None:
            sketch.merge(base)
        for value in kept_values(state, plan.channels[0], 0, n):
            sketch.update(value)
        return sketch

    def columnar(self, query: ColumnarQuery, plan: FeaturePlan) -> np.ndarray:  # noqa: D102
        agg = plan.aggregation
        assert isinstance(agg, ApproxPercentile)  # noqa: S101 (dispatched by type)
        channel = query.events.channels[plan.channels[0]]
        kept_vals = channel.values[channel.kept]
        start, stop = kept_slices(query, plan.channels[0])
        out = np.full(start.shape, np.nan)
        for i in np.flatnonzero(stop > start):
            out[i] = _quantile(kept_vals[start[i] : stop[i]].tolist(), None, agg)
        return out


IMPLEMENTATIONS: dict[type[Aggregation], AggregationImpl] = {ApproxPercentile: PercentileImpl()}
