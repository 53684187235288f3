"""Min and max: exact, from a slice online and from a sparse table in columnar form."""

from __future__ import annotations

from typing import Any

import numpy as np

from upwell.definitions.aggregations import Aggregation, Max, Min
from upwell.engine.aggregations.base import AggregationImpl, ColumnarQuery, kept_slices, kept_values
from upwell.engine.entity_state import EntityState
from upwell.engine.plan import FeaturePlan


class ExtremeImpl:
    """:class:`~upwell.definitions.aggregations.Min` or ``Max``; null for an empty window."""

    def __init__(self, largest: bool) -> None:
        self._pick = max if largest else min
        self._reduce = np.maximum if largest else np.minimum
        self._largest = largest

    def online(self, state: EntityState, plan: FeaturePlan, a: int, b: int, lifetime: bool) -> Any:  # noqa: D102
        values = kept_values(state, plan.channels[0], a, b)
        base = state.base.get(plan.index) if lifetime else None
        if base is not None:
            values.append(base)
        return self._pick(values) if values else None

    def fold(self, base: Any, state: EntityState, plan: FeaturePlan, n: int) -> Any:  # noqa: D102
        values = kept_values(state, plan.channels[0], 0, n)
        if base is not None:
            values.append(base)
        return self._pick(values) if values else None

    def columnar(self, query: ColumnarQuery, plan: FeaturePlan) -> np.ndarray:  # noqa: D102
        channel = query.events.channels[plan.channels[0]]
        kept_vals = channel.values[channel.kept]
        start, stop = kept_slices(query, plan.channels[0])
        out = np.full(start.shape, None, dtype=object)
        nonempty = stop > start
        if not nonempty.any():
            return out
        if kept_vals.dtype.kind != "f":
            for i in np.flatnonzero(nonempty):
                out[i] = self._pick(kept_vals[start[i] : stop[i]].tolist())
            return out
        out[nonempty] = _range_reduce(kept_vals, start[nonempty], stop[nonempty], self._reduce)
        return out


def _range_reduce(
    values: np.ndarray, start: np.ndarray, stop: np.ndarray, reduce: Any
) -> np.ndarray:
    """Reduce ``values[start:stop]`` for many ranges with a sparse table (idempotent ops)."""
    lengths = stop - start
    levels = [values]
    width = 1
    while width * 2 <= int(lengths.max()):
        prev = levels[-1]
        levels.append(reduce(prev[: prev.size - width], prev[width:]))
        width *= 2
    level = np.floor(np.log2(lengths)).astype(np.int64)
    out = np.empty(start.shape, dtype=values.dtype)
    for k in np.unique(level):
        rows = level == k
        table = levels[k]
        s, e = start[rows], stop[rows] - (1 << int(k))
        out[rows] = reduce(table[s], table[e])
    return out


IMPLEMENTATIONS: dict[type[Aggregation], AggregationImpl] = {
    Min: ExtremeImpl(largest=False),
    Max: ExtremeImpl(largest=True),
}
