"""Time windows for live statistics: right-closed spans of event time, ending at steps.

Windows end at ``end_ms``, ``end_ms - step_ms``, ``end_ms - 2 * step_ms``... while they end
after ``start_ms``; each covers ``max(start_ms, end - window_ms) < ts <= end`` (the same
right-closed rule as feature windows). ``step_ms == window_ms`` gives tumbling windows
(e.g. one per day), a smaller step sliding ones (e.g. 7 days, moved a day at a time)::

    start                                         end
      |-----------|-----------|-----------|-----------|     window = step = 1d
      |     |-----------|                                   window = 2d, step = 1d ...
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from upwell.audit.errors import AuditError

__all__ = ["Window", "in_window", "windows"]


@dataclass(frozen=True, order=True)
class Window:
    """The span ``start_ms < ts <= end_ms`` of event time.

    Args:
        start_ms: Exclusive start, epoch milliseconds.
        end_ms: Inclusive end, epoch milliseconds.
    """

    start_ms: int
    end_ms: int


def windows(start_ms: int, end_ms: int, window_ms: int, step_ms: int | None = None) -> list[Window]:
    """The windows of a span, oldest first.

    Args:
        start_ms: No window reaches back beyond this instant (exclusive).
        end_ms: The last window ends here (inclusive).
        window_ms: Length of each window.
        step_ms: Distance between window ends (default: ``window_ms``, tumbling).

    Returns:
        The windows.

    Raises:
        AuditError: If a length is not positive or ``end_ms < start_ms``.

    >>> windows(0, 30, 10)
    [Window(start_ms=0, end_ms=10), Window(start_ms=10, end_ms=20), Window(start_ms=20, end_ms=30)]
    >>> windows(0, 30, 20, 10)
    [Window(start_ms=0, end_ms=10), Window(start_ms=0, end_ms=20), Window(start_ms=10, end_ms=30)]
    """
    step = window_ms if step_ms is None else step_ms
    if window_ms <= 0 or step <= 0 or end_ms < start_ms:
        msg = f"window_ms={window_ms}, step_ms={step}, start_ms={start_ms}, end_ms={end_ms}"
        raise AuditError(msg, where="windows", fix="use positive lengths and end_ms >= start_ms.")
    ends = range(end_ms, start_ms, -step)
    return [Window(max(start_ms, e - window_ms), e) for e in reversed(ends)]


def in_window(ts_ms: NDArray[np.int64], window: Window) -> NDArray[np.bool_]:
    """Which instants fall in a window.

    Args:
        ts_ms: Epoch milliseconds.
        window: The window.

    Returns:
        A boolean mask.
    """
    return (ts_ms > window.start_ms) & (ts_ms <= window.end_ms)
