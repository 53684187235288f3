"""Decision latency: the decision engine against a plain implementation of the same rule.

The rule: send a tax alert when ``tax_events_1d > 0``, at most once per 24 hours per
customer. upwell decides it with a one-action Policy through ``DecisionEngine.decide``
(idempotency record, reasons, consent check, compare-and-set); the baselines apply the
same rule with no extras:

- embedded: a dict of last-alert times under one ``threading.Lock``;
- Redis: one Lua script (``GET`` the last time, ``SET`` it if the cooldown is over),
  one round trip per decision, like upwell's commit.

Both run the same sequence of (customer, time) first and must take the same actions
before anything is timed. Then each is timed per call (``time.perf_counter_ns``):

1. sequential: 1,000 customers, one decision per simulated minute;
2. contention: 8 threads deciding for one customer at the same time (exactly one alert
   must result, which is checked).

Ratios are upwell / baseline from this same run. Redis runs on 127.0.0.1:6379 and is
skipped with a note when it is down.

Usage: python bench/decisions.py [--quick] [--no-redis]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import redis

from upwell.decisions.consent_memory import MemoryConsentStore
from upwell.decisions.consent_redis import RedisConsentStore
from upwell.decisions.decision import DecisionInputs
from upwell.decisions.engine import DecisionEngine
from upwell.decisions.memory_state import MemoryDecisionState
from upwell.decisions.policy import Action, Policy
from upwell.decisions.redis_state import RedisDecisionState
from upwell.definitions.entity import Entity
from upwell.definitions.expressions import col

T0 = 1_700_000_000_000
MINUTE = 60_000
COOLDOWN = 86_400_000
CUSTOMERS = 1_000
THREADS = 8
POLICY = Policy(
    name="tax",
    entity=Entity(name="customer", keys=("customer_id",)),
    actions=(Action(name="tax_alert", eligible=col("tax_events_1d") > 0, cooldown="24h"),),
)
INPUTS = DecisionInputs(values={"tax_events_1d": 1})
LUA = """
local last = redis.call('GET', KEYS[1])
if last and tonumber(last) > tonumber(ARGV[1]) - tonumber(ARGV[2]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
return 1
"""
Decide = Callable[[str, str, int], bool]  # (customer, request id, now) -> alert taken


class _Clock:
    def now_ms(self) -> int:
        return T0


def upwell_embedded() -> Decide:
    clock = _Clock()
    engine = DecisionEngine(MemoryDecisionState(clock=clock), MemoryConsentStore(), clock=clock)
    return lambda c, r, now: bool(engine.decide(POLICY, c, r, lambda: INPUTS, now_ms=now).actions)


def dict_and_lock() -> Decide:
    last: dict[str, int] = {}
    lock = threading.Lock()

    def decide(customer: str, request_id: str, now: int) -> bool:
        if INPUTS.values["tax_events_1d"] <= 0:
            return False
        with lock:
            previous = last.get(customer)
            if previous is not None and previous > now - COOLDOWN:
                return False
            last[customer] = now
            return True

    return decide


def upwell_redis(client: redis.Redis, namespace: str) -> Decide:
    engine = DecisionEngine(
        RedisDecisionState(client, namespace=namespace),
        RedisConsentStore(client, namespace=namespace),
        clock=_Clock(),
    )
    return lambda c, r, now: bool(engine.decide(POLICY, c, r, lambda: INPUTS, now_ms=now).actions)


def lua_script(client: redis.Redis, namespace: str) -> Decide:
    script = client.register_script(LUA)

    def decide(customer: str, request_id: str, now: int) -> bool:
        if INPUTS.values["tax_events_1d"] <= 0:
            return False
        return bool(script(keys=[f"{namespace}:last:{customer}"], args=[now, COOLDOWN]))

    return decide


def sequence(n: int) -> list[tuple[str, str, int]]:
    return [(f"c{i % CUSTOMERS}", f"r{i}", T0 + i * MINUTE) for i in range(n)]


def sequential(decide: Decide, calls: list[tuple[str, str, int]]) -> tuple[list[bool], np.ndarray]:
    taken, latency = [], np.empty(len(calls))
    for i, (customer, request_id, now) in enumerate(calls):
        began = time.perf_counter_ns()
        taken.append(decide(customer, request_id, now))
        latency[i] = time.perf_counter_ns() - began
    return taken, latency / 1_000


def contended(decide: Decide, per_thread: int, tag: str) -> tuple[int, np.ndarray, float]:
    barrier = threading.Barrier(THREADS)
    latencies: list[np.ndarray] = []
    alerts = [0]
    guard = threading.Lock()

    def run(thread: int) -> None:
        own = np.empty(per_thread)
        barrier.wait()
        for i in range(per_thread):
            began = time.perf_counter_ns()
            took = decide(f"hot-{tag}", f"t{thread}-{i}", T0)
            own[i] = time.perf_counter_ns() - began
            if took:
                with guard:
                    alerts[0] += 1
        with guard:
            latencies.append(own / 1_000)

    threads = [threading.Thread(target=run, args=(t,)) for t in range(THREADS)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return (
        alerts[0],
        np.concatenate(latencies),
        THREADS * per_thread / (time.perf_counter() - began),
    )


def line(label: str, ours: np.ndarray, base: np.ndarray, base_name: str) -> str:
    p50, p99 = np.percentile(ours, 50), np.percentile(ours, 99)
    b50, b99 = np.percentile(base, 50), np.percentile(base, 99)
    return (
        f"{label:<34} upwell p50 {p50:8.1f} µs  p99 {p99:8.1f} µs | {base_name:<14} "
        f"p50 {b50:7.1f} µs  p99 {b99:7.1f} µs | ratio p50 {p50 / b50:5.1f}x  p99 {p99 / b99:5.1f}x"
    )


def compare(
    name: str, ours: Callable[[], Decide], base: Callable[[], Decide], base_name: str, n: int
) -> bool:
    calls = sequence(n)
    warm = sequence(min(n, 2_000))
    ours_taken, _ = sequential(ours(), warm)
    base_taken, _ = sequential(base(), warm)
    if ours_taken != base_taken:
        print(f"{name}: upwell and {base_name} took different actions; no timing printed")
        return False
    ours_taken, ours_us = sequential(ours(), calls)
    base_taken, base_us = sequential(base(), calls)
    if ours_taken != base_taken:
        print(f"{name}: upwell and {base_name} took different actions; no timing printed")
        return False
    print(line(f"{name}, sequential ({n:,} calls)", ours_us, base_us, base_name))
    per_thread = max(1, n // (4 * THREADS))
    ours_alerts, ours_us, ours_rate = contended(ours(), per_thread, "u")
    base_alerts, base_us, base_rate = contended(base(), per_thread, "b")
    if (ours_alerts, base_alerts) != (1, 1):
        print(f"{name}: alerts under contention {ours_alerts} / {base_alerts}, expected 1 / 1")
        return False
    label = f"{name}, {THREADS} threads on 1 customer"
    print(line(label, ours_us, base_us, base_name))
    print(
        f"{'':<34} throughput upwell {ours_rate:,.0f}/s | {base_name} {base_rate:,.0f}/s | "
        f"ratio {base_rate / ours_rate:.1f}x (a call's latency includes waiting for the GIL)"
    )
    return True


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer calls (a smoke run)")
    parser.add_argument("--no-redis", action="store_true", help="skip the Redis contenders")
    args = parser.parse_args(argv)
    n_embedded, n_redis = (5_000, 1_000) if args.quick else (40_000, 8_000)
    print(
        f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs, "
        f"load {os.getloadavg()[0]:.2f}; clock time.perf_counter_ns; garbage collector on"
    )
    ok = compare("embedded", upwell_embedded, dict_and_lock, "dict + lock", n_embedded)
    if args.no_redis:
        return 0 if ok else 1
    client: Any = redis.Redis(
        connection_pool=redis.BlockingConnectionPool(
            host="127.0.0.1", port=6379, max_connections=32
        )
    )
    try:
        client.ping()
    except redis.ConnectionError as error:
        print(f"Redis at 127.0.0.1:6379 is down ({error}); Redis contenders skipped")
        return 0 if ok else 1
    namespace = f"upwell-bench:{uuid.uuid4().hex}"
    try:
        ok &= compare(
            "redis",
            lambda: upwell_redis(client, f"{namespace}:{uuid.uuid4().hex}"),
            lambda: lua_script(client, f"{namespace}:{uuid.uuid4().hex}"),
            "Lua script",
            n_redis,
        )
    finally:
        for keys in _batches(client.scan_iter(match=f"{namespace}:*", count=1_000)):
            client.delete(*keys)
    return 0 if ok else 1


def _batches(keys: Any, size: int = 1_000) -> Any:
    batch: list[Any] = []
    for key in keys:
        batch.append(key)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


if __name__ == "__main__":
    sys.exit(main())
