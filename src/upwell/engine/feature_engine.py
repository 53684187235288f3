"""The engine: every view's state, admission per source, batch features. Pure, no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from upwell.definitions.registry import Registry
from upwell.engine.admission import SourceAdmission, Verdict
from upwell.engine.batch_state import BatchState
from upwell.engine.plan import compile_view
from upwell.engine.view_state import EntityKey, ViewState


class FeatureEngine:
    """The per-event path over a validated registry.

    Args:
        registry: The definitions.
    """

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.views = {name: ViewState(compile_view(v)) for name, v in registry.views.items()}
        self.by_source: dict[str, list[ViewState]] = {name: [] for name in registry.sources}
        for state in self.views.values():
            self.by_source[state.plan.view.source.name].append(state)
        self.admission = {
            name: SourceAdmission(source.allowed_lateness_ms)
            for name, source in registry.sources.items()
        }
        self.batches = {name: BatchState() for name in registry.batches}
        self.last_seq = 0

    def check(self, source: str, times: list[int], ids: list[Any]) -> list[Verdict]:
        """Decide which events of a batch would be applied, changing nothing.

        Args:
            source: The source name.
            times: Event times, ms.
            ids: Event ids (None where the source has none).

        Returns:
            One verdict per event; only ACCEPTED events may be logged and applied.
        """
        return self.admission[source].check_batch(times, ids)

    def apply(
        self, source: str, event: Mapping[str, Any], ts: int, seq: int, event_id: Any = None
    ) -> None:
        """Record an accepted event and fold it into every view of its source.

        Args:
            source: The source name.
            event: The event's fields.
            ts: Event time, ms.
            seq: Log position (strictly increasing).
            event_id: The event id, or None.
        """
        self.admission[source].record(ts, event_id)
        for view in self.by_source[source]:
            view.apply(event, ts, seq)
        self.last_seq = seq

    def read(self, view: str, key: EntityKey, as_of: int) -> dict[str, Any]:
        """Every feature of a view for one entity.

        Args:
            view: The view name.
            key: The entity key.
            as_of: Read time, ms.

        Returns:
            Feature name to value.
        """
        return self.views[view].read(key, as_of)

    def maintain(self) -> int:
        """Evict events no read can need any more and forget old event ids.

        A view keeps, behind its source's admission horizon, the longest window plus
        offset it serves, so reads as of any time not before that horizon are exact.

        Returns:
            How many events were evicted.
        """
        evicted = 0
        for name, views in self.by_source.items():
            admission = self.admission[name]
            horizon = admission.horizon
            if horizon is None:
                continue
            admission.forget_old_ids()
            for view in views:
                evicted += view.evict(horizon - view.plan.retention_ms - 1)
        return evicted
