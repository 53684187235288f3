"""Aggregations computed from prefix sums: count, sum, mean, variance, stddev, ratio."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from upwell.definitions.aggregations import (
    Aggregation,
    Count,
    Mean,
    RatioOfSums,
    Stddev,
    Sum,
    Variance,
)
from upwell.engine.aggregations.base import AggregationImpl, ColumnarQuery
from upwell.engine.columnar_events import window_diff
from upwell.engine.entity_state import EntityState
from upwell.engine.plan import FeaturePlan


def _count(state: EntityState, c: int, a: int, b: int, lifetime: bool) -> int:
    prefix = state.count[c]
    return prefix[b] - (0 if lifetime else prefix[a])


def _total(state: EntityState, c: int, a: int, b: int, lifetime: bool) -> float:
    prefix = state.total[c]
    return prefix[b] - (0.0 if lifetime else prefix[a])


def _columnar_count(query: ColumnarQuery, c: int) -> np.ndarray:
    channel = query.events.channels[c]
    return window_diff(channel.counts, query.a, query.b, query.group_start, 0)


def _columnar_total(query: ColumnarQuery, c: int, name: str = "totals") -> np.ndarray:
    prefix = getattr(query.events.channels[c], name)
    return window_diff(prefix, query.a, query.b, query.group_start, 0.0)


class _PrefixOnly:
    """Sum-family aggregations need no lifetime base: prefix sums are absolute."""

    def fold(self, base: Any, state: EntityState, plan: FeaturePlan, n: int) -> Any:
        return base


class CountImpl(_PrefixOnly):
    """:class:`~upwell.definitions.aggregations.Count`."""

    def online(self, state: EntityState, plan: FeaturePlan, a: int, b: int, lifetime: bool) -> Any:  # noqa: D102
        return _count(state, plan.channels[0], a, b, lifetime)

    def columnar(self, query: ColumnarQuery, plan: FeaturePlan) -> np.ndarray:  # noqa: D102
        return _columnar_count(query, plan.channels[0])


class SumImpl(_PrefixOnly):
    """:class:`~upwell.definitions.aggregations.Sum`."""

    def online(self, state: EntityState, plan: FeaturePlan, a: int, b: int, lifetime: bool) -> Any:  # noqa: D102
        return _total(state, plan.channels[0], a, b, lifetime)

    def columnar(self, query: ColumnarQuery, plan: FeaturePlan) -> np.ndarray:  # noqa: D102
        return _columnar_total(query, plan.channels[0])


class MeanImpl(_PrefixOnly):
    """:class:`~upwell.definitions.aggregations.Mean`; null for an empty window."""

    def online(self, state: EntityState, plan: FeaturePlan, a: int, b: int, lifetime: bool) -> Any:  # noqa: D102
        c = plan.channels[0]
        n = _count(state, c, a, b, lifetime)
        return _total(state, c, a, b, lifetime) / n if n else None

    def columnar(self, query: ColumnarQuery, plan: FeaturePlan) -> np.ndarray:  # noqa: D102
        n = _columnar_count(query, plan.channels[0])
        total = _columnar_total(query, plan.channels[0])
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(n > 0, total / np.maximum(n, 1), np.nan)


class VarianceImpl(_PrefixOnly):
    """:class:`~upwell.definitions.aggregations.Variance` and ``Stddev`` from shifted sums.

    Sums of ``v - K`` and ``(v - K)**2`` with ``K`` the entity's first kept value keep
    the textbook formula well conditioned.
    """

    def online(self, state: EntityState, plan: FeaturePlan, a: int, b: int, lifetime: bool) -> Any:  # noqa: D102
        c = plan.channels[0]
        n = _count(state, c, a, b, lifetime)
        agg = plan.aggregation
        assert isinstance(agg, Variance)  # noqa: S101 (dispatched by type)
        if n <= agg.ddof:
            return None
        shifted, squares = state.shifted[c], state.shifted_sq[c]
        assert shifted is not None  # noqa: S101 (planned with squares)
        assert squares is not None  # noqa: S101 (planned with squares)
        s = shifted[b] - (0.0 if lifetime else shifted[a])
        q = squares[b] - (0.0 if lifetime else squares[a])
        var = max((q - s * s / n) / (n - agg.ddof), 0.0)
        return math.sqrt(var) if isinstance(agg, Stddev) else var

    def columnar(self, query: ColumnarQuery, plan: FeaturePlan) -> np.ndarray:  # noqa: D102
        c = plan.channels[0]
        agg = plan.aggregation
        assert isinstance(agg, Variance)  # noqa: S101 (dispatched by type)
        n = _columnar_count(query, c)
        s = _columnar_total(query, c, "shifted")
        q = _columnar_total(query, c, "shifted_sq")
        with np.errstate(invalid="ignore", divide="ignore"):
            var = np.maximum((q - s * s / n) / (n - agg.ddof), 0.0)
        var = np.where(n > agg.ddof, var, np.nan)
        return np.sqrt(var) if isinstance(agg, Stddev) else var


class RatioImpl(_PrefixOnly):
    """:class:`~upwell.definitions.aggregations.RatioOfSums`."""

    def online(self, state: EntityState, plan: FeaturePlan, a: int, b: int, lifetime: bool) -> Any:  # noqa: D102
        agg = plan.aggregation
        assert isinstance(agg, RatioOfSums)  # noqa: S101 (dispatched by type)
        num_c, den_c = plan.channels
        num = _total(state, num_c, a, b, lifetime)
        den: float = (
            _count(state, den_c, a, b, lifetime)
            if agg.denominator is None
            else _total(state, den_c, a, b, lifetime)
        )
        return num / den if den else agg.default

    def columnar(self, query: ColumnarQuery, plan: FeaturePlan) -> np.ndarray:  # noqa: D102
        agg = plan.aggregation
        assert isinstance(agg, RatioOfSums)  # noqa: S101 (dispatched by type)
        num_c, den_c = plan.channels
        num = _columnar_total(query, num_c)
        if agg.denominator is None:
            den = _columnar_count(query, den_c).astype(np.float64)
        else:
            den = _columnar_total(query, den_c)
        default = np.nan if agg.default is None else agg.default
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(den != 0, num / np.where(den != 0, den, 1.0), default)


IMPLEMENTATIONS: dict[type[Aggregation], AggregationImpl] = {
    Count: CountImpl(),
    Sum: SumImpl(),
    Mean: MeanImpl(),
    Variance: VarianceImpl(),
    Stddev: VarianceImpl(),
    RatioOfSums: RatioImpl(),
}
