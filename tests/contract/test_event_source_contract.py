"""The broker source contract, run against NATS JetStream, Redis Streams and Kafka (Tansu).

Each test gets a fresh stream. The suite checks, on every broker:

- a worker delivers every valid event once (duplicates by id refused), sends exactly
  the invalid and too-late events to the dead letters with their reasons, and its
  features equal a pandas oracle over the valid events;
- unacknowledged messages come back after their consumer dies; acknowledged ones don't;
- a fetch never returns more than asked, and a consumer holds no more than it fetched.

Events (one customer key ``cid``, lateness 1 day)::

    valid      T0, T0 + 5 min, ...        40 events, 4 customers
    duplicate  copies of 6 valid events   (same id, same bytes)
    late       T0 - 3 days                3 events, published last
    invalid    not JSON, not an object, missing/unknown field, wrong type, naive time
"""

from __future__ import annotations

import random
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import upwell as uw
from integration.brokers import BROKERS, StreamKit, fresh_stream, kafka_servers, servers_for
from upwell.sources.address import Broker
from upwell.sources.codec import encode_event
from upwell.sources.connect import open_source
from upwell.sources.protocol import BrokerSource, DeadLetterReason, Message
from upwell.stores.memory import MemoryStore
from upwell.workers.log_reader import read_log
from upwell.workers.partitioned_log import PartitionedEventLog
from upwell.workers.worker import LocalPositions, Worker

__all__ = ["kafka_servers"]  # the session fixture, imported so tests here can use it

T0 = datetime(2024, 3, 1, 12, tzinfo=UTC)
HOUR_MS = 3_600_000
DRAIN_TIMEOUT_S = 60.0
CUSTOMER = uw.Entity(name="customer", keys=("cid",))
TX = uw.EventSource(
    name="tx",
    schema={"tid": int, "cid": int, "amount": float, "ts": datetime},
    timestamp="ts",
    event_id="tid",
    entities=(CUSTOMER,),
    allowed_lateness="1d",
)
SPEND = uw.FeatureView(
    name="spend",
    entity=CUSTOMER,
    source=TX,
    features=(
        uw.Feature(name="n", aggregation=uw.Count()),
        uw.Feature(name="total", aggregation=uw.Sum("amount")),
        uw.Feature(name="n_1h", aggregation=uw.Count(), window="1h"),
        uw.Feature(name="total_1h", aggregation=uw.Sum("amount"), window="1h"),
    ),
)
REGISTRY = uw.validate([SPEND])


@pytest.fixture(params=BROKERS)
def broker(request: pytest.FixtureRequest) -> tuple[Broker, str]:
    kind: Broker = request.param
    return kind, servers_for(kind, request)


@pytest.fixture
def stream(broker: tuple[Broker, str]) -> Any:
    with fresh_stream(*broker, TX.event_id, ack_wait_s=1.0) as kit:
        yield kit


def valid_events(n: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [
        {
            "tid": i,
            "cid": i % 4,
            "amount": round(rng.uniform(1, 100), 2),
            "ts": T0 + timedelta(minutes=5 * i),
        }
        for i in range(n)
    ]


def invalid_payloads() -> list[bytes]:
    ts = T0.isoformat()
    return [
        b"not json",
        b"[1, 2, 3]",
        encode_event({"tid": 901, "cid": 1, "ts": ts}),  # amount missing
        encode_event({"tid": 902, "cid": 1, "amount": "12.5", "ts": ts}),  # amount a string
        encode_event({"tid": 903, "cid": 1, "amount": 1.0, "ts": "2024-03-01T12:00:00"}),  # naive
        encode_event({"tid": 904, "cid": 1, "amount": 1.0, "ts": ts, "extra": 1}),  # unknown
    ]


def oracle(events: list[dict[str, Any]], as_of: datetime) -> dict[int, dict[str, Any]]:
    frame = pd.DataFrame(events)
    expected = {}
    for cid, group in frame.groupby("cid"):
        recent = group[group["ts"] > as_of - timedelta(hours=1)]
        expected[int(cid)] = {
            "n": len(group),
            "total": group["amount"].sum(),
            "n_1h": len(recent),
            "total_1h": recent["amount"].sum(),
        }
    return expected


def drain(worker: Worker, total: int) -> None:
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    while worker.stats.fetched < total:
        if time.monotonic() > deadline:
            pytest.fail(f"only {worker.stats.fetched} of {total} messages arrived")
        worker.step(0.5)


def fetch_at_least(source: BrokerSource, n: int, max_messages: int) -> list[Message]:
    got: list[Message] = []
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    while len(got) < n:
        if time.monotonic() > deadline:
            pytest.fail(f"only {len(got)} of {n} messages arrived")
        batch = source.fetch(min(max_messages, n - len(got)), 0.5)
        assert len(batch) <= min(max_messages, n - len(got))
        got.extend(batch)
    return got


def test_valid_events_apply_once_and_bad_ones_become_dead_letters(
    stream: StreamKit, tmp_path: Path
) -> None:
    valid = valid_events(40, seed=1)
    duplicates = [valid[i] for i in (0, 3, 17, 25, 31, 39)]
    late = [
        {"tid": 1000 + i, "cid": i, "amount": 5.0, "ts": T0 - timedelta(days=3)} for i in range(3)
    ]
    invalid = invalid_payloads()
    stream.publisher.publish(valid)
    stream.publisher.publish_raw([encode_event(e) for e in duplicates])
    stream.publisher.publish_raw(invalid)
    stream.publisher.publish(late)
    total = len(valid) + len(duplicates) + len(invalid) + len(late)

    store = MemoryStore(REGISTRY)
    log = PartitionedEventLog(tmp_path / "log", "w1", REGISTRY.sources)
    bound = 7
    worker = Worker(
        source=TX,
        broker=open_source(stream.url, "w1", bound),
        store=store,
        log=log,
        positions=LocalPositions(),
        max_in_flight=bound,
    )
    try:
        drain(worker, total)
    finally:
        worker.close()

    assert worker.stats.fetched == total
    assert (worker.stats.accepted, worker.stats.duplicates) == (40, 6)
    assert (worker.stats.late, worker.stats.invalid) == (3, 6)
    assert worker.stats.largest_fetch <= bound
    assert worker.in_flight.peak <= bound
    # online features equal the oracle over the valid events, each counted once
    as_of = max(e["ts"] for e in valid)
    expected = oracle(valid, as_of)
    as_of_ms = int(as_of.timestamp() * 1000)
    for cid, values in expected.items():
        got = store.read("spend", [(cid,)], as_of_ms)[0]
        assert got["n"] == values["n"]
        assert got["n_1h"] == values["n_1h"]
        assert got["total"] == pytest.approx(values["total"])
        assert got["total_1h"] == pytest.approx(values["total_1h"])
    # exactly the bad messages are dead letters, each with its reason
    letters = stream.publisher.dead_letters()
    got_letters = Counter((letter["payload"], letter["reason"]) for letter in letters)
    want = Counter((p, DeadLetterReason.INVALID) for p in invalid)
    want.update((encode_event(e), DeadLetterReason.LATE) for e in late)
    assert got_letters == want
    assert all(letter["detail"] and letter["position"] for letter in letters)
    # the event log holds each valid event once, with its fields
    logged = read_log(tmp_path / "log", TX).to_pandas()
    assert sorted(logged["tid"]) == [e["tid"] for e in valid]
    by_id = {e["tid"]: e for e in valid}
    for row in logged.itertuples():
        assert row.amount == by_id[row.tid]["amount"]
        assert row.ts.to_pydatetime() == by_id[row.tid]["ts"]


def test_unacknowledged_messages_are_delivered_again_after_their_consumer_dies(
    stream: StreamKit,
) -> None:
    events = valid_events(20, seed=2)
    stream.publisher.publish(events)
    first = open_source(stream.url, "first", 8)
    try:
        held = fetch_at_least(first, 8, 8)
        first.ack(held[:3])
    finally:
        first.close()  # the other five were never acknowledged
    second = open_source(stream.url, "second", 50)
    try:
        delivered = fetch_at_least(second, 17, 50)
        second.ack(delivered)
        extra = second.fetch(50, 1.5)
    finally:
        second.close()
    acked = Counter(m.payload for m in held[:3])
    assert Counter(m.payload for m in delivered) + acked == Counter(encode_event(e) for e in events)
    assert extra == []


def test_a_consumer_holds_no_more_than_it_fetched(broker: tuple[Broker, str]) -> None:
    kind, servers = broker
    # a long ack wait keeps held messages with the holder (Kafka's is a session timeout,
    # and every group join waits half of it, so Kafka keeps the shortest)
    ack_wait_s = 6.0 if kind is Broker.KAFKA else 60.0
    with fresh_stream(kind, servers, TX.event_id, ack_wait_s=ack_wait_s) as stream:
        stream.publisher.publish(valid_events(30, seed=3))
        holder = open_source(stream.url, "holder", 7)
        try:
            held = fetch_at_least(holder, 7, 7)
            if kind is Broker.KAFKA:
                return  # partitions are exclusive: another member would get none of them
            # the other consumer gets everything the holder did not take, at once
            other = open_source(stream.url, "other", 100)
            try:
                rest = fetch_at_least(other, 23, 100)
                other.ack(rest)
                assert other.fetch(100, 0.5) == []
            finally:
                other.close()
        finally:
            holder.close()
    assert len(held) == 7
    assert {m.payload for m in rest}.isdisjoint({m.payload for m in held})
