"""Distinct counts: exact (a set) and approximate (a HyperLogLog sketch)."""

from __future__ import annotations

from typing import Any

import numpy as np
from datasketches import hll_sketch, hll_union

from upwell.definitions.aggregations import Aggregation, ApproxDistinctCount, DistinctCount
from upwell.engine.aggregations.base import AggregationImpl, ColumnarQuery, kept_slices, kept_values
from upwell.engine.entity_state import EntityState
from upwell.engine.plan import FeaturePlan


class DistinctImpl:
    """:class:`~upwell.definitions.aggregations.DistinctCount`: exact."""

    def online(self, state: EntityState, plan: FeaturePlan, a: int, b: int, lifetime: bool) -> Any:  # noqa: D102
        values = set(kept_values(state, plan.channels[0], a, b))
        if lifetime:
            values |= state.base.get(plan.index, set())
        return len(values)

    def fold(self, base: Any, state: EntityState, plan: FeaturePlan, n: int) -> Any:  # noqa: D102
        return (base or set()) | set(kept_values(state, plan.channels[0], 0, n))

    def columnar(self, query: ColumnarQuery, plan: FeaturePlan) -> np.ndarray:  # noqa: D102
        channel = query.events.channels[plan.channels[0]]
        kept_vals = channel.values[channel.kept]
        start, stop = kept_slices(query, plan.channels[0])
        out = np.zeros(start.shape, dtype=np.int64)
        for i in np.flatnonzero(stop > start):
            out[i] = len(set(kept_vals[start[i] : stop[i]].tolist()))
        return out


def _sketch(values: list[Any], lg_k: int) -> hll_sketch:
    sketch = hll_sketch(lg_k)
    for value in values:
        sketch.update(repr(value) if not isinstance(value, str | int | float) else value)
    return sketch


def _estimate(values: list[Any], base: hll_sketch | None, lg_k: int) -> float:
    sketch = _sketch(values, lg_k)
    if base is None:
        return float(sketch.get_estimate())
    union = hll_union(lg_k)
    union.update(base)
    union.update(sketch)
    return float(union.get_result().get_estimate())


class ApproxDistinctImpl:
    """:class:`~upwell.definitions.aggregations.ApproxDistinctCount` (HyperLogLog).

    Lifetime windows keep a sketch of evicted values, so memory stays bounded.
    """

    def online(self, state: EntityState, plan: FeaturePlan, a: int, b: int, lifetime: bool) -> Any:  # noqa: D102
        agg = plan.aggregation
        assert isinstance(agg, ApproxDistinctCount)  # noqa: S101 (dispatched by type)
        base = state.base.get(plan.index) if lifetime else None
        return _estimate(kept_values(state, plan.channels[0], a, b), base, agg.lg_k)

    def fold(self, base: Any, state: EntityState, plan: FeaturePlan, n: int) -> Any:  # noqa: D102
        agg = plan.aggregation
        assert isinstance(agg, ApproxDistinctCount)  # noqa: S101 (dispatched by type)
        union = hll_union(agg.lg_k)
        if base is not None:
            union.update(base)
        union.update(_sketch(kept_values(state, plan.channels[0], 0, n), agg.lg_k))
        return union.get_result()

    def columnar(self, query: ColumnarQuery, plan: FeaturePlan) -> np.ndarray:  # noqa: D102
        agg = plan.aggregation
        assert isinstance(agg, ApproxDistinctCount)  # noqa: S101 (dispatched by type)
        channel = query.events.channels[plan.channels[0]]
        kept_vals = channel.values[channel.kept]
        start, stop = kept_slices(query, plan.channels[0])
        out = np.zeros(start.shape, dtype=np.float64)
        for i in np.flatnonzero(stop > start):
            out[i] = _estimate(kept_vals[start[i] : stop[i]].tolist(), None, agg.lg_k)
        return out


IMPLEMENTATIONS: dict[type[Aggregation], AggregationImpl] = {
    DistinctCount: DistinctImpl(),
    ApproxDistinctCount: ApproxDistinctImpl(),
}
