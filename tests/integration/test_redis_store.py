"""The Redis online store behind FeatureStore: sharing, backfill, TTL, keys, configuration.

- Two FeatureStores on one namespace (two processes, or a worker and a server) see one
  state: what one pushes, the other reads, and a redelivery to either is a duplicate.
- A backfill into Redis gives bit for bit the state of an embedded backfill, and
  running it again (also after losing the admission records, as a crash between the
  state write and the admission write would) applies nothing twice.
- Idle entities expire after ``idle_ttl``; an update renews the TTL; None keeps them.
- Every key of one entity hashes to one Redis Cluster slot, as do a source's keys.
- Bad URLs, prefixes and TTLs, and an unreachable server, are configuration errors that
  name the setting (or the URL) and the fix.
"""

from __future__ import annotations

import math
import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from redis.crc import key_slot

import upwell as uw
from contract.redis_support import RedisNamespace, require_redis
from upwell.config import ConfigError, OnlineConfig, load_config
from upwell.eventlog.memory import MemoryEventLog
from upwell.ingest import backfill as backfill_module
from upwell.ingest.columnar_batch import to_table, validate_columns
from upwell.ingest.dead_letters import MemoryDeadLetters
from upwell.stores.redis_keys import Keyspace

HOUR = 3_600_000
DAY = 24 * HOUR
T0 = datetime(2024, 3, 1, tzinfo=UTC)
T0_MS = int(T0.timestamp() * 1000)

CUSTOMER = uw.Entity(name="customer", keys=("cid",))
TERMINAL = uw.Entity(name="terminal", keys=("term",))
TX = uw.EventSource(
    name="tx",
    schema={"tid": int, "cid": int, "term": str, "amount": float, "ts": datetime},
    timestamp="ts",
    event_id="tid",
    entities=(CUSTOMER, TERMINAL),
    allowed_lateness="1h",
)
SPEND = uw.FeatureView(
    name="spend",
    entity=CUSTOMER,
    source=TX,
    features=[
        uw.Feature(name="n_1d", aggregation=uw.Count(), window="1d"),
        uw.Feature(name="mean_7d", aggregation=uw.Mean("amount"), window="7d"),
        uw.Feature(name="std_7d", aggregation=uw.Stddev("amount"), window="7d"),
        uw.Feature(name="max_life", aggregation=uw.Max("amount")),
        uw.Feature(name="last3", aggregation=uw.LastK("amount", k=3), window="1d"),
    ],
)
TERMINALS = uw.FeatureView(
    name="terminals",
    entity=TERMINAL,
    source=TX,
    features=[
        uw.Feature(name="n_1d_lagged", aggregation=uw.Count(), window="1d", offset="1d"),
        uw.Feature(name="sum_life", aggregation=uw.Sum("amount")),
        uw.Feature(name="customers_7d", aggregation=uw.DistinctCount("cid"), window="7d"),
    ],
)
DEFINITIONS = [SPEND, TERMINALS]
REFS = [f"spend.{f.name}" for f in SPEND.features] + [
    f"terminals.{f.name}" for f in TERMINALS.features
]


@pytest.fixture
def namespace() -> Any:
    require_redis()
    space = RedisNamespace()
    yield space
    space.cleanup()


def history(n: int, seed: int = 1) -> pd.DataFrame:
    """Transactions over 20 days, shuffled, some repeated (a re-sent export)."""
    rng = random.Random(seed)
    rows = [
        {
            "tid": i,
            "cid": rng.randrange(30),
            "term": f"t{rng.randrange(12)}",
            "amount": round(rng.uniform(1, 300), 2),
            "ts": T0 + timedelta(milliseconds=rng.randrange(20 * DAY)),
        }
        for i in range(n)
    ]
    rows += rng.sample(rows, n // 20)
    rng.shuffle(rows)
    return pd.DataFrame(rows)


def read_all(store: uw.FeatureStore, times: list[datetime]) -> list[dict[str, Any]]:
    entity_rows = [{"cid": c, "term": f"t{c % 14}"} for c in range(32)]
    return [row for t in times for row in store.get_features(REFS, entity_rows, as_of=t)]


# ---- sharing -----------------------------------------------------------------------


@pytest.mark.redis
def test_two_feature_stores_share_one_state(namespace: RedisNamespace) -> None:
    writer = namespace.feature_store(DEFINITIONS)
    reader = namespace.feature_store(DEFINITIONS)
    frame = history(400).drop_duplicates("tid").sort_values("ts")
    events = frame.to_dict("records")

    for at in range(0, len(events), 50):
        assert writer.push("tx", events[at : at + 50]).accepted == len(events[at : at + 50])

    end = events[-1]["ts"]
    times = [end - timedelta(hours=h) for h in (0, 1, 30)] + [end + timedelta(days=2)]
    assert read_all(reader, times) == read_all(writer, times)
    # the writer records admissions with its next round trip, or once idle for 5 ms
    newest = int(end.timestamp() * 1000)
    _wait_until(lambda: reader.store.watermarks() == {"tx": newest})
    assert reader.push("tx", events[-1]) == uw.PushResult(accepted=0, duplicates=1, late=0)
    assert reader.push("tx", events[0]) == uw.PushResult(accepted=0, duplicates=0, late=1)
    # online == offline: the writer's training set (its log) equals what the reader serves
    entity_df = pd.DataFrame({"cid": [0, 1, 2], "term": ["t0", "t1", "t2"], "timestamp": [end] * 3})
    training = writer.training_set(REFS, entity_df).to_dict("records")
    served = reader.get_features(REFS, entity_df[["cid", "term"]].to_dict("records"), as_of=end)
    for want, got in zip(training, served, strict=True):
        for ref in REFS:
            assert _same(want[ref], got[ref]), (ref, want[ref], got[ref])


def _same(offline: Any, online: Any) -> bool:
    """Identical values; a training set's NaN is an online None, its arrays are lists."""
    if hasattr(offline, "tolist"):
        offline = offline.tolist()
    if isinstance(offline, float) and math.isnan(offline):
        return online is None
    return bool(offline == online)


# ---- backfill ----------------------------------------------------------------------


@pytest.mark.redis
def test_backfill_into_redis_equals_embedded_and_applies_once(namespace: RedisNamespace) -> None:
    frame = history(3_000)
    embedded = uw.FeatureStore(DEFINITIONS)
    shared = namespace.feature_store(DEFINITIONS)
    early = frame[frame["ts"] < T0 + timedelta(days=5)].drop_duplicates("tid").sort_values("ts")
    first = frame[frame["ts"] < T0 + timedelta(days=12)]
    second = frame[frame["ts"] >= T0 + timedelta(days=11)]  # overlaps: duplicates, late
    for store in (embedded, shared):  # entities with earlier events, a watermark to respect
        store.push("tx", early.to_dict("records"))
        store.backfill("tx", first)
    keys = Keyspace(namespace.prefix, shared.registry.fingerprint)
    client = shared.store.connection.client
    admission = {name: client.dump(name) for name in (keys.watermark("tx"), keys.seen("tx"))}

    result = shared.backfill("tx", second)

    assert result == embedded.backfill("tx", second)
    assert result.accepted > 1_000
    assert result.duplicates > 0
    assert result.late > 0
    end = frame["ts"].max()
    times = [end - timedelta(hours=h) for h in (0, 1)] + [end + timedelta(days=1, hours=12)]
    before = read_all(shared, times)
    assert before == read_all(embedded, times)  # bit for bit
    again = shared.backfill("tx", frame)
    assert again.accepted == 0
    assert again.duplicates + again.late == len(frame)
    assert read_all(shared, times) == before
    # A crash after the states were written but before the admission was recorded: the
    # entity states still know (or evicted past) every event, so none is applied twice.
    for name, dumped in admission.items():
        client.restore(name, 0, dumped, replace=True)
    rerun = shared.backfill("tx", second)
    assert rerun.accepted == 0
    assert read_all(shared, times) == before


@pytest.mark.redis
def test_a_backfill_racing_another_writer_loses_neither(namespace: RedisNamespace) -> None:
    frame = history(300).drop_duplicates("tid")
    registry = uw.validate(DEFINITIONS)
    store = namespace.store(registry, writer="backfill")
    other = namespace.store(registry, writer="other")
    columns = validate_columns(to_table(frame), TX.schema, "backfill")
    prepared = store.prepare_backfill("tx", columns, first_seq=1)
    # between reading the states and writing them back, another writer changes two
    late = {"tid": 10_000, "cid": 3, "term": "t5", "amount": 7.25}
    ts = int(frame["ts"].min().timestamp() * 1000)  # late for nothing in the batch
    other.apply("tx", {**late, "ts": ts}, ts, 1, 10_000)

    result = backfill_module.backfill(
        prepared.engine, MemoryEventLog(), MemoryDeadLetters(), TX, frame
    )
    prepared.commit()

    assert result.accepted == len(frame)
    assert store.states.conflicts == 2  # customer 3 and terminal t5: applied again
    embedded = uw.FeatureStore(DEFINITIONS)  # the same order: the other writer's event first
    embedded.push("tx", {**late, "ts": pd.Timestamp(ts, unit="ms", tz="UTC")})
    embedded.backfill("tx", frame)
    end = int(frame["ts"].max().timestamp() * 1000)
    for view, keys in (
        ("spend", [(c,) for c in range(32)]),
        ("terminals", [(f"t{t}",) for t in range(12)]),
    ):
        for at in (end, end + DAY):
            assert store.read(view, keys, at) == embedded.store.read(view, keys, at), (view, at)


# ---- idle entities -----------------------------------------------------------------


@pytest.mark.redis
def test_idle_entities_expire_after_the_ttl(namespace: RedisNamespace) -> None:
    registry = uw.validate(DEFINITIONS)
    ttl = timedelta(milliseconds=400)
    store = namespace.store(registry, idle_ttl=ttl)
    keep = namespace.store(registry)  # the same namespace with no TTL
    event = {"tid": 1, "cid": 7, "term": "t1", "amount": 5.0, "ts": T0_MS}
    store.apply("tx", event, T0_MS, 1, 1)
    store.checkpoint()
    client = store.connection.client
    spend = store.keys.state("spend", "customer", (7,))
    assert 0 < client.pttl(spend) <= 400
    assert client.pttl(store.keys.watermark("tx")) == -1  # admission never expires
    keep.apply("tx", {**event, "tid": 2, "cid": 8}, T0_MS + 1, 2, 2)
    assert client.pttl(keep.keys.state("spend", "customer", (8,))) == -1

    _wait_until(lambda: client.exists(spend) == 0)
    (features,) = store.read("spend", [(7,)], T0_MS)
    assert features["n_1d"] == 0
    assert store.read("spend", [(8,)], T0_MS + 1)[0]["n_1d"] == 1

    store.apply("tx", {**event, "tid": 3}, T0_MS + 2, 3, 3)
    time.sleep(0.2)
    store.apply("tx", {**event, "tid": 4}, T0_MS + 3, 4, 4)  # renews the TTL
    assert client.pttl(spend) > 300
    assert store.read("spend", [(7,)], T0_MS + 3)[0]["n_1d"] == 2


def _wait_until(condition: Any, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


# ---- keys --------------------------------------------------------------------------


def test_keys_of_one_entity_and_of_one_source_share_a_cluster_slot() -> None:
    keys = Keyspace("shop", "0123456789abcdef")
    for key in [(42,), ("a}b{c",), ("x", 3)]:
        names = [
            keys.state("spend", "customer", key),
            keys.state("visits", "customer", key),
            keys.batch("profile", "customer", key),
        ]
        assert len({key_slot(n.encode()) for n in names}) == 1, names
    assert key_slot(keys.watermark("tx").encode()) == key_slot(keys.seen("tx").encode())
    slots = {key_slot(keys.state("spend", "customer", (c,)).encode()) for c in range(200)}
    assert len(slots) > 150  # entities spread over the cluster


# ---- configuration -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        pytest.param("http://127.0.0.1:6379/0", "is not a Redis URL", id="scheme"),
        pytest.param("127.0.0.1:6379", "is not a Redis URL", id="no_scheme"),
        pytest.param("redis://", "is not a Redis URL", id="no_host"),
    ],
)
def test_a_bad_online_url_is_a_config_error(url: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment) as raised:
        uw.FeatureStore(DEFINITIONS, online=url)
    assert "redis://127.0.0.1:6379/0" in raised.value.fix


def test_an_unreachable_redis_is_a_config_error_naming_the_url() -> None:
    url = "redis://:secret@127.0.0.1:1/0"
    with pytest.raises(ConfigError, match=r"127\.0\.0\.1:1/0") as raised:
        uw.FeatureStore(DEFINITIONS, online=url)
    assert "secret" not in str(raised.value)
    assert "UPWELL_ONLINE" in raised.value.fix


def _project(tmp_path: Path, online: str) -> Path:
    (tmp_path / "upwell.toml").write_text(f'[project]\nname = "shop 1"\n{online}', "utf-8")
    return tmp_path


def test_the_online_table_and_its_environment_override(tmp_path: Path) -> None:
    table = '[online]\nurl = "redis://cache:6379/2"\nidle_ttl = "45d"\n'
    config = load_config(_project(tmp_path, table), environ={})
    assert config.online == OnlineConfig(
        url="redis://cache:6379/2", prefix="shop-1", idle_ttl=timedelta(days=45)
    )
    override = load_config(tmp_path, environ={"UPWELL_ONLINE": "rediss://other:6380/0"})
    assert override.online is not None
    assert override.online.url == "rediss://other:6380/0"
    assert load_config(tmp_path, environ={"UPWELL_ONLINE": "embedded"}).online is None
    assert load_config(_project(tmp_path, ""), environ={}).online is None


@pytest.mark.parametrize(
    ("table", "environ", "where"),
    [
        pytest.param('[online]\nurl = "mysql://x"\n', {}, "[online] url", id="scheme"),
        pytest.param("", {"UPWELL_ONLINE": "localhost"}, "UPWELL_ONLINE", id="env"),
        pytest.param('[online]\nurl = "redis://x"\nidle_ttl = "soon"\n', {}, "idle_ttl", id="ttl"),
        pytest.param('[online]\nurl = "redis://x"\nidle_ttl = "0s"\n', {}, "[online]", id="ttl0"),
        pytest.param('[online]\nurl = "redis://x"\nprefix = "a{b}"\n', {}, "[online]", id="prefix"),
        pytest.param('[online]\nurl = "redis://x"\nttl = "1d"\n', {}, "[online]", id="unknown"),
    ],
)
def test_bad_online_settings_say_where(
    tmp_path: Path, table: str, environ: dict[str, str], where: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config(_project(tmp_path, table), environ=environ)
    assert where in str(raised.value)
