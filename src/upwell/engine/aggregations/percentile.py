"""Approximate percentiles from a KLL sketch."""

from __future__ import annotations

from typing import Any

import numpy as np
from datasketches import kll_doubles_sketch

from upwell.definitions.aggregations import Aggregation, ApproxPercentile
from upwell.engine.aggregations.base import AggregationImpl, ColumnarQuery, kept_slices, kept_values
from upwell.engine.entity_state import EntityState
from upwell.engine.plan import FeaturePlan


def _quantile(values: list[float], base: kll_doubles_sketch | None, agg: ApproxPercentile) -> Any:
    sketch = kll_doubles_sketch(agg.k)
    if base is not None:
        sketch.merge(base)
    for value in values:
        sketch.update(value)
    return None if sketch.is_empty() else float(sketch.get_quantile(agg.q))


class PercentileImpl:
    """:class:`~upwell.definitions.aggregations.ApproxPercentile` (KLL; exact below k values).

    Lifetime windows keep a sketch of evicted values, so memory stays bounded.
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
