"""Order-based aggregations: first, last and the last k values."""

from __future__ import annotations

from typing import Any

import numpy as np

from upwell.definitions.aggregations import Aggregation, First, Last, LastK
from upwell.engine.aggregations.base import AggregationImpl, ColumnarQuery, kept_slices, kept_values
from upwell.engine.entity_state import EntityState
from upwell.engine.plan import FeaturePlan


class FirstImpl:
    """:class:`~upwell.definitions.aggregations.First`: earliest by (event time, log position)."""

    def online(self, state: EntityState, plan: FeaturePlan, a: int, b: int, lifetime: bool) -> Any:  # noqa: D102
        base = state.base.get(plan.index) if lifetime else None
        if base is not None:  # None: every evicted event was filtered out
            return base
        return next((v for v in state.values[plan.channels[0]][a:b] if v is not None), None)

    def fold(self, base: Any, state: EntityState, plan: FeaturePlan, n: int) -> Any:  # noqa: D102
        if base is not None:
            return base
        return next((v for v in state.values[plan.channels[0]][:n] if v is not None), None)

    def columnar(self, query: ColumnarQuery, plan: FeaturePlan) -> np.ndarray:  # noqa: D102
        channel = query.events.channels[plan.channels[0]]
        start, stop = kept_slices(query, plan.channels[0])
        return _pick(channel.values, channel.kept, start, stop > start)


class LastImpl:
    """:class:`~upwell.definitions.aggregations.Last`: latest by (event time, log position)."""

    def online(self, state: EntityState, plan: FeaturePlan, a: int, b: int, lifetime: bool) -> Any:  # noqa: D102
        values = state.values[plan.channels[0]]
        for i in range(b - 1, a - 1, -1):
            if values[i] is not None:
                return values[i]
        return state.base.get(plan.index) if lifetime else None

    def fold(self, base: Any, state: EntityState, plan: FeaturePlan, n: int) -> Any:  # noqa: D102
        kept = kept_values(state, plan.channels[0], 0, n)
        return kept[-1] if kept else base

    def columnar(self, query: ColumnarQuery, plan: FeaturePlan) -> np.ndarray:  # noqa: D102
        channel = query.events.channels[plan.channels[0]]
        start, stop = kept_slices(query, plan.channels[0])
        return _pick(channel.values, channel.kept, stop - 1, stop > start)


def _pick(values: np.ndarray, kept: np.ndarray, at: np.ndarray, valid: np.ndarray) -> np.ndarray:
    out = np.full(at.shape, None, dtype=object)
    out[valid] = values[kept[at[valid]]]
    return out


class LastKImpl:
    """:class:`~upwell.definitions.aggregations.LastK`: up to k latest values, oldest first."""

    def online(self, state: EntityState, plan: FeaturePlan, a: int, b: int, lifetime: bool) -> Any:  # noqa: D102
        agg = plan.aggregation
        assert isinstance(agg, LastK)  # noqa: S101 (dispatched by type)
        values = kept_values(state, plan.channels[0], a, b)
        if lifetime and len(values) < agg.k:
            values = list(state.base.get(plan.index, [])) + values
        return values[-agg.k :]

    def fold(self, base: Any, state: EntityState, plan: FeaturePlan, n: int) -> Any:  # noqa: D102
        agg = plan.aggregation
        assert isinstance(agg, LastK)  # noqa: S101 (dispatched by type)
        return (list(base or []) + kept_values(state, plan.channels[0], 0, n))[-agg.k :]

    def columnar(self, query: ColumnarQuery, plan: FeaturePlan) -> np.ndarray:  # noqa: D102
        agg = plan.aggregation
        assert isinstance(agg, LastK)  # noqa: S101 (dispatched by type)
        channel = query.events.channels[plan.channels[0]]
        kept_vals = channel.values[channel.kept]
        start, stop = kept_slices(query, plan.channels[0])
        first = np.maximum(start, stop - agg.k)
        out = np.empty(start.shape, dtype=object)
        for i in range(start.size):
            out[i] = kept_vals[first[i] : stop[i]].tolist()
        return out


IMPLEMENTATIONS: dict[type[Aggregation], AggregationImpl] = {
    First: FirstImpl(),
    Last: LastImpl(),
    LastK: LastKImpl(),
}
