"""The engine's own code, run on one entity's state at a time (the Redis store's maths).

The Redis store keeps no engine of its own: each thread has one
:class:`~upwell.engine.view_state.ViewState` per view, and an entity's decoded state is
put into it for the one update, eviction or read, then taken out again. So updates and
reads run exactly the code the embedded store runs, and give identical values.
"""

from __future__ import annotations

import threading
from bisect import bisect_right
from collections.abc import Mapping
from typing import Any

from upwell.definitions.registry import Registry
from upwell.engine.plan import compile_view
from upwell.engine.view_state import EntityKey, ViewState
from upwell.stores.redis_codec import StoredState


class ScratchViews:
    """Per thread, a :class:`ViewState` for every view, holding no entities between uses.

    Args:
        registry: The definitions.
    """

    def __init__(self, registry: Registry) -> None:
        self._registry = registry
        self._local = threading.local()

    def views(self) -> dict[str, ViewState]:
        """This thread's views by name."""
        views: dict[str, ViewState] | None = getattr(self._local, "views", None)
        if views is None:
            views = {name: ViewState(compile_view(v)) for name, v in self._registry.views.items()}
            self._local.views = views
            self._local.by_source = {name: [] for name in self._registry.sources}
            for view in views.values():
                self._local.by_source[view.plan.view.source.name].append(view)
        return views

    def by_source(self, source: str) -> list[ViewState]:
        """This thread's views over one source.

        Args:
            source: The source's name.

        Returns:
            The views.
        """
        self.views()
        found: list[ViewState] = self._local.by_source[source]
        return found


def fold(
    view: ViewState,
    key: EntityKey,
    stored: StoredState,
    event: Mapping[str, Any],
    ts: int,
    seq: int,
    ident: Any,
) -> bool:
    """Fold one event into an entity's state, unless the state already holds it.

    An event is refused when its identity is among the retained events' (a redelivery
    or a replay) or when it is not newer than what the entity already evicted (it would
    have been late; folding it would make the evicted part wrong).

    Args:
        view: A scratch view.
        key: The entity's key.
        stored: Its state (changed in place).
        event: The event's fields.
        ts: Event time, ms.
        seq: Log position.
        ident: The event's identity (its id, or ``writer:position``).

    Returns:
        Whether the state changed.
    """
    state = stored.state
    if ident in stored.idents:
        return False
    if state.evicted_until is not None and ts <= state.evicted_until:
        return False
    position = bisect_right(state.ts, ts)
    view.entities[key] = state
    try:
        view.apply(event, ts, seq)
    finally:
        view.entities.clear()
    stored.idents.insert(position, ident)
    return True


def evict(
    view: ViewState, key: EntityKey, stored: StoredState, cutoff: int, min_events: int = 1
) -> int:
    """Evict events with ``ts <= cutoff`` once at least ``min_events`` of them expired.

    Args:
        view: A scratch view.
        key: The entity's key.
        stored: Its state (changed in place).
        cutoff: No read from the admission horizon on needs events at or before it.
        min_events: The fewest expired events worth an eviction.

    Returns:
        How many events were evicted.
    """
    n = bisect_right(stored.state.ts, cutoff)
    if n == 0 or n < min_events:
        return 0
    view.entities[key] = stored.state
    try:
        view.evict(cutoff)
    finally:
        view.entities.clear()
    del stored.idents[:n]
    return n


def eviction_cutoff(view: ViewState, watermark: int | None, lateness_ms: int) -> int | None:
    """The newest event time no read from the admission horizon on can need.

    Args:
        view: The view.
        watermark: Its source's watermark, None before the first event.
        lateness_ms: Its source's allowed lateness.

    Returns:
        The cutoff, or None when nothing may be evicted yet.
    """
    if watermark is None:
        return None
    return watermark - lateness_ms - view.plan.retention_ms - 1


def read(
    view: ViewState, states: Mapping[EntityKey, StoredState], keys: list[EntityKey], as_of: int
) -> list[dict[str, Any]]:
    """Every feature of a view for entities, from their decoded states.

    Args:
        view: A scratch view.
        states: The decoded states of the entities that have one.
        keys: The entities to read.
        as_of: Read time, ms.

    Returns:
        One dict of feature values per key.
    """
    view.entities.update({key: stored.state for key, stored in states.items()})
    try:
        return [view.read(key, as_of) for key in keys]
    finally:
        view.entities.clear()
