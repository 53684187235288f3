"""A Redis restart loses no acknowledged event, and an outage corrupts nothing.

The test runs its own ``redis-server`` (AOF on, ``appendfsync always``) on a free
port in a temporary directory, and kills it with SIGKILL:

- every event a push acknowledged before the kill is served after the restart;
- while Redis is down, pushes and reads fail with an error naming the server, and
  nothing half-done is left: an apply that failed is applied once when Redis is back
  (the store keeps it), and the scripts the restarted server forgot are loaded again;
- a FeatureStore reopened on its directory replays its log after the position Redis
  recorded, and applies nothing twice.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis

import upwell as uw
from contract.redis_support import require_redis
from upwell.config import OnlineConfig
from upwell.engine.admission import Verdict
from upwell.stores.redis import RedisStore
from upwell.stores.redis_errors import RedisUnavailableError

pytestmark = pytest.mark.redis

T0 = datetime(2024, 3, 1, tzinfo=UTC)
CUSTOMER = uw.Entity(name="customer", keys=("cid",))
TX = uw.EventSource(
    name="tx",
    schema={"tid": int, "cid": int, "amount": float, "ts": datetime},
    timestamp="ts",
    event_id="tid",
    entities=(CUSTOMER,),
    allowed_lateness="1h",
)
SPEND = uw.FeatureView(
    name="spend",
    entity=CUSTOMER,
    source=TX,
    features=[
        uw.Feature(name="n", aggregation=uw.Count()),
        uw.Feature(name="total", aggregation=uw.Sum("amount")),
        uw.Feature(name="n_1h", aggregation=uw.Count(), window="1h"),
    ],
)
REFS = ["spend.n", "spend.total", "spend.n_1h"]


@dataclass
class RedisServer:
    """A redis-server of the test's own, with an append-only file."""

    directory: Path
    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = [
            "redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.directory),
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--save",
            "",
        ]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        client = redis.Redis(port=self.port)
        deadline = time.monotonic() + 10
        try:
            while True:
                try:
                    client.ping()
                    return
                except redis.ConnectionError:
                    assert time.monotonic() < deadline, "redis-server did not start"
                    time.sleep(0.02)
        finally:
            client.close()

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    require_redis()  # the shared server's presence says redis-server is installed
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not on PATH")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    own = RedisServer(tmp_path / "redis", port)
    own.directory.mkdir()
    own.start()
    yield own
    if own.process is not None and own.process.poll() is None:
        own.kill()


def event(i: int) -> dict[str, Any]:
    return {"tid": i, "cid": i % 3, "amount": 1.5 * i, "ts": T0 + timedelta(minutes=i)}


def expected(upto: int) -> list[dict[str, Any]]:
    """The features of customers 0..2 as of event ``upto - 1``, from the events alone."""
    last = T0 + timedelta(minutes=upto - 1)
    out = []
    for cid in range(3):
        mine = [event(i) for i in range(upto) if i % 3 == cid]
        recent = [e for e in mine if e["ts"] > last - timedelta(hours=1)]
        out.append(
            {
                "spend.n": len(mine),
                "spend.total": sum(e["amount"] for e in mine),
                "spend.n_1h": len(recent),
            }
        )
    return out


def features(store: uw.FeatureStore, upto: int) -> list[dict[str, Any]]:
    rows = [{"cid": c} for c in range(3)]
    result: list[dict[str, Any]] = store.get_features(
        REFS, rows, as_of=T0 + timedelta(minutes=upto - 1)
    )
    return result


def test_acknowledged_events_survive_a_redis_kill(server: RedisServer, tmp_path: Path) -> None:
    online = OnlineConfig(url=server.url, prefix="restart")
    store = uw.FeatureStore([SPEND], path=tmp_path / "store", online=online)
    for at in range(0, 120, 10):
        store.push("tx", [event(i) for i in range(at, at + 10)])

    server.kill()
    with pytest.raises(RedisUnavailableError, match=f"127.0.0.1:{server.port}"):
        store.push("tx", event(120))
    with pytest.raises(RedisUnavailableError, match=f"127.0.0.1:{server.port}"):
        features(store, 120)
    server.start()

    assert features(store, 120) == expected(120)  # nothing acknowledged was lost
    assert store.push("tx", event(120)) == uw.PushResult(1, 0, 0)  # scripts loaded again
    assert store.push("tx", event(50)) == uw.PushResult(0, 0, 1)  # 70 min behind: late
    assert features(store, 121) == expected(121)
    store.close()

    reopened = uw.FeatureStore([SPEND], path=tmp_path / "store", online=online)
    assert reopened.store.applied_seq() == 121
    assert features(reopened, 121) == expected(121)
    assert reopened.push("tx", event(120)) == uw.PushResult(0, 1, 0)
    reopened.close()


def test_an_apply_that_failed_is_applied_once_when_redis_is_back(server: RedisServer) -> None:
    registry = uw.validate([SPEND])
    store = RedisStore(registry, server.url, prefix="outage", writer="w")
    first = [event(i) for i in range(30)]
    for seq, e in enumerate(first, start=1):
        ts = int(e["ts"].timestamp() * 1000)
        assert store.check("tx", [ts], [e["tid"]]) == [Verdict.ACCEPTED]
        store.apply("tx", {**e, "ts": ts}, ts, seq, e["tid"])

    late = event(30)
    ts = int(late["ts"].timestamp() * 1000)
    assert store.check("tx", [ts], [30]) == [Verdict.ACCEPTED]
    server.kill()
    with pytest.raises(RedisUnavailableError, match="applying events"):
        store.apply("tx", {**late, "ts": ts}, ts, 31, 30)  # logged by the caller: kept
    server.start()

    assert store.check("tx", [ts], [30]) == [Verdict.DUPLICATE]  # applied before the check
    assert store.read("spend", [(0,)], ts)[0]["n"] == 11
    store.apply("tx", {**late, "ts": ts}, ts, 31, 30)  # a redelivery changes nothing
    fresh = RedisStore(registry, server.url, prefix="outage", writer="other")
    got = fresh.read("spend", [(c,) for c in range(3)], ts)
    assert got == [
        {"n": e["spend.n"], "total": e["spend.total"], "n_1h": e["spend.n_1h"]}
        for e in expected(31)
    ]
    for opened in (store, fresh):
        opened.close()
