"""Every aggregation, on every window kind, over float and integer columns.

Each aggregation kind gets its own Hypothesis run with one feature per window kind
(sliding, sliding with offset, lifetime, lifetime with offset, tumbling, hopping),
per value column (float ``v``, int ``n``) and with and without a ``where`` filter, all
in one view, so windows share channels as they do in real views. The properties are
those of ``test_window_properties``: online == columnar (identical) == oracle, event-
and time-anchored. Sketches are then checked on windows far beyond their exact range,
and defects once found here stay fixed.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests import oracle
from tests.unit.engine import feature_checks as fc
from tests.unit.engine import feature_streams as fs
from tests.unit.engine import stream_strategies as ss
from tests.unit.engine.conftest import OpenStore
from tests.unit.engine.feature_streams import T0_MS, AggCase, Row

import upwell as uw

S = 1_000


@pytest.mark.parametrize("agg", [pytest.param(a, id=a.label) for a in fs.AGGREGATIONS])
@settings(max_examples=10, deadline=None)
@given(data=st.data())
def test_aggregation_agrees_on_every_window(
    agg: AggCase, data: st.DataObject, open_store: OpenStore
) -> None:
    lateness = data.draw(ss.lateness_ms, label="allowed lateness (ms)")
    windows = data.draw(ss.every_window(), label="windows")
    cases = fs.feature_cases(windows, [agg], columns=("v", "n"))
    stream = data.draw(ss.deliveries(lateness), label="pushes")
    store = open_store(fs.definitions(cases, lateness))

    done = fs.replay(store, stream, lateness, [c.ref for c in cases])

    fc.check_event_anchored(store, cases, done)
    times = fc.edge_times(cases, [r.ts for r in done.logged])
    reads = data.draw(
        st.lists(st.tuples(st.integers(0, 3), st.sampled_from(times)), min_size=1, max_size=20),
        label="reads (uid, as of ms)",
    )
    fc.check_time_anchored(store, cases, done, reads)


# ---- sketches beyond their exact range ---------------------------------------------

SKETCHES = [a for a in fs.AGGREGATIONS if a.spec.kind in fs.APPROXIMATE]
COUNT_AND_SUM = [a for a in fs.AGGREGATIONS if a.label in ("count", "sum")]


def _large_stream(seed: int, n_events: int) -> list[fs.Delivery]:
    """One entity, one event per second, values with few repeats (many distinct)."""
    rng = np.random.default_rng(seed)
    return [
        (
            Row(
                eid=i,
                uid=0,
                ts=T0_MS + i * S,
                v=round(float(rng.normal(50, 20)), 3),
                n=0,
                w=1.0,
                flag=bool(rng.random() < 0.7),
            ),
        )
        for i in range(n_events)
    ]


def test_sketches_stay_within_their_error_bounds_on_large_windows() -> None:
    """Thousands of values: HyperLogLog within 3 sigma, quantiles within the rank error.

    The lifetime features also fold evicted values into sketches (maintain() runs every
    500 events), so the merged-sketch path is checked too.
    """
    lateness = 10 * S
    windows = [("s20m", fs.sliding(1_200 * S)), ("life", fs.lifetime())]
    cases = fs.feature_cases(windows, SKETCHES)
    store = uw.FeatureStore(fs.definitions(cases, lateness))
    engine = store.store.engine

    def maintain(done: fs.Replay) -> None:
        if len(done.logged) % 500 == 0:
            engine.maintain()

    done = fs.replay(
        store, _large_stream(3, 3_000), lateness, [], read_online=False, after_push=maintain
    )

    assert engine.views[fs.VIEW].entities[(0,)].evicted > 0
    latest = done.logged[-1].ts
    fc.check_online(store, cases, done.logged, [(0, latest), (0, latest - lateness)])
    exact = oracle.window_events(
        [oracle.Event(r.ts, r.eid, r.uid, r.v) for r in done.logged], 0, windows[0][1].spec, latest
    )
    assert len({e.value for e in exact}) > 1_000, "the window should be far beyond exact range"


# ---- regressions ---------------------------------------------------------------------


def _one_per_second(n: int, flag_from: int = 0) -> list[dict[str, object]]:
    return [
        Row(eid=i, uid=0, ts=T0_MS + i * S, v=float(i), n=i, w=1.0, flag=i >= flag_from).event()
        for i in range(n)
    ]


def test_lifetime_with_offset_reads_after_eviction(open_store: OpenStore) -> None:
    """Eviction kept no raw events for Lifetime(offset=d): reads raised RetentionError.

    Events at 0..29 s; Lifetime with offset 10 s read as of 29 s counts ts <= 19 s.
    """
    cases = fs.feature_cases([("life_off", fs.lifetime(10 * S))], COUNT_AND_SUM)
    store = open_store(fs.definitions(cases, 0))
    store.push(fs.SOURCE, _one_per_second(30))

    assert fs.maintain(store) > 0
    features = store.get_features(
        ["f.life_off_v_count", "f.life_off_v_sum"], {"uid": 0}, as_of=fs.to_datetime(T0_MS + 29 * S)
    )

    assert features == {"f.life_off_v_count": 20, "f.life_off_v_sum": float(sum(range(20)))}


def test_first_over_lifetime_with_filter_after_evicting_only_filtered_events(
    open_store: OpenStore,
) -> None:
    """A lifetime First whose evicted events were all filtered out read null after eviction.

    Events at 0..29 s, kept by the filter from 25 s; the 5 s window evicts up to 23 s.
    """
    first = next(a for a in fs.AGGREGATIONS if a.label == "first")
    windows = [("life", fs.lifetime()), ("s5s", fs.sliding(5 * S))]
    store = open_store(fs.definitions(fs.feature_cases(windows, [first]), 0))
    store.push(fs.SOURCE, _one_per_second(30, flag_from=25))

    assert fs.maintain(store) > 0
    features = store.get_features(
        ["f.life_v_first_where"], {"uid": 0}, as_of=fs.to_datetime(T0_MS + 29 * S)
    )

    assert features == {"f.life_v_first_where": 25.0}


def test_percentile_is_identical_online_and_columnar_beyond_sketch_capacity() -> None:
    """Windows of more than k=200 values gave different quantiles on the two paths.

    KLL compacts with random choices, so two sketches of the same values disagreed.
    """
    cases = fs.feature_cases([("life", fs.lifetime())], SKETCHES)
    refs = [c.ref for c in cases]
    store = uw.FeatureStore(fs.definitions(cases, 0))
    done = fs.replay(store, _large_stream(5, 450), 0, refs)

    frame = store.event_training_set(refs, fs.SOURCE)
    columnar = dict(zip(frame["eid"], fc.records(frame), strict=True))

    assert sum(r.flag for r in done.logged) > 200, "even the filtered window should exceed k"
    for eid, online in done.online.items():
        assert all(fc.same(online[ref], columnar[eid][ref]) for ref in refs), eid
