"""Redis online store benchmark on the fraud example's features, against raw redis-py.

Every figure is printed beside a baseline measured in the same run on the same server:

1. Backfill: ``FeatureStore.backfill`` of the first N transactions into Redis, and into
   the embedded store; the two must then serve identical features (checked first).
2. Read one entity (the 15 features of ``fraud_all``: a customer and a terminal plus
   request-time values): ``get_features`` p50/p99, and the store's one-round-trip
   ``read_many`` of both views, against a raw redis-py ``GET`` of one state key.
3. Read 100 entities in one call, against a raw redis-py pipeline of 200 ``GET``.
4. Apply throughput: ``push`` of the next transactions one by one and in batches of
   1,000, against the embedded store.
5. Memory per entity: ``MEMORY USAGE`` of window states after the backfill.

Usage: python bench/redis_store.py [--url redis://127.0.0.1:6379/0] [--rows N] [--quick]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import redis

import upwell as uw
from upwell.config import OnlineConfig
from upwell.stores.redis_codec import decode_state

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fraud_definitions as fd

SERVICE = fd.all_features.name


def percentiles(samples_ns: list[int]) -> tuple[float, float]:
    values = np.asarray(samples_ns) / 1_000
    return float(np.percentile(values, 50)), float(np.percentile(values, 99))


def timed(step: Callable[[int], Any], n: int) -> list[int]:
    for i in range(min(n, 200)):  # warm-up
        step(i)
    out = []
    for i in range(n):
        started = time.perf_counter_ns()
        step(i)
        out.append(time.perf_counter_ns() - started)
    return out


def entity_row(row: Any) -> dict[str, Any]:
    return {
        "CUSTOMER_ID": int(row.CUSTOMER_ID),
        "TERMINAL_ID": int(row.TERMINAL_ID),
        "TX_AMOUNT": float(row.TX_AMOUNT),
        "TX_DATETIME": row.TX_DATETIME.to_pydatetime(),
    }


def backfill(
    args: argparse.Namespace, frame: pd.DataFrame, online: OnlineConfig
) -> tuple[Any, Any]:
    print(f"\n[1] backfill of {len(frame):,} transactions (both views)")
    embedded = uw.FeatureStore(fd.DEFINITIONS)
    started = time.perf_counter()
    embedded.backfill("transactions", frame)
    embedded_s = time.perf_counter() - started
    shared = uw.FeatureStore(fd.DEFINITIONS, online=online)
    started = time.perf_counter()
    shared.backfill("transactions", frame)
    shared_s = time.perf_counter() - started
    rows = [entity_row(r) for r in frame.sample(2_000, random_state=1).itertuples()]
    as_of = frame["TX_DATETIME"].iloc[-1].to_pydatetime()
    got = shared.get_features(SERVICE, rows, as_of=as_of)
    want = embedded.get_features(SERVICE, rows, as_of=as_of)
    if got != want:
        sys.exit("the Redis store's features differ from the embedded store's")
    print(f"  check: {len(rows):,} entity rows as of the last transaction: identical")
    print(
        f"  upwell into Redis {shared_s:.2f} s ({len(frame) / shared_s:,.0f} ev/s) | "
        f"embedded {embedded_s:.2f} s | ratio {shared_s / embedded_s:.2f}"
    )
    return shared, embedded


def reads(args: argparse.Namespace, shared: Any, frame: pd.DataFrame, client: Any) -> None:
    tail = frame.iloc[-args.reads :]
    rows = [entity_row(r) for r in tail.itertuples()]
    as_of = frame["TX_DATETIME"].iloc[-1].to_pydatetime()
    store = shared.store
    names = [store.keys.state("customer_spending", "customer", (r["CUSTOMER_ID"],)) for r in rows]
    pairs = [
        [("customer_spending", [(r["CUSTOMER_ID"],)]), ("terminal_risk", [(r["TERMINAL_ID"],)])]
        for r in rows
    ]
    at_ms = int(frame["TX_DATETIME"].iloc[-1].timestamp() * 1000)
    n = len(rows)
    raw = percentiles(timed(lambda i: client.get(names[i]), n))
    one = percentiles(timed(lambda i: shared.get_features(SERVICE, rows[i], as_of=as_of), n))
    many = percentiles(timed(lambda i: store.read_many(pairs[i], at_ms), n))
    print(f"\n[2] read one entity, 15 features ({n:,} reads of different transactions)")
    print(f"  raw redis-py GET of one state key: p50 {raw[0]:.0f} µs | p99 {raw[1]:.0f} µs")
    for label, (p50, p99) in (("get_features", one), ("store.read_many (2 views)", many)):
        print(
            f"  upwell {label}: p50 {p50:.0f} µs | p99 {p99:.0f} µs | "
            f"ratio to the round trip {p50 / raw[0]:.2f} (p50), {p99 / raw[1]:.2f} (p99)"
        )
    batches = [rows[i : i + 100] for i in range(0, n - 100, 100)]

    def raw_pipeline(i: int) -> None:
        pipe = client.pipeline(transaction=False)
        for r in batches[i % len(batches)]:
            pipe.get(store.keys.state("customer_spending", "customer", (r["CUSTOMER_ID"],)))
            pipe.get(store.keys.state("terminal_risk", "terminal", (r["TERMINAL_ID"],)))
        pipe.execute()

    k = max(50, len(batches) * 3)
    raw100 = percentiles(timed(raw_pipeline, k))
    ups100 = percentiles(
        timed(lambda i: shared.get_features(SERVICE, batches[i % len(batches)], as_of=as_of), k)
    )
    print("\n[3] read 100 entities in one call (customer + terminal each)")
    print(f"  raw redis-py pipeline of 200 GET: p50 {raw100[0]:.0f} µs | p99 {raw100[1]:.0f} µs")
    print(
        f"  upwell get_features: p50 {ups100[0]:.0f} µs | p99 {ups100[1]:.0f} µs | "
        f"ratio {ups100[0] / raw100[0]:.2f} (p50)"
    )


def pushes(frame: pd.DataFrame, shared: Any, embedded: Any) -> None:
    events = [
        {**entity_row(r), "TRANSACTION_ID": int(r.TRANSACTION_ID), "TX_FRAUD": int(r.TX_FRAUD)}
        for r in frame.itertuples()
    ]
    third = len(events) // 3
    parts = {
        "push one by one": (events[:third], 1),
        "push in batches of 1,000": (events[third : 2 * third], 1_000),
        "check + apply_many, batches of 1,000 (a worker)": (events[2 * third :], 1_000),
    }
    for label, (part, size) in parts.items():
        seconds = {}
        for name, store in (("redis", shared), ("embedded", embedded)):
            started = time.perf_counter()
            for at in range(0, len(part), size):
                chunk = part[at : at + size]
                if name == "redis" and label.startswith("check"):
                    worker_batch(store.store, chunk)
                else:
                    store.push("transactions", chunk[0] if size == 1 else chunk)
            seconds[name] = time.perf_counter() - started
        print(
            f"  {label}: upwell into Redis {len(part) / seconds['redis']:,.0f} ev/s | "
            f"embedded push {len(part) / seconds['embedded']:,.0f} ev/s | "
            f"ratio {seconds['embedded'] / seconds['redis']:.2f}"
        )
    rows = [entity_row(r) for r in frame.iloc[::50].itertuples()]
    as_of = frame["TX_DATETIME"].iloc[-1].to_pydatetime()
    if shared.get_features(SERVICE, rows, as_of=as_of) != embedded.get_features(
        SERVICE, rows, as_of=as_of
    ):
        sys.exit("after the pushes, the Redis store's features differ from the embedded store's")
    print(f"  check: {len(rows):,} entity rows after the pushes: identical")


def worker_batch(store: Any, chunk: list[dict[str, Any]]) -> None:
    """What a broker consumer does with a batch: check, take positions, apply at once."""
    times = [int(e["TX_DATETIME"].timestamp() * 1000) for e in chunk]
    ids = [e["TRANSACTION_ID"] for e in chunk]
    verdicts = store.check("transactions", times, ids)
    accepted = [i for i, v in enumerate(verdicts) if v.value == "accepted"]
    first = store.next_seq(len(accepted)) if accepted else 0
    store.apply_many(
        [
            ("transactions", {**chunk[i], "TX_DATETIME": times[i]}, times[i], first + k, ids[i])
            for k, i in enumerate(accepted)
        ]
    )


def memory(shared: Any, frame: pd.DataFrame, client: Any) -> None:
    store = shared.store
    print("\n[5] memory per entity after the backfill (MEMORY USAGE, bytes)")
    for view, entity, column in (
        ("customer_spending", "customer", "CUSTOMER_ID"),
        ("terminal_risk", "terminal", "TERMINAL_ID"),
    ):
        names = [store.keys.state(view, entity, (int(k),)) for k in pd.unique(frame[column])]
        sizes = [client.memory_usage(name) or 0 for name in names]
        events = [len(decode_state(blob).state.ts) for blob in client.mget(names) if blob]
        print(
            f"  {view}: {len(names):,} entities, mean {statistics.mean(sizes):,.0f}, "
            f"median {statistics.median(sizes):,.0f}, max {max(sizes):,} bytes; "
            f"retained events mean {statistics.mean(events):.0f} "
            f"({statistics.mean(sizes) / statistics.mean(events):.0f} bytes per event)"
        )
    admission = sum(
        client.memory_usage(name) or 0
        for name in (store.keys.watermark("transactions"), store.keys.seen("transactions"))
    )
    print(f"  admission of the source (watermark, ids within the lateness): {admission:,} bytes")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--reads", type=int, default=5_000)
    parser.add_argument("--pushes", type=int, default=20_000)
    parser.add_argument("--quick", action="store_true", help="100,000 rows, fewer reads")
    args = parser.parse_args()
    if args.quick:
        args.rows, args.reads, args.pushes = 100_000, 1_000, 4_000
    print(f"load average {os.getloadavg()}; Redis at {args.url}")
    frame, origin = fd.load_transactions(args.rows + args.pushes)
    print(f"data: {origin}")
    history, later = frame.iloc[: args.rows], frame.iloc[args.rows :]
    client = redis.Redis.from_url(args.url)
    online = OnlineConfig(url=args.url, prefix=f"upwell-bench-{uuid.uuid4().hex[:8]}")
    try:
        shared, embedded = backfill(args, history, online)
        reads(args, shared, history, client)
        print(f"\n[4] apply throughput ({len(later):,} later transactions, fraud_all views)")
        pushes(later, shared, embedded)
        memory(shared, history, client)
        shared.close()
        embedded.close()
    finally:
        names = list(client.scan_iter(match=f"{online.prefix}:*", count=1_000))
        for at in range(0, len(names), 1_000):
            client.unlink(*names[at : at + 1_000])
        client.close()


if __name__ == "__main__":
    main()
