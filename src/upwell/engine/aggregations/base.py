"""The interface every aggregation implementation follows, on both paths."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from upwell.engine.columnar_events import ColumnarEvents
from upwell.engine.entity_state import EntityState
from upwell.engine.plan import FeaturePlan


@dataclass(frozen=True)
class ColumnarQuery:
    """Window index ranges ``[a, b)`` into sorted events, one per anchor row."""

    events: ColumnarEvents
    a: np.ndarray
    b: np.ndarray
    group_start: np.ndarray
    lifetime: bool


class AggregationImpl(Protocol):
    """Computes one aggregation kind on the per-event and the columnar path.

    ``online`` reads events ``[a, b)`` of an entity's retained events (for lifetime
    windows ``a`` is 0 and ``base`` holds what was evicted); ``fold`` folds the first
    ``n`` retained events into ``base`` before they are evicted; ``columnar`` computes
    every anchor row at once. Both paths must give identical values.
    """

    def online(self, state: EntityState, plan: FeaturePlan, a: int, b: int, lifetime: bool) -> Any:
        """Compute the feature for one entity."""
        ...

    def fold(self, base: Any, state: EntityState, plan: FeaturePlan, n: int) -> Any:
        """Fold the first ``n`` retained events into a lifetime base."""
        ...

    def columnar(self, query: ColumnarQuery, plan: FeaturePlan) -> np.ndarray:
        """Compute the feature for many anchor rows."""
        ...


def kept_values(state: EntityState, channel: int, a: int, b: int) -> list[Any]:
    """The kept (not filtered out) values of events ``[a, b)`` of a channel.

    Args:
        state: The entity state.
        channel: The channel.
        a: First index.
        b: One past the last index.

    Returns:
        The values, in event order.
    """
    return [v for v in state.values[channel][a:b] if v is not None]


def kept_slices(query: ColumnarQuery, channel: int) -> tuple[np.ndarray, np.ndarray]:
    """For each anchor, the range into ``channel.kept`` of kept events in ``[a, b)``.

    Args:
        query: The columnar query.
        channel: The channel.

    Returns:
        ``(start, stop)`` arrays indexing the channel's ``kept`` positions.
    """
    kept = query.events.channels[channel].kept
    return np.searchsorted(kept, query.a, "left"), np.searchsorted(kept, query.b, "left")
