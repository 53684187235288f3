"""Window bounds: which event times a window covers when read as of a time.

Every window covers ``lo < ts <= hi``; ``lo`` is None for lifetime windows.

>>> from upwell.definitions.windows import Sliding, Tumbling
>>> window_bounds(Sliding(10), 0, 100)
(90, 100)
>>> window_bounds(Sliding(10), 5, 100)
(85, 95)
>>> window_bounds(Tumbling(10), 0, 107)
(90, 100)
"""

from __future__ import annotations

import numpy as np

from upwell.definitions.windows import Hopping, Lifetime, Sliding, Window

LIFETIME_LO = np.iinfo(np.int64).min
"""The lower bound the columnar path uses for lifetime windows."""


def window_bounds(window: Window, offset_ms: int, as_of_ms: int) -> tuple[int | None, int]:
    """The exclusive lower and inclusive upper event-time bounds of a window.

    Args:
        window: The window spec.
        offset_ms: The feature's offset.
        as_of_ms: The read time.

    Returns:
        ``(lo, hi)``: the window covers ``lo < ts <= hi``; ``lo`` is None for lifetime.
    """
    end = as_of_ms - offset_ms
    if isinstance(window, Sliding):
        return end - window.size_ms, end
    if isinstance(window, Hopping):
        closed = (end // window.hop_ms) * window.hop_ms
        return closed - window.size_ms, closed
    if isinstance(window, Lifetime):
        return None, end
    msg = f"unknown window {window!r}"
    raise TypeError(msg)


def window_bounds_array(
    window: Window, offset_ms: int, as_of_ms: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised :func:`window_bounds`; lifetime lower bounds are :data:`LIFETIME_LO`.

    Args:
        window: The window spec.
        offset_ms: The feature's offset.
        as_of_ms: Read times, int64 milliseconds.

    Returns:
        ``(lo, hi)`` int64 arrays.
    """
    end = as_of_ms.astype(np.int64) - offset_ms
    if isinstance(window, Sliding):
        return end - window.size_ms, end
    if isinstance(window, Hopping):
        closed = (end // window.hop_ms) * window.hop_ms
        return closed - window.size_ms, closed
    if isinstance(window, Lifetime):
        return np.full_like(end, LIFETIME_LO), end
    msg = f"unknown window {window!r}"
    raise TypeError(msg)


def retention_ms(window: Window, offset_ms: int) -> int | None:
    """How far behind the latest read time a window needs raw events; None if lifetime.

    Args:
        window: The window spec.
        offset_ms: The feature's offset.

    Returns:
        Milliseconds, or None for lifetime windows (which keep a folded base instead).
    """
    span = window.span_ms
    return None if span is None else span + offset_ms
