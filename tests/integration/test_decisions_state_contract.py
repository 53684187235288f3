"""One behaviour suite for every decision-state store: memory, a directory, Redis."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from integration.test_decisions_support import connect_redis, disconnect, namespace
from upwell.decisions.decision import Consideration, Decision, Rule
from upwell.decisions.memory_state import MemoryDecisionState
from upwell.decisions.redis_state import RedisDecisionState
from upwell.decisions.state import EntityState, Taken
from upwell.decisions.state_protocol import CommitStatus, DecisionStateStore
from upwell.testing import ManualClock

T0 = 1_700_000_000_000


@dataclass
class Backend:
    store: DecisionStateStore
    expire: Callable[[int], None]  # let this many ms of the store's own time pass


@pytest.fixture(params=["memory", "directory", pytest.param("redis", marks=pytest.mark.redis)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "redis":
        client = connect_redis()
        with namespace(client) as name:
            yield Backend(
                RedisDecisionState(client, namespace=name), lambda ms: time.sleep(ms / 1_000)
            )
        disconnect(client)
        return
    clock = ManualClock(datetime(2024, 1, 1, tzinfo=UTC))
    path = tmp_path if request.param == "directory" else None
    store = MemoryDecisionState(path, clock=clock)
    yield Backend(store, lambda ms: clock.advance(milliseconds=ms))
    store.close()


def _decision(entity: str, request: str, actions: tuple[str, ...] = ("a",)) -> Decision:
    return Decision(
        policy="p",
        entity_key=entity,
        request_id=request,
        decided_at_ms=T0,
        actions=actions,
        considered=(Consideration("a", bool(actions), None if actions else Rule.COOLDOWN, ""),),
        scores={"m": 0.25},
        model_versions={"m": "3"},
    )


def _commit(
    store: DecisionStateStore,
    entity: str,
    request: str,
    expected: int,
    state: EntityState | None,
    *,
    policy: str = "p",
    ttl_ms: int = 60_000,
) -> CommitStatus:
    result = store.commit(
        policy,
        entity,
        request,
        expected_version=expected,
        state=state,
        decision=_decision(entity, request),
        ttl_ms=ttl_ms,
    )
    return result.status


STATE_1 = EntityState(1, (Taken("a", T0, 2.5),))
STATE_2 = EntityState(2, (Taken("a", T0, 2.5), Taken("a", T0 + 5, 0.0)))


def test_an_unknown_entity_has_an_empty_state(backend: Backend) -> None:
    snapshot = backend.store.load("p", "nobody", "r1")

    assert snapshot.state == EntityState()
    assert snapshot.prior is None


def test_commit_then_load(backend: Backend) -> None:
    assert _commit(backend.store, "c1", "r1", 0, STATE_1) is CommitStatus.COMMITTED

    snapshot = backend.store.load("p", "c1", "r1")

    assert snapshot.state == STATE_1
    assert snapshot.prior == _decision("c1", "r1")
    assert backend.store.load("other", "c1", "r1").state == EntityState()


def test_a_stale_version_conflicts_and_writes_nothing(backend: Backend) -> None:
    _commit(backend.store, "c1", "r1", 0, STATE_1)

    result = backend.store.commit(
        "p",
        "c1",
        "r2",
        expected_version=0,
        state=STATE_1,
        decision=_decision("c1", "r2"),
        ttl_ms=60_000,
    )

    assert result.status is CommitStatus.CONFLICT
    assert result.state == STATE_1
    assert backend.store.load("p", "c1", "r2").prior is None
    assert _commit(backend.store, "c1", "r2", 1, STATE_2) is CommitStatus.COMMITTED
    assert backend.store.load("p", "c1", "r2").state == STATE_2


def test_a_decided_request_id_is_a_duplicate_even_with_a_fresh_version(backend: Backend) -> None:
    _commit(backend.store, "c1", "r1", 0, STATE_1)

    result = backend.store.commit(
        "p",
        "c1",
        "r1",
        expected_version=1,
        state=STATE_2,
        decision=_decision("c1", "r1", ()),
        ttl_ms=60_000,
    )

    assert result.status is CommitStatus.DUPLICATE
    assert result.prior == _decision("c1", "r1")
    assert backend.store.load("p", "c1", "x").state == STATE_1


def test_a_decision_without_a_state_change_records_only_its_request(backend: Backend) -> None:
    _commit(backend.store, "c1", "r1", 0, STATE_1)

    assert _commit(backend.store, "c1", "r2", 0, None) is CommitStatus.COMMITTED

    snapshot = backend.store.load("p", "c1", "r2")
    assert snapshot.state == STATE_1
    assert snapshot.prior == _decision("c1", "r2")
    assert _commit(backend.store, "c1", "r2", 1, STATE_2) is CommitStatus.DUPLICATE


def test_idempotency_records_expire_after_their_ttl(backend: Backend) -> None:
    _commit(backend.store, "c1", "r1", 0, STATE_1, ttl_ms=30)
    assert backend.store.load("p", "c1", "r1").prior is not None

    backend.expire(60)

    assert backend.store.load("p", "c1", "r1").prior is None
    assert backend.store.load("p", "c1", "r1").state == STATE_1


def test_erase_removes_every_policy_and_record_of_one_entity(backend: Backend) -> None:
    _commit(backend.store, "c1", "r1", 0, STATE_1)
    _commit(backend.store, "c1", "r2", 1, STATE_2)
    _commit(backend.store, "c1", "r1", 0, STATE_1, policy="q")
    _commit(backend.store, "c2", "r1", 0, STATE_1)

    erased = backend.store.erase("c1")

    assert (erased.states, erased.idempotency_records) == (2, 3)
    assert backend.store.load("p", "c1", "r1").state == EntityState()
    assert backend.store.load("p", "c1", "r1").prior is None
    assert backend.store.load("q", "c1", "r1").prior is None
    assert backend.store.load("p", "c2", "r1").state == STATE_1
    assert backend.store.erase("c1") == type(erased)(0, 0)


@pytest.mark.parametrize("tricky", ["a{b}", "a%7Bb%7D", "}{", "é ü 😀", "x:y:z"])
def test_entity_keys_with_special_characters_stay_apart(backend: Backend, tricky: str) -> None:
    _commit(backend.store, tricky, "r1", 0, STATE_1)

    assert backend.store.load("p", tricky, "r1").state == STATE_1
    assert backend.store.load("p", "a{b", "r1").state == EntityState()
    assert backend.store.erase(tricky).states == 1
