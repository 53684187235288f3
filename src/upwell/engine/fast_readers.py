"""Specialised per-event readers for the prefix-sum aggregations of sliding windows.

The general :class:`~upwell.engine.aggregations.base.AggregationImpl` ``online`` call
is flexible but costs several attribute lookups and calls per feature; the features
that real-time models read most (counts, sums, means, ratios over sliding windows)
get a closure over their channel's prefix lists instead. Each closure performs the
same float operations in the same order as the general implementation, so the values
are identical (the property tests compare both paths).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from upwell.definitions.aggregations import Count, Mean, RatioOfSums, Sum
from upwell.engine.entity_state import EntityState
from upwell.engine.plan import FeaturePlan

Reader = Callable[[EntityState, int, int], Any]
"""Computes a feature from an entity's state and a retained-event range ``[a, b)``."""


def fast_reader(plan: FeaturePlan) -> Reader | None:
    """A specialised reader for a feature, or None where the general path is needed.

    Args:
        plan: The feature's plan.

    Returns:
        The reader, or None for lifetime windows and other aggregations.
    """
    if plan.window.span_ms is None:
        return None
    agg = plan.aggregation
    c = plan.channels[0]
    if isinstance(agg, Count):
        return lambda s, a, b: s.count[c][b] - s.count[c][a]
    if isinstance(agg, Sum):
        return lambda s, a, b: s.total[c][b] - s.total[c][a]
    if isinstance(agg, Mean):
        return _ratio_to_count(c, c, None)
    if isinstance(agg, RatioOfSums) and agg.denominator is None:
        return _ratio_to_count(c, plan.channels[1], agg.default)
    return None


def _ratio_to_count(num: int, den: int, default: float | None) -> Reader:
    """``sum(num) / count(den)`` over the range, ``default`` when the count is 0.

    A mean is the ratio of a channel's sum to its own count, with no value when empty.
    """

    def read(s: EntityState, a: int, b: int) -> float | None:
        count = s.count[den]
        n = count[b] - count[a]
        if not n:
            return default
        total = s.total[num]
        return (total[b] - total[a]) / n

    return read
