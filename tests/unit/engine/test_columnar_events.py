"""The columnar path's building blocks against plain Python loops.

The per-event path sums one value at a time (``total += v``) from an entity's first
event and takes window sums as differences of those prefixes; the columnar helpers
must produce the very same floats, and find the same window index ranges.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from upwell.engine.columnar import _positions
from upwell.engine.columnar_events import segmented_count, segmented_cumsum, window_diff

# Mixed magnitudes make the result depend on the order of additions.
values_st = st.one_of(
    st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
    st.sampled_from([0.1, 0.2, 0.3, 1e16, -1e16, 3.3e-5]),
)
lengths_st = st.lists(st.integers(1, 12), min_size=1, max_size=8)


def _groups(lengths: list[int]) -> tuple[np.ndarray, np.ndarray]:
    lengths_arr = np.asarray(lengths, dtype=np.int64)
    return np.concatenate([[0], np.cumsum(lengths_arr)[:-1]]).astype(np.int64), lengths_arr


def _loop_prefixes(values: list[float], lengths: list[int]) -> list[list[float]]:
    """Per group, the per-event path's prefix list: [0.0, v0, v0 + v1, ...]."""
    out, pos = [], 0
    for n in lengths:
        prefix = [0.0]
        for v in values[pos : pos + n]:
            prefix.append(prefix[-1] + v)
        out.append(prefix)
        pos += n
    return out


@settings(max_examples=60, deadline=None)
@given(data=st.data(), lengths=lengths_st)
def test_segmented_cumsum_adds_one_by_one_per_group(
    data: st.DataObject, lengths: list[int]
) -> None:
    values = data.draw(st.lists(values_st, min_size=sum(lengths), max_size=sum(lengths)))
    starts, lengths_arr = _groups(lengths)

    got = segmented_cumsum(np.asarray(values), starts, lengths_arr)

    expected = [x for prefix in _loop_prefixes(values, lengths) for x in prefix[1:]]
    assert got.tolist() == expected


@pytest.mark.parametrize(
    "lengths",
    [
        pytest.param([5_000], id="one_long_group"),
        pytest.param([3, 5_000, 1, 4_097, 4_096], id="long_and_short_groups"),
    ],
)
def test_segmented_cumsum_long_groups(lengths: list[int]) -> None:
    """Groups over 4096 events take another code path; it must add in the same order."""
    rng = np.random.default_rng(0)
    values = (rng.normal(size=sum(lengths)) * 10.0 ** rng.integers(-3, 12, sum(lengths))).tolist()
    starts, lengths_arr = _groups(lengths)

    got = segmented_cumsum(np.asarray(values), starts, lengths_arr)

    assert got.tolist() == [x for p in _loop_prefixes(values, lengths) for x in p[1:]]


@settings(max_examples=60, deadline=None)
@given(data=st.data(), lengths=lengths_st)
def test_segmented_count_counts_per_group(data: st.DataObject, lengths: list[int]) -> None:
    included = data.draw(st.lists(st.booleans(), min_size=sum(lengths), max_size=sum(lengths)))
    starts, lengths_arr = _groups(lengths)

    got = segmented_count(np.asarray(included), starts, lengths_arr)

    flags = [float(f) for f in included]
    assert got.tolist() == [int(x) for p in _loop_prefixes(flags, lengths) for x in p[1:]]


@settings(max_examples=60, deadline=None)
@given(data=st.data(), lengths=lengths_st)
def test_window_diff_equals_the_per_event_prefix_difference(
    data: st.DataObject, lengths: list[int]
) -> None:
    """Sum over events [a, b) of one group: prefix[b] - prefix[a], exactly as online."""
    values = data.draw(st.lists(values_st, min_size=sum(lengths), max_size=sum(lengths)))
    starts, lengths_arr = _groups(lengths)
    prefixes = _loop_prefixes(values, lengths)
    queries = data.draw(
        st.lists(
            st.integers(0, len(lengths) - 1).flatmap(
                lambda g: st.tuples(
                    st.just(g), st.integers(0, lengths[g]), st.integers(0, lengths[g])
                ).map(lambda q: (q[0], min(q[1], q[2]), max(q[1], q[2])))
            ),
            min_size=1,
            max_size=10,
        )
    )
    group_start = np.asarray([starts[g] for g, _, _ in queries])
    a = group_start + np.asarray([lo for _, lo, _ in queries])
    b = group_start + np.asarray([hi for _, _, hi in queries])

    got = window_diff(
        segmented_cumsum(np.asarray(values), starts, lengths_arr), a, b, group_start, 0.0
    )

    assert got.tolist() == [prefixes[g][hi] - prefixes[g][lo] for g, lo, hi in queries]


_MAX = np.iinfo(np.int64).max
_MIN = np.iinfo(np.int64).min
# Times in a narrow range use one int64 key per (entity, time); times spread over the
# whole int64 range would overflow it and take the merge-sort path instead.
times_st = st.one_of(
    st.lists(st.integers(0, 20), min_size=1, max_size=30),
    st.lists(st.sampled_from([-(4 * 10**18), -5, 0, 7, 4 * 10**18]), min_size=1, max_size=30),
)


@settings(max_examples=100, deadline=None)
@given(data=st.data(), times=times_st)
def test_positions_count_events_up_to_each_query(data: st.DataObject, times: list[int]) -> None:
    """For each query (entity, t, seq): how many sorted events have a key <= it."""
    n = len(times)
    codes = data.draw(st.lists(st.integers(0, 3), min_size=n, max_size=n))
    events = sorted(zip(codes, times, range(n), strict=True))
    query = st.tuples(
        st.integers(0, 4),
        st.one_of(st.sampled_from(times), st.integers(-30, 30), st.just(_MIN)),
        st.one_of(st.integers(0, n), st.just(_MAX)),
    )
    queries = data.draw(st.lists(query, min_size=1, max_size=12))

    got = _positions(
        *(np.asarray([e[i] for e in events], dtype=np.int64) for i in range(3)),
        *(np.asarray([q[i] for q in queries], dtype=np.int64) for i in range(3)),
    )

    assert got.tolist() == [sum(1 for e in events if e <= q) for q in queries]
