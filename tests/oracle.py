"""An independent oracle for windowed aggregations, in plain Python.

It knows nothing of upwell: it takes plain events and plain window and aggregation
descriptions and computes, by brute force, what a feature read must return. Sums are
exactly rounded (``math.fsum``), variances use the textbook two-pass formula, and
approximate aggregations return the exact quantity they approximate, against which
:func:`within_sketch_bound` checks an estimate.

Semantics encoded here (DESIGN.md, "Core semantics"):

- a window read "as of t" with offset ``d`` ends at ``t' = t - d`` and is right-closed:
  sliding ``w`` covers ``t' - w < ts <= t'``; lifetime covers ``ts <= t'``; hopping
  ``(size, hop)`` covers ``e - size < ts <= e`` with ``e`` the largest multiple of
  ``hop`` (counted from the epoch) that is ``<= t'``;
- a time-anchored read sees every event with ``ts <= t``; an event-anchored read sees
  the events logged up to and including the anchor event (``seq <= anchor seq``);
- ties in time follow the log: values are ordered by ``(ts, seq)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

WindowKind = Literal["sliding", "lifetime", "hopping"]
AggKind = Literal[
    "count",
    "sum",
    "mean",
    "min",
    "max",
    "variance",
    "stddev",
    "first",
    "last",
    "last_k",
    "distinct_count",
    "ratio_of_sums",
    "approx_distinct_count",
    "approx_percentile",
]

HLL_RELATIVE_STD_ERROR = {lg_k: 1.04 / math.sqrt(2**lg_k) for lg_k in range(4, 22)}
"""HyperLogLog's relative standard error ``1.04 / sqrt(2**lg_k)`` (1.6 % at lg_k=12)."""

KLL_RANK_ERROR_K200 = 0.0165
"""KLL's published normalised rank error at k=200 (99 % confidence, single quantile)."""


@dataclass(frozen=True)
class Event:
    """One logged event as the oracle sees it.

    ``value`` is the aggregated column, ``flag`` the ``where`` filter's verdict and
    ``weight`` the denominator column of a ratio of sums.
    """

    ts: int
    seq: int
    key: Hashable
    value: Any
    flag: bool = True
    weight: float = 1.0


@dataclass(frozen=True)
class WindowSpec:
    """A window: kind, sizes in ms, and the offset in ms."""

    kind: WindowKind
    size_ms: int = 0
    hop_ms: int = 0
    offset_ms: int = 0


@dataclass(frozen=True)
class AggSpec:
    """An aggregation and its parameters; ``filtered`` applies each event's ``flag``."""

    kind: AggKind
    ddof: int = 1
    k: int = 3
    q: float = 0.5
    lg_k: int = 12
    with_denominator: bool = False
    default: float | None = 0.0
    filtered: bool = False


def bounds(window: WindowSpec, as_of: int) -> tuple[int | None, int]:
    """The window's event-time bounds ``(lo, hi)``: it covers ``lo < ts <= hi``.

    >>> bounds(WindowSpec("sliding", size_ms=10), 100)
    (90, 100)
    >>> bounds(WindowSpec("hopping", size_ms=10, hop_ms=5, offset_ms=1), 108)
    (95, 105)
    """
    end = as_of - window.offset_ms
    if window.kind == "sliding":
        return end - window.size_ms, end
    if window.kind == "lifetime":
        return None, end
    completed = end - end % window.hop_ms  # Python's % floors: a multiple of hop, <= end
    return completed - window.size_ms, completed


def window_events(
    events: Iterable[Event],
    key: Hashable,
    window: WindowSpec,
    as_of: int,
    upto_seq: int | None = None,
) -> list[Event]:
    """The events of ``key`` a read as of ``as_of`` sees in the window, in (ts, seq) order.

    Args:
        events: Every logged event (any order, any key).
        key: The entity key read.
        window: The window.
        as_of: The read time, ms.
        upto_seq: For an event-anchored read, the anchor's log position; None for a
            time-anchored read (every event with ``ts <= as_of`` is visible).

    Returns:
        The events in the window.
    """
    lo, hi = bounds(window, as_of)
    chosen = [
        e
        for e in events
        if e.key == key
        and (e.ts <= as_of if upto_seq is None else e.seq <= upto_seq)
        and (lo is None or e.ts > lo)
        and e.ts <= hi
    ]
    return sorted(chosen, key=lambda e: (e.ts, e.seq))


def aggregate(spec: AggSpec, events: Sequence[Event]) -> Any:
    """The exact value of an aggregation over the window's events (in (ts, seq) order).

    Approximate kinds return what they approximate: ``approx_distinct_count`` the exact
    distinct count, ``approx_percentile`` the sorted values (see :func:`within_sketch_bound`).

    Args:
        spec: The aggregation.
        events: The events in the window.

    Returns:
        The value; None where the aggregation is null.
    """
    kept = [e for e in events if e.flag] if spec.filtered else list(events)
    return _AGGREGATES[spec.kind](spec, [e.value for e in kept], kept)


def _ratio(spec: AggSpec, values: list[Any], kept: list[Event]) -> float | None:
    denominator = math.fsum(e.weight for e in kept) if spec.with_denominator else len(values)
    return math.fsum(values) / denominator if denominator else spec.default


def _variance(values: list[Any], ddof: int, *, root: bool) -> float | None:
    """The textbook two-pass variance with exactly rounded sums; None with ``ddof`` or fewer."""
    n = len(values)
    if n <= ddof:
        return None
    mean = math.fsum(values) / n
    variance = math.fsum((x - mean) ** 2 for x in values) / (n - ddof)
    return math.sqrt(variance) if root else variance


_AGGREGATES: dict[str, Callable[[AggSpec, list[Any], list[Event]], Any]] = {
    "count": lambda spec, values, kept: len(values),
    "sum": lambda spec, values, kept: math.fsum(values),
    "mean": lambda spec, values, kept: math.fsum(values) / len(values) if values else None,
    "min": lambda spec, values, kept: min(values) if values else None,
    "max": lambda spec, values, kept: max(values) if values else None,
    "variance": lambda spec, values, kept: _variance(values, spec.ddof, root=False),
    "stddev": lambda spec, values, kept: _variance(values, spec.ddof, root=True),
    "first": lambda spec, values, kept: values[0] if values else None,
    "last": lambda spec, values, kept: values[-1] if values else None,
    "last_k": lambda spec, values, kept: values[-spec.k :],
    "distinct_count": lambda spec, values, kept: len(set(values)),
    "ratio_of_sums": _ratio,
    "approx_distinct_count": lambda spec, values, kept: len(set(values)),
    "approx_percentile": lambda spec, values, kept: sorted(values) if values else None,
}
"""Each kind's value from the kept values (in (ts, seq) order) and the kept events."""


def expected(
    events: Iterable[Event],
    key: Hashable,
    window: WindowSpec,
    spec: AggSpec,
    as_of: int,
    upto_seq: int | None = None,
) -> Any:
    """The oracle's value of one feature: :func:`window_events` then :func:`aggregate`.

    >>> evs = [Event(ts=t, seq=i, key="a", value=float(t)) for i, t in enumerate([5, 10, 10])]
    >>> expected(evs, "a", WindowSpec("sliding", size_ms=5), AggSpec("count"), 10)
    2
    >>> expected(evs, "a", WindowSpec("sliding", size_ms=5), AggSpec("count"), 10, upto_seq=1)
    1
    """
    return aggregate(spec, window_events(events, key, window, as_of, upto_seq))


def within_sketch_bound(spec: AggSpec, estimate: Any, exact: Any, sigmas: float = 3.0) -> bool:
    """Whether a sketch's estimate lies within its stated error bound of the exact answer.

    HyperLogLog: within ``sigmas`` relative standard errors of the exact distinct count.
    KLL: the estimate is one of the window's values and its rank range
    ``[#(< x), #(<= x)] / n`` comes within twice the published rank error of ``q``.

    Args:
        spec: An approximate aggregation.
        estimate: The engine's value (None or NaN for an empty window).
        exact: :func:`aggregate`'s value for the same window.
        sigmas: How many standard errors HyperLogLog may be off.

    Returns:
        True when the estimate is acceptable.
    """
    if spec.kind == "approx_distinct_count":
        bound = sigmas * HLL_RELATIVE_STD_ERROR[spec.lg_k] * exact
        return abs(float(estimate) - exact) <= bound
    if exact is None:
        return estimate is None or (isinstance(estimate, float) and math.isnan(estimate))
    n = len(exact)
    below = sum(1 for v in exact if v < estimate)
    at_or_below = sum(1 for v in exact if v <= estimate)
    slack = 2 * KLL_RANK_ERROR_K200
    return at_or_below > below and below / n - slack <= spec.q <= at_or_below / n + slack
