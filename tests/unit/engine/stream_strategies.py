"""Hypothesis strategies: event streams and windows that hit the engine's corner cases.

Streams advance a clock on a coarse grid (so equal times and events exactly on window
edges are common) and deliver each event late by a random delay, some beyond the
allowed lateness. Some events are delivered twice, in one push or in a later one.
"""

from __future__ import annotations

from hypothesis import strategies as st
from tests.unit.engine.feature_streams import (
    T0_MS,
    Delivery,
    Row,
    WindowChoice,
    hopping,
    lifetime,
    sliding,
)

_STEPS_MS = (0, 0, 0, 1, 250, 1_000, 1_000, 1_000, 2_000, 5_000, 30_000)
_CENTS = st.one_of(st.sampled_from((0, 150, -250, 1_234)), st.integers(-10_000, 10_000))

durations_ms = st.one_of(
    st.integers(1, 30).map(lambda s: s * 1_000),
    st.integers(1, 40_000),
)
"""Window sizes and offsets: mostly whole seconds (on the events' grid), some arbitrary."""

lateness_ms = st.sampled_from((0, 1_000, 5_000, 60_000))


@st.composite
def deliveries(
    draw: st.DrawFn, lateness: int, max_events: int = 40, n_users: int = 3
) -> list[Delivery]:
    """A stream of pushes: out of order within and beyond ``lateness``, with duplicates."""
    shape = st.tuples(
        st.sampled_from(_STEPS_MS),
        st.one_of(
            st.just(0),
            st.integers(0, lateness // 1_000).map(lambda s: s * 1_000),  # back onto the grid
            st.integers(0, lateness),
            st.integers(lateness + 1, 2 * lateness + 1),
        ),
        st.integers(0, n_users - 1),
        _CENTS,
        st.integers(-3, 3),
        st.sampled_from((0.0, 1.0, 2.0, 3.0)),
        st.booleans(),
        st.sampled_from(("alone", "alone", "alone", "twice_in_one_push", "redeliver_earlier")),
        st.integers(0, 10**6),
    )
    clock = T0_MS
    rows: list[Row] = []
    out: list[Delivery] = []
    for step, delay, uid, cents, n, w, flag, how, pick in draw(
        st.lists(shape, min_size=3, max_size=max_events)
    ):
        clock += step
        row = Row(eid=len(rows), uid=uid, ts=clock - delay, v=cents / 100, n=n, w=w, flag=flag)
        if how == "twice_in_one_push":
            out.append((row, row))
        elif how == "redeliver_earlier" and rows:
            out.extend([(row,), (rows[pick % len(rows)],)])
        else:
            out.append((row,))
        rows.append(row)
    return out


@st.composite
def sliding_windows(draw: st.DrawFn, with_offset: bool = False) -> WindowChoice:
    """A sliding window of any size, optionally offset."""
    return sliding(draw(durations_ms), draw(durations_ms) if with_offset else None)


@st.composite
def lifetime_windows(draw: st.DrawFn, with_offset: bool = False) -> WindowChoice:
    """A lifetime window, optionally offset."""
    return lifetime(draw(durations_ms) if with_offset else None)


@st.composite
def hopping_windows(draw: st.DrawFn, tumbling: bool = False) -> WindowChoice:
    """A hopping window (or a tumbling one: hop == size), sometimes offset."""
    size = draw(durations_ms)
    hop = size if tumbling else draw(durations_ms)
    return hopping(size, hop, draw(st.one_of(st.none(), durations_ms)))


@st.composite
def every_window(draw: st.DrawFn) -> list[tuple[str, WindowChoice]]:
    """One window of each kind, with drawn sizes, hops and offsets."""
    return [
        ("slide", draw(sliding_windows())),
        ("slide_off", draw(sliding_windows(with_offset=True))),
        ("life", lifetime()),
        ("life_off", draw(lifetime_windows(with_offset=True))),
        ("tumble", draw(hopping_windows(tumbling=True))),
        ("hop", draw(hopping_windows())),
    ]
