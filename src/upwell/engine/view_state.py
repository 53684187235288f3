"""The per-event path for one feature view: entity states, updates and reads."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from upwell.definitions.expressions import Col
from upwell.engine.aggregations import AggregationImpl, implementation
from upwell.engine.entity_state import EntityState
from upwell.engine.errors import RetentionError
from upwell.engine.fast_readers import fast_reader
from upwell.engine.plan import Channel, FeaturePlan, ViewPlan
from upwell.engine.windows import window_bounds

EntityKey = tuple[Any, ...]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class ViewState:
    """Window state of every entity of one view.

    Args:
        plan: The compiled view.
    """

    def __init__(self, plan: ViewPlan) -> None:
        self.plan = plan
        self._impls = [implementation(f.aggregation) for f in plan.features]
        self._squares = tuple(c.squares for c in plan.channels)
        self._extract = [_extractor(c) for c in plan.channels]
        self._keys = plan.keys
        self.entities: dict[EntityKey, EntityState] = {}
        self._empty = EntityState(len(self._extract), self._squares)
        self._readers = [
            (f.name, f.bounds_key, fast_reader(f), _general(impl, f))
            for f, impl in zip(plan.features, self._impls, strict=True)
        ]

    def key_of(self, event: Mapping[str, Any]) -> EntityKey:
        """The entity key of an event or entity row.

        Args:
            event: Fields including the entity's keys.

        Returns:
            The key tuple.
        """
        return tuple(event[k] for k in self.plan.keys)

    def apply(self, event: Mapping[str, Any], ts: int, seq: int) -> None:
        """Fold one event into its entity's state.

        Args:
            event: The event's fields.
            ts: Its event time, ms.
            seq: Its log position.
        """
        keys = self._keys
        key = (event[keys[0]],) if len(keys) == 1 else tuple([event[k] for k in keys])
        state = self.entities.get(key)
        if state is None:
            state = self.entities[key] = EntityState(len(self._extract), self._squares)
        state.insert(ts, seq, [extract(event) for extract in self._extract])

    def read(self, key: EntityKey, as_of: int) -> dict[str, Any]:
        """Every feature of the view for one entity, as of a time.

        Args:
            key: The entity key.
            as_of: The read time, ms.

        Returns:
            Feature name to value.

        Raises:
            RetentionError: The read needs events already evicted.
        """
        state = self.entities.get(key)
        if state is None:
            state = self._empty
        times = state.ts
        spans = []
        for window, offset in self.plan.bounds:
            lo, hi = window_bounds(window, offset, as_of)
            if state.evicted_until is not None:
                self._check_retention(state, key, as_of, hi if lo is None else lo)
            spans.append((0 if lo is None else bisect_right(times, lo), bisect_right(times, hi)))
        out: dict[str, Any] = {}
        for name, bounds_key, fast, general in self._readers:
            a, b = spans[bounds_key]
            out[name] = fast(state, a, b) if fast is not None else general(state, a, b)
        return out

    def _check_retention(self, state: EntityState, key: EntityKey, as_of: int, needed: int) -> None:
        assert state.evicted_until is not None  # noqa: S101 (checked by the caller)
        if needed < state.evicted_until:
            msg = (
                f"reading as of {_iso(as_of)} needs events after {_iso(needed)}, but events "
                f"up to {_iso(state.evicted_until)} were already evicted"
            )
            raise RetentionError(
                msg,
                where=f"FeatureView {self.plan.view.name!r}, entity {key}",
                fix="read as of a later time, or build a training set for past times",
            )

    def evict(self, cutoff: int) -> int:
        """Evict events with ``ts <= cutoff`` from every entity, folding lifetime bases.

        Args:
            cutoff: Event time, ms; no read may later need events at or before it.

        Returns:
            How many events were evicted.
        """
        evicted = 0
        lifetime = [
            (f, impl)
            for f, impl in zip(self.plan.features, self._impls, strict=True)
            if f.window.span_ms is None
        ]
        for state in self.entities.values():
            if not state.ts or state.ts[0] > cutoff:
                continue
            n = state.span(None, cutoff)[1]
            for feature, impl in lifetime:
                state.base[feature.index] = impl.fold(
                    state.base.get(feature.index), state, feature, n
                )
            evicted += state.evict_through(cutoff)
        return evicted

    def __iter__(self) -> Iterator[tuple[EntityKey, EntityState]]:
        return iter(self.entities.items())


def _general(impl: AggregationImpl, feature: FeaturePlan) -> Callable[[EntityState, int, int], Any]:
    lifetime = feature.window.span_ms is None
    return lambda state, a, b: impl.online(state, feature, a, b, lifetime)


def _iso(ms: int) -> str:
    """Epoch milliseconds as an ISO-8601 UTC time, for messages."""
    return (_EPOCH + timedelta(milliseconds=ms)).isoformat().replace("+00:00", "Z")


def _extractor(channel: Channel) -> Callable[[Mapping[str, Any]], Any]:
    """The channel's value for an event; plain columns and counts skip the expression tree."""
    if channel.where is None and channel.value is None:
        return lambda event: 1.0
    if channel.where is None and isinstance(channel.value, Col):
        name = channel.value.name
        if channel.numeric:
            return lambda event: float(event[name])
        return lambda event: event[name]
    return channel.extract
