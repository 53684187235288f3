"""Where "now" comes from: the machine's clock, or one a test sets."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """Tells the current time in epoch milliseconds."""

    def now_ms(self) -> int:
        """The current time."""
        ...


class SystemClock:
    """The machine's wall clock."""

    def now_ms(self) -> int:  # noqa: D102
        return time.time_ns() // 1_000_000
