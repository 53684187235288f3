"""Window semantics on every window kind, for every aggregation.

For each window kind, Hypothesis draws window sizes and offsets and a stream of
pushes (out of order within and beyond the allowed lateness, equal times, events on
window edges, duplicates in one push and across pushes, several entities), then
checks, for every aggregation with and without a ``where`` filter:

(a) the online read right after each push, as of the pushed event's time,
(b) the event-anchored columnar training set (``event_training_set``) and
(c) the oracle over the events logged up to and including that event

agree, and (d) a time-anchored training set at arbitrary times, many exactly on
window edges, equals the online read as of those times and the oracle over every
event with ``ts <= t``. Online and columnar values must be identical.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests import oracle
from tests.unit.engine import feature_checks as fc
from tests.unit.engine import feature_streams as fs
from tests.unit.engine import stream_strategies as ss
from tests.unit.engine.conftest import OpenStore
from tests.unit.engine.feature_streams import T0_MS, Row, WindowChoice

from upwell.engine.windows import LIFETIME_LO, window_bounds, window_bounds_array

S = 1_000  # one second in ms

# The windows, read as of t with offset d, right-closed (e: a hop boundary, from the epoch):
#
#   sliding w                    (t-w ================ t]
#   sliding w, offset d   (t-d-w ============ t-d] ....... t
#   lifetime           (-inf ========================= t]
#   lifetime, offset d (-inf ================ t-d] ....... t
#   tumbling s              (e-s ========== e] ........... t     e = largest multiple of s <= t-d
#   hopping s every h   (e-s ============== e] ........... t     e = largest multiple of h <= t-d
WINDOW_KINDS = [
    pytest.param(ss.sliding_windows(), id="sliding"),
    pytest.param(ss.sliding_windows(with_offset=True), id="sliding_offset"),
    pytest.param(ss.lifetime_windows(), id="lifetime"),
    pytest.param(ss.lifetime_windows(with_offset=True), id="lifetime_offset"),
    pytest.param(ss.hopping_windows(tumbling=True), id="tumbling"),
    pytest.param(ss.hopping_windows(), id="hopping"),
]


@pytest.mark.parametrize("windows", WINDOW_KINDS)
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_online_columnar_and_oracle_agree(
    windows: st.SearchStrategy[WindowChoice], data: st.DataObject, open_store: OpenStore
) -> None:
    lateness = data.draw(ss.lateness_ms, label="allowed lateness (ms)")
    cases = fs.feature_cases([("w", data.draw(windows, label="window"))])
    stream = data.draw(ss.deliveries(lateness), label="pushes")
    store = open_store(fs.definitions(cases, lateness))

    done = fs.replay(store, stream, lateness, [c.ref for c in cases])

    fc.check_event_anchored(store, cases, done)
    times = fc.edge_times(cases, [r.ts for r in done.logged])
    reads = data.draw(
        st.lists(st.tuples(st.integers(0, 3), st.sampled_from(times)), min_size=1, max_size=25),
        label="reads (uid, as of ms)",
    )
    fc.check_time_anchored(store, cases, done, reads)


@settings(max_examples=200, deadline=None)
@given(
    choice=st.one_of([w.values[0] for w in WINDOW_KINDS]),
    as_of=st.integers(-(10**13), 10**13),
)
def test_window_bounds_match_the_oracle(choice: WindowChoice, as_of: int) -> None:
    """The engine's bounds, scalar and vectorised, are the oracle's ``lo < ts <= hi``."""
    offset = choice.offset_ms or 0
    lo, hi = oracle.bounds(choice.spec, as_of)

    assert window_bounds(choice.window, offset, as_of) == (lo, hi)
    lo_array, hi_array = window_bounds_array(choice.window, offset, np.asarray([as_of]))
    assert (int(lo_array[0]), int(hi_array[0])) == (LIFETIME_LO if lo is None else lo, hi)


# Hand-computed edges. One entity's events, values 1..5, two of them at the same time:
#
#   time (s)   0      10      20 20      30
#   value      1       2       3  4       5
#
# Each row reads one window as of one time; the bracket is the window it covers.
EDGE_CASES = [
    # Sliding(10s) as of 30s:                 (20 ........ 30]   the ties at 20 are out
    pytest.param(fs.sliding(10 * S), 30 * S, 1, 5.0, id="sliding_open_edge_excluded"),
    # Sliding(10s) as of 29.999s:           (19.999 ... 29.999]  the ties at 20 are in
    pytest.param(fs.sliding(10 * S), 30 * S - 1, 2, 7.0, id="sliding_just_before_edge"),
    # Sliding(10s) as of 20s:         (10 ........ 20]           both ties, not 10
    pytest.param(fs.sliding(10 * S), 20 * S, 2, 7.0, id="sliding_closed_edge_included"),
    # Sliding(10s, offset 10s) as of 30s: (10 .. 20] . . . 30    shifted back by 10s
    pytest.param(fs.sliding(10 * S, 10 * S), 30 * S, 2, 7.0, id="sliding_offset_edge"),
    # Sliding(10s, offset 5s) as of 35s:         (20 ..... 30] . 35
    pytest.param(fs.sliding(10 * S, 5 * S), 35 * S, 1, 5.0, id="sliding_offset_between"),
    # Lifetime as of 20s:        (-inf ............ 20]           0, 10 and both ties
    pytest.param(fs.lifetime(), 20 * S, 4, 10.0, id="lifetime_closed_edge"),
    # Lifetime(offset 10s) as of 29.999s: (-inf .. 19.999] ....  the ties are not yet in
    pytest.param(fs.lifetime(10 * S), 30 * S - 1, 2, 3.0, id="lifetime_offset_before_edge"),
    # Lifetime(offset 10s) as of 30s:     (-inf ...... 20] ..... 30
    pytest.param(fs.lifetime(10 * S), 30 * S, 4, 10.0, id="lifetime_offset_on_edge"),
    # Tumbling(10s) as of 29.999s: latest completed window (10 .. 20]
    pytest.param(fs.hopping(10 * S, 10 * S), 30 * S - 1, 2, 7.0, id="tumbling_before_boundary"),
    # Tumbling(10s) as of 30s: the window (20 .. 30] has just completed
    pytest.param(fs.hopping(10 * S, 10 * S), 30 * S, 1, 5.0, id="tumbling_on_boundary"),
    # Hopping(20s every 10s) as of 35s: (10 ........ 30]         ties and 30, not 10
    pytest.param(fs.hopping(20 * S, 10 * S), 35 * S, 3, 12.0, id="hopping"),
    # Hopping(20s every 10s, offset 5s) as of 34.999s: end 29.999 -> (0 ..... 20]
    pytest.param(fs.hopping(20 * S, 10 * S, 5 * S), 35 * S - 1, 3, 9.0, id="hopping_offset"),
]


@pytest.mark.parametrize(("choice", "as_of", "count", "total"), EDGE_CASES)
def test_window_edges_by_hand(
    choice: WindowChoice, as_of: int, count: int, total: float, open_store: OpenStore
) -> None:
    rows = [
        Row(eid=i, uid=7, ts=T0_MS + t * S, v=float(i + 1), n=i + 1, w=1.0, flag=True)
        for i, t in enumerate((0, 10, 20, 20, 30))
    ]
    aggregations = [a for a in fs.AGGREGATIONS if a.label in ("count", "sum")]
    cases = fs.feature_cases([("w", choice)], aggregations)
    store = open_store(fs.definitions(cases, 0))
    store.push(fs.SOURCE, [r.event() for r in rows])
    at = T0_MS + as_of
    expected = {"f.w_v_count": count, "f.w_v_sum": total}

    online = store.get_features(list(expected), {"uid": 7}, as_of=fs.to_datetime(at))
    entity_df = pd.DataFrame({"uid": [7], "timestamp": [pd.Timestamp(at, unit="ms", tz="UTC")]})
    offline = store.training_set(list(expected), entity_df).iloc[0]
    events = [oracle.Event(ts=r.ts, seq=r.eid, key=7, value=r.v) for r in rows]
    truth = {
        ref: oracle.expected(events, 7, choice.spec, oracle.AggSpec(kind), at)
        for ref, kind in (("f.w_v_count", "count"), ("f.w_v_sum", "sum"))
    }

    assert online == expected
    assert {ref: offline[ref] for ref in expected} == expected
    assert truth == expected


SEEDED_WINDOWS = [
    ("s1ms", fs.sliding(1)),
    ("s7s", fs.sliding(7 * S)),
    ("s30d", fs.sliding(30 * 86_400 * S)),
    ("s5s_off3s", fs.sliding(5 * S, 3 * S)),
    ("life", fs.lifetime()),
    ("life_off4s", fs.lifetime(4 * S)),
    ("tumble10s", fs.hopping(10 * S, 10 * S)),
    ("hop15s_5s_off2s", fs.hopping(15 * S, 5 * S, 2 * S)),
]


@pytest.mark.parametrize("seed", [1, 2])
def test_seeded_streams_agree_on_every_window(seed: int, open_store: OpenStore) -> None:
    """Several windows in one view (shared channels, several bounds), a longer stream."""
    lateness = 5 * S
    cases = fs.feature_cases(SEEDED_WINDOWS)
    store = open_store(fs.definitions(cases, lateness))

    done = fs.replay(store, fs.seeded_stream(seed, 150, lateness), lateness, [c.ref for c in cases])

    assert done.late, "the stream should have refused some late events"
    fc.check_event_anchored(store, cases, done)
    rng = np.random.default_rng(seed)
    times = fc.edge_times(cases, [r.ts for r in done.logged])
    reads = [(int(rng.integers(0, 5)), int(rng.choice(times))) for _ in range(60)]
    fc.check_time_anchored(store, cases, done, reads)


# Two events at the same time, logged one after the other:
#
#   time (s)   20    20
#   log        #1    #2
#
# As of 20 s both count and #2 is the last; #1's own row (event-anchored) sees only #1.
@pytest.mark.parametrize(
    "values",
    [
        pytest.param((3.0, 4.0), id="logged_3_then_4"),
        pytest.param((4.0, 3.0), id="logged_4_then_3"),
    ],
)
def test_ties_follow_the_log(values: tuple[float, float], open_store: OpenStore) -> None:
    labels = ("count", "first", "last")
    cases = fs.feature_cases(
        [("w", fs.sliding(10 * S))], [a for a in fs.AGGREGATIONS if a.label in labels]
    )
    refs = [c.ref for c in cases if not c.agg.filtered]
    store = open_store(fs.definitions(cases, 0))
    for eid, v in enumerate(values):
        store.push(
            fs.SOURCE, Row(eid=eid, uid=1, ts=T0_MS + 20 * S, v=v, n=0, w=1.0, flag=True).event()
        )

    online = store.get_features(refs, {"uid": 1}, as_of=fs.to_datetime(T0_MS + 20 * S))
    rows = store.event_training_set(refs, fs.SOURCE).sort_values("__seq__")[refs]

    assert list(online.values()) == [2, values[0], values[1]]
    assert rows.to_numpy().tolist() == [[1, values[0], values[0]], [2, values[0], values[1]]]
