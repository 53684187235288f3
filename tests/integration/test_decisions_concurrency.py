"""Many decisions for one customer at once take exactly the allowed actions.

Every request computes its inputs behind a barrier, so all of them read the same state
before any commits: the first commit wins, every other one conflicts and decides again
on the fresh state. The policy allows one tax alert per day and one credit offer per
30 days (two offers in one exclusivity group), so whatever the interleaving, exactly
one alert and one offer are taken. Some request ids are sent twice; both answers must
be the same decision.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from integration.test_decisions_support import (
    client_for_threads,
    connect_redis,
    disconnect,
    namespace,
)
from upwell.decisions.consent import grant
from upwell.decisions.consent_memory import MemoryConsentStore
from upwell.decisions.consent_redis import RedisConsentStore
from upwell.decisions.decision import DecisionInputs
from upwell.decisions.engine import DecisionEngine
from upwell.decisions.memory_state import MemoryDecisionState
from upwell.decisions.policy import Action, Policy
from upwell.decisions.purpose import Purpose
from upwell.decisions.redis_state import RedisDecisionState
from upwell.decisions.rules import Group
from upwell.decisions.state import Taken
from upwell.definitions.entity import Entity
from upwell.definitions.expressions import col

T0 = 1_700_000_000_000
CUSTOMER = "customer-42"
credit = Group(name="credit_offers", cooldown="30d")
POLICY = Policy(
    name="nba",
    entity=Entity(name="customer", keys=("customer_id",)),
    actions=(
        Action(name="tax_alert", priority=3, eligible=col("tax_events_1d") > 0, cooldown="24h"),
        Action(
            name="balance_transfer",
            priority=2,
            group=credit,
            eligible=col("utilisation") >= 0.9,
            purpose=Purpose.MARKETING,
        ),
        Action(
            name="limit_increase",
            priority=1,
            group=credit,
            eligible=col("utilisation") >= 0.7,
            purpose=Purpose.MARKETING,
        ),
    ),
)
INPUTS = DecisionInputs(values={"tax_events_1d": 1, "utilisation": 0.95})
Result = tuple[str, tuple[str, ...], int, int]


class _FixedClock:
    def now_ms(self) -> int:
        return T0


def _decide_all(engine: DecisionEngine, request_ids: list[str], barrier: Any) -> list[Result]:
    def compute() -> DecisionInputs:
        barrier.wait(timeout=60)
        return INPUTS

    def one(request_id: str) -> Result:
        decision = engine.decide(POLICY, CUSTOMER, request_id, compute, now_ms=T0)
        return request_id, decision.actions, decision.decided_at_ms, decision.state_version

    with ThreadPoolExecutor(max_workers=len(request_ids)) as pool:
        return list(pool.map(one, request_ids))


def _check(results: list[Result], unique_ids: int) -> None:
    by_id: dict[str, set[tuple[tuple[str, ...], int, int]]] = {}
    for request_id, actions, decided_at, version in results:
        by_id.setdefault(request_id, set()).add((actions, decided_at, version))
    assert len(by_id) == unique_ids
    assert all(len(answers) == 1 for answers in by_id.values()), "a retried id got two answers"
    taken = Counter(a for answers in by_id.values() for actions, _, _ in answers for a in actions)
    assert taken == Counter({"tax_alert": 1, "balance_transfer": 1})


def _request_ids(unique: int, retried: int) -> list[str]:
    ids = [f"req-{i}" for i in range(unique)]
    return ids + ids[:retried]


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def engine(request: pytest.FixtureRequest) -> Iterator[DecisionEngine]:
    clock = _FixedClock()
    if request.param == "memory":
        yield DecisionEngine(MemoryDecisionState(clock=clock), MemoryConsentStore(), clock=clock)
        return
    client = connect_redis()
    with namespace(client) as name:
        yield DecisionEngine(
            RedisDecisionState(client, namespace=name),
            RedisConsentStore(client, namespace=name),
            clock=clock,
        )
    disconnect(client)


def test_simultaneous_decisions_from_threads(engine: DecisionEngine) -> None:
    grant(engine.consent, CUSTOMER, Purpose.MARKETING, at_ms=0)
    request_ids = _request_ids(unique=120, retried=40)

    results = _decide_all(engine, request_ids, threading.Barrier(len(request_ids)))

    _check(results, unique_ids=120)
    assert engine.counters.conflicts > 0
    state = engine.state.load(POLICY.name, CUSTOMER, "after").state
    assert state.version == 2
    assert state.history == (Taken("tax_alert", T0), Taken("balance_transfer", T0))


def _process(name: str, request_ids: list[str], barrier: Any, results: Any) -> None:
    client = client_for_threads()
    clock = _FixedClock()
    engine = DecisionEngine(
        RedisDecisionState(client, namespace=name),
        RedisConsentStore(client, namespace=name),
        clock=clock,
    )
    results.put(_decide_all(engine, request_ids, barrier))
    disconnect(client)


@pytest.mark.redis
@pytest.mark.slow
def test_simultaneous_decisions_from_processes() -> None:
    client = connect_redis()
    context = multiprocessing.get_context("spawn")
    processes, per_process, retried = 3, 34, 6
    with namespace(client) as name:
        grant(RedisConsentStore(client, namespace=name), CUSTOMER, Purpose.MARKETING, at_ms=0)
        ranges = [[f"req-{p}-{i}" for i in range(per_process)] for p in range(processes)]
        # each process also retries a few ids of the next one
        batches = [ranges[p] + ranges[(p + 1) % processes][:retried] for p in range(processes)]
        barrier = context.Barrier(sum(len(b) for b in batches))
        results = context.Queue()
        workers = [
            context.Process(target=_process, args=(name, batch, barrier, results))
            for batch in batches
        ]
        for worker in workers:
            worker.start()
        collected = [row for _ in workers for row in results.get(timeout=120)]
        for worker in workers:
            worker.join(timeout=60)
        assert [w.exitcode for w in workers] == [0] * processes

        _check(collected, unique_ids=processes * per_process)
        state = RedisDecisionState(client, namespace=name).load(POLICY.name, CUSTOMER, "x").state
        assert state.history == (Taken("tax_alert", T0), Taken("balance_transfer", T0))
    disconnect(client)
