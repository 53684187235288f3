"""The Redis store on a real three-node Redis Cluster.

The test starts three ``redis-server --cluster-enabled yes`` on free ports, joins them
with ``redis-cli --cluster create``, and runs a FeatureStore on it: pushes (compare-and-set
scripts routed by slot), backfill, batch rows, reads of many entities spread over the
nodes, eviction and namespace deletion (which scan every node). Every value must equal
an embedded store's. Entity keys must really be spread over all three nodes.
"""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
import redis

import upwell as uw
from contract.redis_support import require_redis
from upwell.config import OnlineConfig

pytestmark = pytest.mark.redis

T0 = datetime(2024, 3, 1, tzinfo=UTC)
CUSTOMER = uw.Entity(name="customer", keys=("cid",))
TX = uw.EventSource(
    name="tx",
    schema={"tid": int, "cid": int, "amount": float, "ts": datetime},
    timestamp="ts",
    event_id="tid",
    entities=(CUSTOMER,),
    allowed_lateness="10m",
)
SPEND = uw.FeatureView(
    name="spend",
    entity=CUSTOMER,
    source=TX,
    features=[
        uw.Feature(name="n_1h", aggregation=uw.Count(), window="1h"),
        uw.Feature(name="mean_1d", aggregation=uw.Mean("amount"), window="1d"),
        uw.Feature(name="max", aggregation=uw.Max("amount")),
    ],
)
PROFILE = uw.BatchFeatures(name="profile", entity=CUSTOMER, schema={"tier": str})
DEFINITIONS = [SPEND, PROFILE]


def _free_ports(n: int) -> list[int]:
    """Ports free for a node and its cluster bus (port + 10000, so below 55536)."""
    rng = random.Random()
    found: list[int] = []
    while len(found) < n:
        port = rng.randrange(20_000, 30_000)
        if port not in found and _bindable(port) and _bindable(port + 10_000):
            found.append(port)
    return found


def _bindable(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[int]]:
    require_redis()
    if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
        pytest.skip("redis-server and redis-cli are needed to start a cluster")
    root = tmp_path_factory.mktemp("cluster")
    ports = _free_ports(3)
    processes = []
    for port in ports:
        directory = root / str(port)
        directory.mkdir()
        command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1"]
        command += ["--dir", str(directory), "--cluster-enabled", "yes", "--save", ""]
        command += ["--cluster-config-file", "nodes.conf", "--appendonly", "no"]
        processes.append(subprocess.Popen(command, stdout=subprocess.DEVNULL))
    try:
        for port in ports:
            _wait(lambda port=port: _pings(port))
        nodes = [f"127.0.0.1:{p}" for p in ports]
        subprocess.run(
            ["redis-cli", "--cluster", "create", *nodes, "--cluster-yes"],
            check=True,
            capture_output=True,
            timeout=60,
        )
        _wait(lambda: _cluster_ok(ports[0]))
        yield ports
    finally:
        for process in processes:
            process.kill()
            process.wait(timeout=10)


def _pings(port: int) -> bool:
    client = redis.Redis(port=port)
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False
    finally:
        client.close()


def _cluster_ok(port: int) -> bool:
    client = redis.Redis(port=port)
    try:
        return client.cluster("info")["cluster_state"] == "ok"
    finally:
        client.close()


def _wait(condition: object, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_the_store_works_on_a_redis_cluster(cluster: list[int]) -> None:
    online = OnlineConfig(url=f"redis://127.0.0.1:{cluster[0]}/0", prefix="cluster")
    shared = uw.FeatureStore(DEFINITIONS, online=online)
    embedded = uw.FeatureStore(DEFINITIONS)
    events = [
        {"tid": i, "cid": i % 40, "amount": float(i % 17), "ts": T0 + timedelta(minutes=i)}
        for i in range(600)
    ]
    history, live = pd.DataFrame(events[:400]).sample(frac=1, random_state=3), events[400:]
    profiles = pd.DataFrame(
        {"cid": range(40), "valid_from": [T0] * 40, "tier": [f"t{c % 3}" for c in range(40)]}
    )
    for store in (shared, embedded):
        assert store.backfill("tx", history).accepted == 400
        for at in range(0, len(live), 25):
            store.push("tx", live[at : at + 25])
        store.push("tx", live[-3:])  # duplicates
        store.load_batch("profile", profiles)

    refs = ["spend.n_1h", "spend.mean_1d", "spend.max", "profile.tier"]
    rows = [{"cid": c} for c in range(45)]
    for minutes in (300, 599, 700):
        at = T0 + timedelta(minutes=minutes)
        assert shared.get_features(refs, rows, as_of=at) == embedded.get_features(
            refs, rows, as_of=at
        )
    on_nodes = _keys_per_node(cluster)
    assert all(n > 10 for n in on_nodes), f"entities should live on every node: {on_nodes}"
    assert shared.store.maintain() >= 0
    assert shared.store.drop() == sum(on_nodes)
    assert _keys_per_node(cluster) == [0, 0, 0]
    shared.store.connection.close()
    embedded.close()


def _keys_per_node(ports: list[int]) -> list[int]:
    counts = []
    for port in ports:
        client = redis.Redis(port=port)
        try:
            counts.append(len(list(client.scan_iter(match="cluster:*", count=1_000))))
        finally:
            client.close()
    return counts
