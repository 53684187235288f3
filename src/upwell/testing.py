"""Test helpers for users of upwell: a clock you move by hand.

>>> from datetime import UTC, datetime
>>> clock = ManualClock(datetime(2024, 1, 1, tzinfo=UTC))
>>> clock.advance(seconds=90)
>>> clock.now_ms()
1704067290000
"""

from __future__ import annotations

from datetime import datetime, timedelta

from upwell.ingest.values import timestamp_ms


class ManualClock:
    """A :class:`~upwell.runtime.Clock` that stands still until told to move.

    Pass it as ``FeatureStore(..., clock=ManualClock(start))`` to make reads "as of
    now" deterministic in tests.

    Args:
        start: The initial time (timezone-aware UTC).
    """

    def __init__(self, start: datetime) -> None:
        self._ms = timestamp_ms(start, "ManualClock.start")

    def now_ms(self) -> int:
        """The current (manual) time in epoch milliseconds."""
        return self._ms

    def advance(self, **delta: float) -> None:
        """Move the clock forward.

        Args:
            **delta: ``timedelta`` keyword arguments, e.g. ``minutes=5``.
        """
        self._ms += int(timedelta(**delta) / timedelta(milliseconds=1))

    def set(self, when: datetime) -> None:
        """Jump to a time.

        Args:
            when: The new time (timezone-aware UTC).
        """
        self._ms = timestamp_ms(when, "ManualClock.set")
