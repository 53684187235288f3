"""The embedded decision state: durable in a directory, erasable, with expiring records.

The compare-and-set contract itself runs on every backend in
tests/integration/test_decisions_state_contract.py.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from decision_cases import T0

from upwell.decisions.decision import Decision
from upwell.decisions.errors import DecisionStateError
from upwell.decisions.memory_state import MemoryDecisionState
from upwell.decisions.state import EntityState, Taken
from upwell.decisions.state_protocol import CommitStatus
from upwell.testing import ManualClock

TTL = 60_000


def _clock() -> ManualClock:
    return ManualClock(datetime(2024, 1, 1, tzinfo=UTC))


def _decision(entity: str, request: str, actions: tuple[str, ...] = ()) -> Decision:
    return Decision(
        policy="p", entity_key=entity, request_id=request, decided_at_ms=T0, actions=actions
    )


def _take(store: MemoryDecisionState, entity: str, request: str, version: int) -> None:
    state = EntityState(version + 1, (Taken("a", T0 + version),))
    result = store.commit(
        "p",
        entity,
        request,
        expected_version=version,
        state=state,
        decision=_decision(entity, request, ("a",)),
        ttl_ms=TTL,
    )
    assert result.status is CommitStatus.COMMITTED


def test_reopening_restores_states_and_idempotency_records(tmp_path: Path) -> None:
    clock = _clock()
    store = MemoryDecisionState(tmp_path, clock=clock)
    _take(store, "c1", "r1", 0)
    _take(store, "c1", "r2", 1)
    _take(store, "c2", "r1", 0)
    store.close()

    reopened = MemoryDecisionState(tmp_path, clock=clock)

    snapshot = reopened.load("p", "c1", "r2")
    assert snapshot.state == EntityState(2, (Taken("a", T0 + 1),))
    assert snapshot.prior == _decision("c1", "r2", ("a",))
    assert reopened.load("p", "c2", "r9").state.version == 1
    reopened.close()


def test_commits_survive_a_process_that_never_closed(tmp_path: Path) -> None:
    clock = _clock()
    store = MemoryDecisionState(tmp_path, clock=clock)
    _take(store, "c1", "r1", 0)
    store._journal.close()  # type: ignore[union-attr]  # the process dies: no last snapshot

    reopened = MemoryDecisionState(tmp_path, clock=clock)

    assert reopened.load("p", "c1", "r1").prior is not None
    reopened.close()


def test_compaction_keeps_everything(tmp_path: Path) -> None:
    clock = _clock()
    store = MemoryDecisionState(tmp_path, clock=clock, compact_after=3)
    for version in range(7):
        _take(store, "c1", f"r{version}", version)
    assert len(list(tmp_path.glob("decisions.*.jsonl"))) == 1
    store._journal.close()  # type: ignore[union-attr]

    reopened = MemoryDecisionState(tmp_path, clock=clock)

    assert reopened.load("p", "c1", "r0").state.version == 7
    assert all(reopened.load("p", "c1", f"r{v}").prior is not None for v in range(7))
    reopened.close()


def test_a_torn_last_record_is_skipped_and_a_corrupt_one_refused(tmp_path: Path) -> None:
    clock = _clock()
    store = MemoryDecisionState(tmp_path, clock=clock)
    _take(store, "c1", "r1", 0)
    store._journal.close()  # type: ignore[union-attr]
    log = next(tmp_path.glob("decisions.*.jsonl"))
    good = log.read_bytes()
    log.write_bytes(good + b'{"p": "p", "e": "c1", "r')

    reopened = MemoryDecisionState(tmp_path, clock=clock)
    assert reopened.load("p", "c1", "r1").state.version == 1
    reopened._journal.close()  # type: ignore[union-attr]

    log.write_bytes(b"not json\n" + good)
    with pytest.raises(DecisionStateError, match="line 1"):
        MemoryDecisionState(tmp_path, clock=clock)


def test_a_directory_is_opened_once(tmp_path: Path) -> None:
    store = MemoryDecisionState(tmp_path, clock=_clock())

    with pytest.raises(DecisionStateError, match="already open"):
        MemoryDecisionState(tmp_path, clock=_clock())
    store.close()
    MemoryDecisionState(tmp_path, clock=_clock()).close()


def test_idempotency_records_expire_by_the_store_clock(tmp_path: Path) -> None:
    clock = _clock()
    store = MemoryDecisionState(tmp_path, clock=clock)
    _take(store, "c1", "r1", 0)

    clock.advance(milliseconds=TTL - 1)
    assert store.load("p", "c1", "r1").prior is not None
    clock.advance(milliseconds=1)
    assert store.load("p", "c1", "r1").prior is None
    _take(store, "c1", "r2", 1)  # a later commit sweeps the expired record
    assert ("p", "r1") not in store._records["c1"]
    store.close()

    reopened = MemoryDecisionState(tmp_path, clock=clock)
    assert reopened.load("p", "c1", "r1").prior is None
    assert reopened.load("p", "c1", "r2").prior is not None
    reopened.close()


def test_erase_removes_the_entity_from_memory_and_disk(tmp_path: Path) -> None:
    store = MemoryDecisionState(tmp_path, clock=_clock())
    _take(store, "alice-1234", "r1", 0)
    _take(store, "alice-1234", "r2", 1)
    _take(store, "bob-5678", "r1", 0)

    erased = store.erase("alice-1234")

    assert (erased.states, erased.idempotency_records) == (1, 2)
    assert store.load("p", "alice-1234", "r1") == store.load("p", "nobody", "r1")
    on_disk = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert b"alice-1234" not in on_disk
    assert b"bob-5678" in on_disk
    assert store.erase("alice-1234").states == 0
    store.close()
