"""Where the decision engine and its embedded stores read the time from."""

from __future__ import annotations

from typing import Protocol


class Clock(Protocol):
    """Tells the current time in epoch milliseconds (``upwell.runtime.SystemClock`` does)."""

    def now_ms(self) -> int:
        """The current time."""
        ...
