"""Several ``upwell worker`` processes, a worker killed and restarted, Redis restarted.

Workers consume a stream into a Redis online store on a private ``redis-server``
(``appendfsync always``) while the test publishes events in chunks, and meanwhile:

- SIGKILLs one worker and starts it again under the same name;
- SIGKILLs the Redis server and starts it again on the same files (NATS and Redis
  Streams; for Redis Streams the stream itself lives on that server too);
- publishes duplicates (same id, same bytes), invalid messages and too-late events.

Once the group has acknowledged everything, the workers are stopped and the test
checks against a pandas oracle over the valid events: every event counted exactly once
in the online features, every valid event once in the (deduplicated) event log, and
exactly the bad messages in the dead letters. Kafka (Tansu keeps nothing across its own
restarts) gets the worker crash and restart only.

Timeline (chunks of events, published ~0.1 s apart)::

    chunk   0    3          8       11        15          20       24
            |----dup+bad----kill w0---start w0--kill redis--late-----drain
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest

from integration.brokers import kafka_servers, servers_for, unique
from integration.worker_fleet import RedisServer, WorkerProcess, write_project
from upwell.config import load_definitions
from upwell.definitions.registry import validate
from upwell.sources.address import Broker
from upwell.sources.codec import encode_event
from upwell.sources.connect import open_publisher
from upwell.sources.errors import BrokerError
from upwell.sources.protocol import DeadLetterReason
from upwell.stores.redis import RedisStore
from upwell.stores.redis_errors import RedisUnavailableError
from upwell.workers.log_reader import read_log

__all__ = ["kafka_servers"]

pytestmark = [pytest.mark.slow, pytest.mark.redis]

T0 = datetime(2024, 3, 1, tzinfo=UTC)
CUSTOMERS = 25
CHUNK = 60
CHUNKS = 24
DRAIN_TIMEOUT_S = 120.0
PREFIX = "fleet"


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        yield server
    finally:
        server.kill()


def valid_events(n: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    span_s = 10 * 86_400
    return [
        {
            "tid": i,
            "cid": rng.randrange(CUSTOMERS),
            "amount": round(rng.uniform(1, 500), 2),
            "ts": T0 + timedelta(seconds=rng.randrange(span_s)),
        }
        for i in range(n)
    ]


def bad_payloads() -> list[bytes]:
    ts = T0.isoformat()
    return [
        b"{not json",
        encode_event({"tid": -1, "cid": 1, "ts": ts}),
        encode_event({"tid": -2, "cid": "one", "amount": 1.0, "ts": ts}),
        encode_event({"tid": -3, "cid": 1, "amount": 1.0, "ts": "2024-03-01T00:00:00"}),
    ]


def late_events() -> list[dict[str, Any]]:
    old = T0 - timedelta(days=60)
    return [{"tid": 100_000 + i, "cid": i, "amount": 1.0, "ts": old} for i in range(5)]


def patiently(call: Callable[[], Any]) -> Any:
    """Publish through a broker outage (a Redis restart): retry until it works."""
    deadline = time.monotonic() + 30
    while True:
        try:
            return call()
        except (BrokerError, RedisUnavailableError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def oracle(events: list[dict[str, Any]]) -> tuple[pd.DataFrame, datetime]:
    frame = pd.DataFrame(events)
    as_of = frame["ts"].max()
    recent = frame[frame["ts"] > as_of - timedelta(days=1)]
    expected = frame.groupby("cid").agg(n=("tid", "size"), total=("amount", "sum"))
    recent_agg = recent.groupby("cid").agg(n_1d=("tid", "size"), total_1d=("amount", "sum"))
    expected = expected.join(recent_agg).fillna({"n_1d": 0, "total_1d": 0.0})
    return expected, as_of.to_pydatetime()


class Scenario:
    """Workers on one stream, events published in chunks, faults injected between chunks."""

    def __init__(
        self, tmp_path: Path, broker: Broker, url: str, redis_server: RedisServer, workers: int
    ) -> None:
        self.broker = broker
        self.redis = redis_server
        self.log = tmp_path / "log"
        project = write_project(tmp_path / "project")
        self.registry = validate(load_definitions(project / "features.py"))
        self.source = self.registry.sources["tx"]
        self.publisher = patiently(lambda: open_publisher(url, "tid"))
        self.publisher.create(3)
        args = ["--source", url, "--store", redis_server.url, "--store-prefix", PREFIX]
        args += ["--log", str(self.log), "--max-in-flight", "200", "-p", str(project)]
        self.fleet = [WorkerProcess(f"w{i}", args, tmp_path) for i in range(workers)]
        self.valid = valid_events(CHUNK * CHUNKS, seed=7)
        self.duplicates = random.Random(8).sample(self.valid[: 3 * CHUNK], 30)
        self.bad = bad_payloads()
        self.late = late_events()

    def run(self, restart_redis: bool) -> None:
        for worker in self.fleet:
            worker.start()
        for worker in self.fleet:
            worker.wait_ready()
        publish = self.publisher
        for k in range(CHUNKS):
            chunk = self.valid[k * CHUNK : (k + 1) * CHUNK]
            patiently(lambda chunk=chunk: publish.publish(chunk))
            if k == 3:
                raw = [encode_event(e) for e in self.duplicates] + self.bad
                patiently(lambda raw=raw: publish.publish_raw(raw))
            if k == 8:
                self._wait_for_progress(3 * CHUNK)  # kill a worker that is consuming
                self.fleet[0].kill()
            if k == 11:
                self.fleet[0].start()
            if k == 15 and restart_redis:
                self.redis.kill()
                time.sleep(0.5)
                self.redis.start()
            if k == 20:
                patiently(lambda: publish.publish(self.late))
            time.sleep(0.1)
        self._drain()
        for worker in self.fleet:
            worker.wait_ready()  # the restarted one too: it stops cleanly from then on
        codes = {w.name: w.stop() for w in self.fleet}
        assert codes == {w.name: 0 for w in self.fleet}, self._logs()

    def _drain(self) -> None:
        store = patiently_open(self.registry, self.redis.url)
        expected = set(self.expected_letters())
        deadline = time.monotonic() + DRAIN_TIMEOUT_S
        try:
            while True:
                if time.monotonic() > deadline:
                    pytest.fail(f"the stream did not drain\n{self._logs()}")
                counted = sum(row["n"] for row in store_rows(store, self.as_of_ms()))
                found = patiently(self.publisher.dead_letters)
                letters = {(x["payload"], x["reason"]) for x in found}
                if counted >= len(self.valid) and letters >= expected and self._acked_all():
                    return
                time.sleep(0.3)
        finally:
            store.close()

    def _wait_for_progress(self, events: int) -> None:
        store = patiently_open(self.registry, self.redis.url)
        try:
            deadline = time.monotonic() + DRAIN_TIMEOUT_S
            while sum(row["n"] for row in store_rows(store, self.as_of_ms())) < events:
                if time.monotonic() > deadline:
                    pytest.fail(f"the workers made no progress\n{self._logs()}")
                time.sleep(0.05)
        finally:
            store.close()

    def _acked_all(self) -> bool:
        if self.broker is Broker.KAFKA:
            return True  # Tansu's offsets cannot be asked; the features tell instead
        backlog: int = patiently(self.publisher.backlog)
        return backlog == 0

    def as_of_ms(self) -> int:
        return int(max(e["ts"] for e in self.valid).timestamp() * 1000)

    def expected_letters(self) -> list[tuple[bytes, DeadLetterReason]]:
        letters = [(p, DeadLetterReason.INVALID) for p in self.bad]
        return letters + [(encode_event(e), DeadLetterReason.LATE) for e in self.late]

    def _logs(self) -> str:
        return "\n".join(f"--- {w.name} (started {w.starts}x)\n{w.log()}" for w in self.fleet)

    def check(self) -> None:
        expected, as_of = oracle(self.valid)
        store = patiently_open(self.registry, self.redis.url)
        try:
            rows = store_rows(store, self.as_of_ms())
        finally:
            store.close()
        got = pd.DataFrame(rows, index=range(CUSTOMERS)).loc[expected.index]
        assert got["n"].tolist() == expected["n"].tolist()  # each event counted once
        assert got["n_1d"].tolist() == expected["n_1d"].astype(int).tolist()
        assert got["total"].to_numpy() == pytest.approx(expected["total"].to_numpy())
        assert got["total_1d"].to_numpy() == pytest.approx(expected["total_1d"].to_numpy())
        letters = self.publisher.dead_letters()
        assert {(x["payload"], x["reason"]) for x in letters} == set(self.expected_letters())
        # every file, read raw with hive partitioning: only valid events, each in the
        # partition of its source and event date (a copy may repeat after a kill)
        pattern = str(self.log / "source=*" / "date=*" / "*.parquet")
        rows = duckdb.sql(
            f"SELECT tid, amount, source, CAST(date AS VARCHAR) "  # noqa: S608
            f"FROM read_parquet('{pattern}', hive_partitioning = true)"
        ).fetchall()
        by_id = {e["tid"]: e for e in self.valid}
        assert {tid for tid, *_ in rows} == set(by_id)
        for tid, amount, source, date in rows:
            assert (amount, source, date) == (
                by_id[tid]["amount"],
                "tx",
                by_id[tid]["ts"].date().isoformat(),
            )
        logged = read_log(self.log, self.source).to_pandas()
        assert sorted(logged["tid"]) == [e["tid"] for e in self.valid]
        amounts = dict(zip(logged["tid"], logged["amount"], strict=True))
        assert amounts == {e["tid"]: e["amount"] for e in self.valid}
        assert as_of == max(e["ts"] for e in self.valid)

    def close(self) -> None:
        for worker in self.fleet:
            if worker.process is not None and worker.process.poll() is None:
                worker.process.kill()
                worker.process.wait(10)
        try:
            patiently(self.publisher.delete)
        finally:
            self.publisher.close()


def patiently_open(registry: Any, url: str) -> RedisStore:
    return patiently(lambda: RedisStore(registry, url, prefix=PREFIX))


def store_rows(store: RedisStore, as_of_ms: int) -> list[dict[str, Any]]:
    keys = [(cid,) for cid in range(CUSTOMERS)]
    return patiently(lambda: store.read("spend", keys, as_of_ms))


@pytest.mark.nats
def test_nats_workers_survive_a_killed_worker_and_a_redis_restart(
    tmp_path: Path, redis_server: RedisServer, request: pytest.FixtureRequest
) -> None:
    servers = servers_for(Broker.NATS, request)
    url = f"nats://{servers}/{unique('F')}?group=fleet&ack_wait_s=2"
    scenario = Scenario(tmp_path, Broker.NATS, url, redis_server, workers=3)
    try:
        scenario.run(restart_redis=True)
        scenario.check()
    finally:
        scenario.close()


def test_redis_stream_workers_survive_a_killed_worker_and_a_redis_restart(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    # the stream lives on the restarted server too
    url = f"redis://127.0.0.1:{redis_server.port}/{unique('fleet-')}?group=fleet&ack_wait_s=2"
    scenario = Scenario(tmp_path, Broker.REDIS, url, redis_server, workers=3)
    try:
        scenario.run(restart_redis=True)
        scenario.check()
    finally:
        scenario.close()


def test_kafka_workers_survive_a_killed_worker(
    tmp_path: Path, redis_server: RedisServer, request: pytest.FixtureRequest
) -> None:
    servers = servers_for(Broker.KAFKA, request)
    url = f"kafka://{servers}/{unique('fleet-')}?group=fleet&ack_wait_s=6"
    scenario = Scenario(tmp_path, Broker.KAFKA, url, redis_server, workers=2)
    try:
        scenario.run(restart_redis=False)
        scenario.check()
    finally:
        scenario.close()
