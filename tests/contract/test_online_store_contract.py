"""The OnlineStore contract, run against every implementation.

Every backend is reached through the ``online_store_backend`` fixture, durable ones
also through ``durable_online_store_backend`` (checkpoint, then reopen, restores the
same state), and ones that keep files through ``file_online_store_backend``. Durable
stores are either *snapshot* stores (state survives a restart only as of the last
checkpoint; the runtime replays its log after it) or *live* stores (Redis: every apply
is durable on return, shared by every process that opens the namespace). A new backend
adds a factory to ``BACKENDS`` with its marker, and every test here runs against it.

Feature values are checked against a pandas oracle over the applied events::

    window (t - offset - w, t - offset]      e.g. w = 1h, offset = 0
    ----(=========]------->  time
        lo        hi = t
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import upwell as uw
from contract.redis_support import RedisNamespace, require_redis
from upwell.engine.admission import Verdict
from upwell.stores.disk import DiskStore
from upwell.stores.memory import MemoryStore
from upwell.stores.protocol import OnlineStore

HOUR = 3_600_000
DAY = 24 * HOUR
T0 = 1_700_000_000_000
LATENESS_MS = 2 * HOUR

CUSTOMER = uw.Entity(name="customer", keys=("cid",))
TX = uw.EventSource(
    name="tx",
    schema={"tid": int, "cid": int, "amount": float, "ts": datetime},
    timestamp="ts",
    event_id="tid",
    entities=(CUSTOMER,),
    allowed_lateness="2h",
)
# (name, aggregation, window ms or None for lifetime, offset ms)
FEATURES: list[tuple[str, Any, int | None, int]] = [
    ("n_life", uw.Count(), None, 0),
    ("sum_life", uw.Sum("amount"), None, 0),
    ("max_life", uw.Max("amount"), None, 0),
    ("n_1h", uw.Count(), HOUR, 0),
    ("sum_1h", uw.Sum("amount"), HOUR, 0),
    ("mean_1d", uw.Mean("amount"), DAY, 0),
    ("min_1d", uw.Min("amount"), DAY, 0),
    ("last_1d", uw.Last("amount"), DAY, 0),
    ("last3_1d", uw.LastK("amount", k=3), DAY, 0),
    ("n_1h_off_1h", uw.Count(), HOUR, HOUR),
]
SPEND = uw.FeatureView(
    name="spend",
    entity=CUSTOMER,
    source=TX,
    features=tuple(
        uw.Feature(name=name, aggregation=agg, window=w, offset=off or None)
        for name, agg, w, off in FEATURES
    ),
)
PROFILE = uw.BatchFeatures(
    name="profile", entity=CUSTOMER, schema={"age": int, "score": float, "tier": str}
)
REGISTRY = uw.validate([SPEND, PROFILE])


@dataclass
class StoreBackend:
    """How to open (and, for durable ones, reopen) one implementation of the store."""

    name: str
    open: Callable[[uw.Registry], OnlineStore]
    durable: bool
    directory: Path | None = None
    shared: bool = False
    """Whether every store opened on it shares one state (a live store)."""


def _redis(namespace: RedisNamespace) -> StoreBackend:
    return StoreBackend(
        "redis", lambda r: namespace.store(r, writer="contract"), durable=True, shared=True
    )


BACKENDS: dict[str, Callable[[Path, RedisNamespace], StoreBackend]] = {
    "memory": lambda _, __: StoreBackend("memory", MemoryStore, durable=False),
    "disk": lambda d, _: StoreBackend("disk", lambda r: DiskStore(r, d), durable=True, directory=d),
    "redis": lambda _, namespace: _redis(namespace),
}
REDIS = pytest.param("redis", marks=pytest.mark.redis)
DURABLE = ["disk", REDIS]
SNAPSHOT = ["disk"]
LIVE = [REDIS]
FILE_BACKED = ["disk"]


def _open_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreBackend]:
    namespace = RedisNamespace()
    if request.param == "redis":
        require_redis()
    try:
        yield BACKENDS[request.param](tmp_path / "state", namespace)
    finally:
        if request.param == "redis":
            namespace.cleanup()


@pytest.fixture(params=["memory", "disk", REDIS])
def online_store_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreBackend]:
    yield from _open_backend(request, tmp_path)


@pytest.fixture(params=DURABLE)
def durable_online_store_backend(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[StoreBackend]:
    yield from _open_backend(request, tmp_path)


@pytest.fixture(params=SNAPSHOT)
def snapshot_online_store_backend(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[StoreBackend]:
    yield from _open_backend(request, tmp_path)


@pytest.fixture(params=LIVE)
def live_online_store_backend(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[StoreBackend]:
    yield from _open_backend(request, tmp_path)


@pytest.fixture(params=FILE_BACKED)
def file_online_store_backend(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[StoreBackend]:
    yield from _open_backend(request, tmp_path)


# ---- helpers ----------------------------------------------------------------------


def make_events(seed: int, n: int = 300) -> list[dict[str, Any]]:
    """Mostly increasing times with out-of-order ones inside the allowed lateness."""
    rng = random.Random(seed)
    events, now = [], T0
    for i in range(n):
        now += rng.randrange(0, 20 * 60_000)
        back = rng.randrange(0, LATENESS_MS) if rng.random() < 0.2 else 0
        amount = round(rng.uniform(-50.0, 150.0), 2)
        events.append({"tid": i, "cid": rng.randrange(4), "amount": amount, "ts": now - back})
    return events


def apply_all(store: OnlineStore, events: list[dict[str, Any]], first_seq: int = 1) -> None:
    for i, event in enumerate(events):
        verdict = store.check("tx", [event["ts"]], [event["tid"]])
        assert verdict == [Verdict.ACCEPTED]
        store.apply("tx", event, event["ts"], first_seq + i, event["tid"])


def by_entity(events: list[dict[str, Any]]) -> dict[int, pd.DataFrame]:
    """Applied events per entity, in (time, log position) order."""
    frame = pd.DataFrame(events, columns=["tid", "cid", "amount", "ts"])
    frame["seq"] = range(1, len(frame) + 1)
    frame = frame.sort_values(["ts", "seq"])
    return {cid: frame[frame["cid"] == cid] for cid in range(10)}


def oracle(frames: dict[int, pd.DataFrame], cid: int, as_of: int) -> dict[str, Any]:
    frame = frames[cid]
    out: dict[str, Any] = {}
    for name, agg, window, offset in FEATURES:
        hi = as_of - offset
        lo = -math.inf if window is None else hi - window
        values = frame["amount"][(frame["ts"] <= hi) & (frame["ts"] > lo)]
        out[name] = _aggregate(agg, values)
    return out


def _aggregate(agg: Any, values: pd.Series) -> Any:
    if isinstance(agg, uw.Count):
        return len(values)
    if isinstance(agg, uw.Sum):
        return float(values.sum())
    if isinstance(agg, uw.LastK):
        return [float(v) for v in values.iloc[-agg.k :]]
    if values.empty:
        return None
    if isinstance(agg, uw.Last):
        return float(values.iloc[-1])
    method = {uw.Max: "max", uw.Mean: "mean", uw.Min: "min"}[type(agg)]
    return float(getattr(values, method)())


def assert_features(got: dict[str, Any], want: dict[str, Any], where: str) -> None:
    assert set(got) == set(want)
    for name, value in want.items():
        if isinstance(value, float):
            assert got[name] == pytest.approx(value, rel=1e-9, abs=1e-9), (where, name)
        else:
            assert got[name] == value, (where, name)


def read_everything(store: OnlineStore, times: list[int]) -> list[Any]:
    keys = [(cid,) for cid in range(6)]
    return [store.read("spend", keys, t) for t in times] + [
        store.read_batch("profile", keys, t) for t in times
    ]


# ---- check -------------------------------------------------------------------------


def test_check_decides_as_if_one_by_one(online_store_backend: StoreBackend) -> None:
    store = online_store_backend.open(REGISTRY)
    apply_all(store, [{"tid": 1, "cid": 0, "amount": 1.0, "ts": T0 + 10 * HOUR}])
    times = [
        T0 + 11 * HOUR,  # new: accepted, raises the watermark to 11h
        T0 + 12 * HOUR,  # same id twice in one batch: duplicate
        T0 + 9 * HOUR,  # 2h behind 11h: inside the lateness, accepted
        T0 + 10 * HOUR,  # id 1 was applied before: duplicate
        T0 + 13 * HOUR + 1,  # accepted, watermark 13h + 1ms
        T0 + 11 * HOUR,  # now 2h + 1ms behind: late
    ]
    ids = [2, 2, 3, 1, 4, 5]
    want = [Verdict.ACCEPTED, Verdict.DUPLICATE, Verdict.ACCEPTED, Verdict.DUPLICATE]
    want += [Verdict.ACCEPTED, Verdict.LATE]
    assert store.check("tx", times, ids) == want


def test_check_changes_nothing(online_store_backend: StoreBackend) -> None:
    store = online_store_backend.open(REGISTRY)
    events = make_events(1, 50)
    apply_all(store, events)
    probe_times = [e["ts"] + HOUR for e in make_events(2, 20)]
    before = read_everything(store, [T0 + DAY, T0 + 2 * DAY])
    first = store.check("tx", probe_times, list(range(1000, 1020)))
    assert store.check("tx", probe_times, list(range(1000, 1020))) == first
    assert store.check("tx", [events[0]["ts"] + DAY], [1000]) == [Verdict.ACCEPTED]
    assert read_everything(store, [T0 + DAY, T0 + 2 * DAY]) == before


# ---- apply and read ----------------------------------------------------------------


@pytest.mark.parametrize("seed", [3, 4])
def test_read_matches_a_pandas_oracle(online_store_backend: StoreBackend, seed: int) -> None:
    store = online_store_backend.open(REGISTRY)
    events = make_events(seed)
    apply_all(store, events)
    last, frames = max(e["ts"] for e in events), by_entity(events)
    times = sorted({e["ts"] for e in events[::17]} | {last, last + HOUR, last + 3 * DAY})
    for as_of in times:
        for cid, got in enumerate(store.read("spend", [(c,) for c in range(5)], as_of)):
            assert_features(got, oracle(frames, cid, as_of), f"cid {cid} as of {as_of}")


def test_unknown_entity_reads_empty_window_values(online_store_backend: StoreBackend) -> None:
    store = online_store_backend.open(REGISTRY)
    apply_all(store, make_events(5, 20))
    (got,) = store.read("spend", [(999,)], T0 + DAY)
    assert got["n_life"] == 0
    assert got["sum_1h"] == 0.0
    assert got["mean_1d"] is None
    assert got["min_1d"] is None
    assert got["last3_1d"] == []


def test_checkpoint_keeps_reads_from_the_admission_horizon_on(
    online_store_backend: StoreBackend,
) -> None:
    store = online_store_backend.open(REGISTRY)
    events = make_events(6, 400)
    apply_all(store, events)
    watermark = max(e["ts"] for e in events)
    times = [watermark - LATENESS_MS, watermark - HOUR, watermark, watermark + 2 * DAY]
    before = read_everything(store, times)
    store.checkpoint()
    assert read_everything(store, times) == before
    frames = by_entity(events)
    for cid, got in enumerate(store.read("spend", [(c,) for c in range(4)], watermark)):
        assert_features(got, oracle(frames, cid, watermark), f"cid {cid}")


def test_applied_seq_is_what_a_checkpoint_made_durable(
    online_store_backend: StoreBackend,
) -> None:
    store = online_store_backend.open(REGISTRY)
    assert store.applied_seq() == 0
    apply_all(store, make_events(7, 10), first_seq=41)
    store.checkpoint()
    assert store.applied_seq() == (50 if online_store_backend.durable else 0)


# ---- batch rows ----------------------------------------------------------------------


def test_batch_rows_are_read_as_of_a_time(online_store_backend: StoreBackend) -> None:
    store = online_store_backend.open(REGISTRY)
    store.put_batch_row("profile", (1,), T0 + HOUR, (30, 0.5, "gold"))
    store.put_batch_row("profile", (1,), T0, (29, 0.25, "silver"))  # loaded out of order
    store.put_batch_row("profile", (2,), T0 + DAY, (40, 1.5, "none"))
    store.put_batch_row("profile", (1,), T0 + HOUR, (31, 0.75, "gold"))  # replaces the row
    keys = [(1,), (2,), (3,)]
    assert store.read_batch("profile", keys, T0 - 1) == [None, None, None]
    assert store.read_batch("profile", keys, T0) == [(29, 0.25, "silver"), None, None]
    assert store.read_batch("profile", keys, T0 + HOUR - 1)[0] == (29, 0.25, "silver")
    assert store.read_batch("profile", keys, T0 + HOUR)[0] == (31, 0.75, "gold")
    assert store.read_batch("profile", keys, T0 + DAY) == [
        (31, 0.75, "gold"),
        (40, 1.5, "none"),
        None,
    ]


# ---- durable stores ---------------------------------------------------------------------


def _fill(store: OnlineStore) -> list[dict[str, Any]]:
    events = make_events(8, 250)
    apply_all(store, events)
    store.put_batch_row("profile", (1,), T0, (29, 0.1 + 0.2, "é"))
    store.put_batch_row("profile", (3,), T0 + DAY, (50, -1e-300, "x"))
    return events


def test_checkpoint_then_reopen_restores_identical_state(
    durable_online_store_backend: StoreBackend,
) -> None:
    store = durable_online_store_backend.open(REGISTRY)
    events = _fill(store)
    store.checkpoint()
    watermark = max(e["ts"] for e in events)
    times = [watermark - LATENESS_MS, watermark - 1, watermark, watermark + DAY]
    probe = ([watermark - 3 * HOUR, watermark, watermark + 1], [10_000, 5, 10_001])
    before = read_everything(store, times), store.check("tx", *probe)
    reopened = durable_online_store_backend.open(REGISTRY)
    assert reopened.applied_seq() == len(events)
    assert (read_everything(reopened, times), reopened.check("tx", *probe)) == before
    # Bit-identical floats, not merely close ones.
    assert reopened.read_batch("profile", [(1,)], T0)[0] == (29, 0.1 + 0.2, "é")
    assert reopened.read_batch("profile", [(3,)], T0 + DAY)[0] == (50, -1e-300, "x")
    # The restored store keeps working: new events fold in as in the original.
    more = [
        {"tid": 900 + i, "cid": i % 4, "amount": 1.5 * i, "ts": watermark + i} for i in range(5)
    ]
    shared = durable_online_store_backend.shared
    for target in (reopened,) if shared else (store, reopened):
        apply_all(target, more, first_seq=len(events) + 1)
    assert read_everything(reopened, times) == read_everything(store, times)
    for cid in range(4):
        (got,) = reopened.read("spend", [(cid,)], watermark + DAY)
        assert_features(got, oracle(by_entity(events + more), cid, watermark + DAY), f"cid {cid}")


def test_close_checkpoints(durable_online_store_backend: StoreBackend) -> None:
    store = durable_online_store_backend.open(REGISTRY)
    events = _fill(store)
    store.close()
    reopened = durable_online_store_backend.open(REGISTRY)
    assert reopened.applied_seq() == len(events)
    watermark = max(e["ts"] for e in events)
    assert read_everything(reopened, [watermark]) == read_everything(store, [watermark])


def test_state_without_a_checkpoint_is_not_durable(
    snapshot_online_store_backend: StoreBackend,
) -> None:
    # The log replays everything after applied_seq(); the store promises only that much.
    store = snapshot_online_store_backend.open(REGISTRY)
    _fill(store)
    assert store.applied_seq() == 0
    reopened = snapshot_online_store_backend.open(REGISTRY)
    assert reopened.applied_seq() == 0
    assert reopened.read("spend", [(0,)], T0 + DAY)[0]["n_life"] == 0


def test_a_live_store_holds_every_applied_event_and_replays_apply_once(
    live_online_store_backend: StoreBackend,
) -> None:
    # No checkpoint: applied_seq() lags, so the runtime replays its log after it; the
    # store recognises what it already holds, and the replay changes nothing.
    store = live_online_store_backend.open(REGISTRY)
    events = _fill(store)
    watermark = max(e["ts"] for e in events)
    before = read_everything(store, [watermark, watermark + DAY])
    reopened = live_online_store_backend.open(REGISTRY)
    assert reopened.applied_seq() == 0
    assert read_everything(reopened, [watermark, watermark + DAY]) == before
    for seq, event in enumerate(events, start=1):
        reopened.apply("tx", event, event["ts"], seq, event["tid"])
    assert read_everything(reopened, [watermark, watermark + DAY]) == before
    frames = by_entity(events)
    for cid, got in enumerate(reopened.read("spend", [(c,) for c in range(4)], watermark)):
        assert_features(got, oracle(frames, cid, watermark), f"cid {cid}")


def test_a_snapshot_of_other_definitions_is_not_restored(
    durable_online_store_backend: StoreBackend,
) -> None:
    store = durable_online_store_backend.open(REGISTRY)
    _fill(store)
    store.checkpoint()
    other = uw.FeatureView(
        name="spend",
        entity=CUSTOMER,
        source=TX,
        features=(uw.Feature(name="n_life", aggregation=uw.Count()),),
    )
    reopened = durable_online_store_backend.open(uw.validate([other, PROFILE]))
    assert reopened.applied_seq() == 0  # so the runtime rebuilds it from the whole log
    assert reopened.read("spend", [(0,)], T0 + DAY) == [{"n_life": 0}]


def test_a_leftover_temporary_snapshot_is_ignored(
    file_online_store_backend: StoreBackend,
) -> None:
    # A crash while writing a snapshot leaves a partial temporary file beside the last one.
    store = file_online_store_backend.open(REGISTRY)
    events = _fill(store)
    store.checkpoint()
    assert file_online_store_backend.directory is not None
    for leftover in file_online_store_backend.directory.iterdir():
        text = leftover.read_text(encoding="utf-8")
        json.loads(text)  # the real snapshot is complete JSON
        leftover.with_suffix(".tmp").write_text(text[: len(text) // 2], encoding="utf-8")
    reopened = file_online_store_backend.open(REGISTRY)
    assert reopened.applied_seq() == len(events)
    watermark = max(e["ts"] for e in events)
    assert read_everything(reopened, [watermark]) == read_everything(store, [watermark])
