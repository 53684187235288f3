"""Admission of events: lateness against the source's watermark, and duplicate ids.

The watermark is the latest event time a source has seen. An event older than the
watermark minus the allowed lateness is *late*: it is refused (the caller sends it
to the dead-letter sink). An event whose id was already admitted is a *duplicate*
and is refused too, so a redelivered event is applied once. Ids are remembered for
as long as an event with that time could still be admitted.
"""

from __future__ import annotations

import enum
from typing import Any


class Verdict(enum.Enum):
    """What admission decided for one event."""

    ACCEPTED = "accepted"
    LATE = "late"
    DUPLICATE = "duplicate"


class SourceAdmission:
    """Watermark and recent event ids of one source.

    Args:
        allowed_lateness_ms: How far behind the watermark an event may be.
    """

    def __init__(self, allowed_lateness_ms: int) -> None:
        self.allowed_lateness_ms = allowed_lateness_ms
        self.watermark: int | None = None
        self.seen: dict[Any, int] = {}

    def check(self, ts: int, event_id: Any) -> Verdict:
        """Decide on one event without recording it.

        Args:
            ts: Event time, ms.
            event_id: The event's id, or None when the source has none.

        Returns:
            The verdict.
        """
        if self.watermark is not None and ts < self.watermark - self.allowed_lateness_ms:
            return Verdict.LATE
        if event_id is not None and event_id in self.seen:
            return Verdict.DUPLICATE
        return Verdict.ACCEPTED

    def check_batch(self, times: list[int], ids: list[Any]) -> list[Verdict]:
        """Decide on a batch as if its events arrived one by one, without recording them.

        Args:
            times: Event times, ms.
            ids: Event ids (None where the source has none).

        Returns:
            One verdict per event.
        """
        watermark = self.watermark
        batch_ids: set[Any] = set()
        verdicts = []
        for ts, event_id in zip(times, ids, strict=True):
            if watermark is not None and ts < watermark - self.allowed_lateness_ms:
                verdicts.append(Verdict.LATE)
            elif event_id is not None and (event_id in self.seen or event_id in batch_ids):
                verdicts.append(Verdict.DUPLICATE)
            else:
                verdicts.append(Verdict.ACCEPTED)
                watermark = ts if watermark is None else max(watermark, ts)
                if event_id is not None:
                    batch_ids.add(event_id)
        return verdicts

    def record(self, ts: int, event_id: Any) -> None:
        """Record an accepted event.

        Args:
            ts: Event time, ms.
            event_id: The event's id, or None.
        """
        if self.watermark is None or ts > self.watermark:
            self.watermark = ts
        if event_id is not None:
            self.seen[event_id] = ts

    @property
    def horizon(self) -> int | None:
        """The oldest event time still admissible, or None before the first event."""
        return None if self.watermark is None else self.watermark - self.allowed_lateness_ms

    def forget_old_ids(self) -> int:
        """Forget ids of events too old to be admitted again (they would be late anyway).

        Returns:
            How many ids were forgotten.
        """
        horizon = self.horizon
        if horizon is None:
            return 0
        old = [k for k, ts in self.seen.items() if ts < horizon]
        for key in old:
            del self.seen[key]
        return len(old)
