"""The engine's state across admission, backfill, eviction and restarts.

- Admission: late events (beyond the allowed lateness) are refused, counted, sent to
  the dead letters and kept out of the log and the features; duplicate ids apply once.
- Backfill of a shuffled history gives exactly the state and the training set that
  pushing the same events one by one in event-time order gives.
- Eviction (``maintain()``) keeps every read from the admission horizon on exact.
- A durable store restarts, after a crash or a clean close, with identical features.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.unit.engine import feature_checks as fc
from tests.unit.engine import feature_streams as fs
from tests.unit.engine import stream_strategies as ss
from tests.unit.engine.conftest import OpenStore
from tests.unit.engine.feature_streams import T0_MS, Row

import upwell as uw

S = 1_000
COUNT_SUM_LAST = [a for a in fs.AGGREGATIONS if a.label in ("count", "sum", "last")]


def _row(eid: int, seconds: float, uid: int = 1) -> Row:
    return Row(
        eid=eid, uid=uid, ts=T0_MS + int(seconds * S), v=float(eid + 1), n=eid, w=1.0, flag=True
    )


# Allowed lateness 5 s. The watermark is the latest admitted event time.
#
#   time (s)         90 ........ 94.999  95 ........ 100
#                                  late   on the bound  watermark
ADMISSION_CASES = [
    pytest.param(
        [[_row(0, 100)], [_row(0, 100)]], [(1, 0, 0), (0, 1, 0)], id="duplicate_across_pushes"
    ),
    pytest.param([[_row(0, 100), _row(0, 100)]], [(1, 1, 0)], id="duplicate_in_one_push"),
    pytest.param(
        [[_row(0, 100)], [_row(1, 97)], [_row(2, 99)]],
        [(1, 0, 0)] * 3,
        id="out_of_order_within_lateness",
    ),
    pytest.param(
        [[_row(0, 100)], [_row(1, 95)]],
        [(1, 0, 0), (1, 0, 0)],
        id="exactly_at_the_allowed_lateness",
    ),
    pytest.param(
        [[_row(0, 100)], [_row(1, 94.999)]],
        [(1, 0, 0), (0, 0, 1)],
        id="beyond_the_allowed_lateness",
    ),
    pytest.param(
        [[_row(0, 100), _row(1, 94.999), _row(2, 100)]], [(2, 0, 1)], id="late_inside_one_push"
    ),
    pytest.param(
        [[_row(1, 90)], [_row(0, 100)], [_row(1, 90)]],
        [(1, 0, 0), (1, 0, 0), (0, 0, 1)],
        id="redelivery_beyond_lateness_counts_late",
    ),
]


@pytest.mark.parametrize(("pushes", "results"), ADMISSION_CASES)
def test_admission(
    pushes: list[list[Row]], results: list[tuple[int, int, int]], open_store: OpenStore
) -> None:
    lateness = 5 * S
    cases = fs.feature_cases(
        [("life", fs.lifetime()), ("s10s", fs.sliding(10 * S))], COUNT_SUM_LAST
    )
    store = open_store(fs.definitions(cases, lateness))
    deliveries = [tuple(p) for p in pushes]

    done = fs.replay(store, deliveries, lateness, [c.ref for c in cases])

    predicted = [
        (v.count("accepted"), v.count("duplicate"), v.count("late"))
        for v in fs.admit(deliveries, lateness)
    ]
    assert predicted == results  # replay() checked each push's result against the prediction
    assert len(done.logged) == sum(a for a, _, _ in results)
    assert len(done.late) == sum(n for _, _, n in results)
    assert store.dead_letters.counts[(fs.SOURCE, "late")] == len(done.late)
    fc.check_event_anchored(store, cases, done)  # also: log == admitted, dead letters == late
    latest = max(r.ts for r in done.logged)
    fc.check_time_anchored(store, cases, done, [(1, latest), (1, latest - lateness)])


def _frame(rows: list[Row]) -> pd.DataFrame:
    frame = pd.DataFrame([r.__dict__ for r in rows])
    frame["ts"] = pd.to_datetime(frame["ts"], unit="ms", utc=True)
    return frame


@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_backfill_equals_pushing_in_event_time_order(
    data: st.DataObject, open_store: OpenStore
) -> None:
    """Prior pushes, then a shuffled history (duplicates, late rows) backfilled or pushed."""
    lateness = data.draw(ss.lateness_ms, label="allowed lateness (ms)")
    cases = fs.feature_cases(data.draw(ss.every_window(), label="windows"))
    refs = [c.ref for c in cases]
    rows = [r for d in data.draw(ss.deliveries(lateness), label="pushes") for r in d]
    split = data.draw(st.integers(0, len(rows) - 1), label="rows pushed before the backfill")
    history = data.draw(st.permutations(rows[split:]), label="backfilled history")
    pushed = open_store(fs.definitions(cases, lateness))
    backfilled = open_store(fs.definitions(cases, lateness))
    for row in rows[:split]:
        assert pushed.push(fs.SOURCE, row.event()) == backfilled.push(fs.SOURCE, row.event())

    result = backfilled.backfill(fs.SOURCE, _frame(history))
    one_by_one = [pushed.push(fs.SOURCE, r.event()) for r in sorted(history, key=lambda r: r.ts)]
    fs.maintain(pushed)  # a backfill ends by evicting what no read can still need

    assert result == uw.PushResult(
        accepted=sum(r.accepted for r in one_by_one),
        duplicates=sum(r.duplicates for r in one_by_one),
        late=sum(r.late for r in one_by_one),
    )
    assert backfilled.dead_letters.read() == pushed.dead_letters.read()
    expected = fc.records(pushed.event_training_set(refs, fs.SOURCE))
    actual = fc.records(backfilled.event_training_set(refs, fs.SOURCE))
    assert [(r["__seq__"], r["eid"]) for r in actual] == [
        (r["__seq__"], r["eid"]) for r in expected
    ]
    for a, e in zip(actual, expected, strict=True):
        assert all(fc.same(a[ref], e[ref]) for ref in refs), (a, e)
    watermark = max(r["ts"] for r in expected)
    times = [t for t in fc.edge_times(cases, [watermark]) if t >= watermark - lateness]
    reads = data.draw(st.lists(st.tuples(st.integers(0, 3), st.sampled_from(times)), max_size=8))
    for uid, t in [(0, watermark - lateness), *reads]:
        a = backfilled.get_features(refs, {"uid": uid}, as_of=fs.to_datetime(t))
        e = pushed.get_features(refs, {"uid": uid}, as_of=fs.to_datetime(t))
        assert all(fc.same(a[ref], e[ref]) for ref in refs), (uid, t)


def _check_latest(
    store: uw.FeatureStore, cases: list[fs.FeatureCase], done: fs.Replay, lateness: int
) -> None:
    """Online reads from the horizon on == oracle; exact kinds == the training set too."""
    latest = max(r.ts for r in done.logged)
    reads = [(u, t) for u in range(4) for t in (latest - lateness, latest, latest + 7 * S)]
    fc.check_online(store, cases, done.logged, reads)
    exact = [c for c in cases if c.agg.kind not in fs.APPROXIMATE]
    refs = [c.ref for c in exact]
    entity_df = pd.DataFrame(
        {
            "uid": [u for u, _ in reads],
            "timestamp": pd.to_datetime([t for _, t in reads], unit="ms", utc=True),
        }
    )
    for (uid, t), row in zip(reads, fc.records(store.training_set(refs, entity_df)), strict=True):
        online = store.get_features(refs, {"uid": uid}, as_of=fs.to_datetime(t))
        assert all(fc.same(online[ref], row[ref]) for ref in refs), (uid, t)


@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_eviction_keeps_reads_from_the_horizon_exact(
    data: st.DataObject, open_store: OpenStore
) -> None:
    lateness = data.draw(ss.lateness_ms, label="allowed lateness (ms)")
    cases = fs.feature_cases(data.draw(ss.every_window(), label="windows"))
    stream = data.draw(ss.deliveries(lateness, max_events=60), label="pushes")
    every = data.draw(st.integers(3, 12), label="maintain every n logged events")
    store = open_store(fs.definitions(cases, lateness))

    def maintain_then_read(done: fs.Replay) -> None:
        if done.logged and len(done.logged) % every == 0:
            fs.maintain(store)
            latest = max(r.ts for r in done.logged)
            reads = [(0, latest - lateness), *((u, latest) for u in range(3))]
            fc.check_online(store, cases, done.logged, reads)

    done = fs.replay(
        store,
        stream,
        lateness,
        [c.ref for c in cases],
        read_online=False,
        after_push=maintain_then_read,
    )

    _check_latest(store, cases, done, lateness)


LONG_WINDOWS = [
    ("s7s", fs.sliding(7 * S)),
    ("s5s_off3s", fs.sliding(5 * S, 3 * S)),
    ("life", fs.lifetime()),
    ("life_off4s", fs.lifetime(4 * S)),
    ("tumble10s", fs.hopping(10 * S, 10 * S)),
    ("hop15s_5s_off2s", fs.hopping(15 * S, 5 * S, 2 * S)),
]


def test_long_stream_evicts_and_stays_exact(open_store: OpenStore) -> None:
    """A stream many times longer than the retention, maintained every 100 pushes."""
    lateness = 2 * S
    cases = fs.feature_cases(LONG_WINDOWS)
    store = open_store(fs.definitions(cases, lateness))
    evicted: list[int] = []

    def maintain(done: fs.Replay) -> None:
        if done.logged and len(done.logged) % 100 == 0:
            evicted.append(fs.maintain(store))

    stream = fs.seeded_stream(11, 800, lateness, n_users=3)
    done = fs.replay(store, stream, lateness, [], read_online=False, after_push=maintain)
    evicted.append(fs.maintain(store))

    assert sum(evicted) > len(done.logged) // 2
    _check_latest(store, cases, done, lateness)
    with pytest.raises(uw.RetentionError):
        store.get_features([cases[0].ref], {"uid": 0}, as_of=fs.to_datetime(T0_MS))


Snapshot = tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]
"""Online reads, the logged events and the dead letters of a store."""


def test_durable_store_restarts_with_identical_features(
    tmp_path: Path, open_store: OpenStore
) -> None:
    """Snapshot at half way, then a crash (snapshot + log tail), then a clean close."""
    lateness = 3 * S
    cases = fs.feature_cases(LONG_WINDOWS, columns=("v", "n"))
    refs = [c.ref for c in cases]
    first = open_store(fs.definitions(cases, lateness), path=tmp_path)
    stream = fs.seeded_stream(5, 160, lateness, n_users=3)

    def checkpoint_half_way(done: fs.Replay) -> None:
        if len(done.logged) == 80:
            first.checkpoint()

    done = fs.replay(first, stream, lateness, refs, after_push=checkpoint_half_way)
    latest = max(r.ts for r in done.logged)
    reads = [(u, t) for u in range(4) for t in (latest - lateness, latest, latest + 9 * S)]

    def snapshot(store: uw.FeatureStore) -> Snapshot:
        online = [store.get_features(refs, {"uid": u}, as_of=fs.to_datetime(t)) for u, t in reads]
        log = store.events(fs.SOURCE).to_pandas().sort_values("__seq__")
        return online, fc.records(log), store.dead_letters.read()

    before = snapshot(first)
    fc.check_online(first, cases, done.logged, reads)
    assert 0 < first.store.applied_seq() < first.log.last_seq(), "a log tail after the snapshot"
    recovered = open_store(fs.definitions(cases, lateness), path=tmp_path)  # no close
    _assert_identical(snapshot(recovered), before, refs)
    recovered.close()
    first.close()
    reopened = open_store(fs.definitions(cases, lateness), path=tmp_path)
    _assert_identical(snapshot(reopened), before, refs)
    newest = max(done.logged, key=lambda r: r.ts)
    assert reopened.push(fs.SOURCE, newest.event()) == uw.PushResult(0, 1, 0)
    reopened.close()


def _assert_identical(got: Snapshot, want: Snapshot, refs: list[str]) -> None:
    online, rows, letters = got
    want_online, want_rows, want_letters = want
    assert letters == want_letters
    for a, e in zip(online, want_online, strict=True):
        assert all(fc.same(a[ref], e[ref]) for ref in refs)
    assert rows == want_rows
