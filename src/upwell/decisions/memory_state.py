"""Embedded decision state: in memory, thread-safe, durable in a directory if given.

Commits for one entity are serialised by that entity's lock (one of a fixed set of
lock stripes); commits for other entities proceed in parallel. With a directory, every
commit is appended to a journal (see :mod:`upwell.decisions.journal`) before it returns,
and reopening the directory restores states and unexpired idempotency records.
Idempotency records expire by the store's clock (wall time), not by decision time.
"""

from __future__ import annotations

import threading
from collections import deque
from pathlib import Path
from typing import Any

from upwell.decisions.clock import Clock
from upwell.decisions.decision import Decision
from upwell.decisions.journal import Journal
from upwell.decisions.state import EntityState
from upwell.decisions.state_protocol import CommitResult, CommitStatus, Snapshot, StateErasure

_EMPTY = EntityState()
Stored = tuple[Decision, int]  # the decision and when its record expires (epoch ms)


class MemoryDecisionState:
    """Decision state in this process, optionally journaled to a directory.

    Args:
        path: A directory for durable state, or None to keep it in memory only.
        clock: Wall time, for idempotency records' expiry.
        fsync: Force each commit to stable storage (survives a machine crash).
        compact_after: Rewrite the snapshot after this many journal records.
        stripes: How many locks entities are spread over.

    Raises:
        DecisionStateError: The directory is open elsewhere or its files are corrupt.
    """

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        clock: Clock,
        fsync: bool = False,
        compact_after: int = 100_000,
        stripes: int = 64,
    ) -> None:
        self.clock = clock
        self.compact_after = compact_after
        self._states: dict[str, dict[str, EntityState]] = {}
        self._records: dict[str, dict[tuple[str, str], Stored]] = {}
        self._expiry: deque[tuple[int, str, tuple[str, str]]] = deque()
        self._stripes = [threading.Lock() for _ in range(stripes)]
        self._books = threading.Lock()
        self._journal = None if path is None else Journal(Path(path), "decisions", fsync=fsync)
        if self._journal is not None:
            self._restore(self._journal)

    def load(self, policy: str, entity_key: str, request_id: str) -> Snapshot:  # noqa: D102
        state = self._states.get(entity_key, {}).get(policy, _EMPTY)
        stored = self._records.get(entity_key, {}).get((policy, request_id))
        live = stored is not None and stored[1] > self.clock.now_ms()
        return Snapshot(state, stored[0] if stored is not None and live else None)

    def commit(  # noqa: D102
        self,
        policy: str,
        entity_key: str,
        request_id: str,
        *,
        expected_version: int,
        state: EntityState | None,
        decision: Decision,
        ttl_ms: int,
    ) -> CommitResult:
        with self._stripes[hash(entity_key) % len(self._stripes)]:
            now = self.clock.now_ms()
            current = self._states.get(entity_key, {}).get(policy, _EMPTY)
            stored = self._records.get(entity_key, {}).get((policy, request_id))
            if stored is not None and stored[1] > now:
                return CommitResult(CommitStatus.DUPLICATE, current, stored[0])
            if state is not None and current.version != expected_version:
                return CommitResult(CommitStatus.CONFLICT, current)
            with self._books:
                self._put(policy, entity_key, request_id, state, decision, now + ttl_ms)
                if self._journal is not None:
                    self._journal.append(
                        _record(policy, entity_key, request_id, state, decision, now + ttl_ms)
                    )
                    if self._journal.lines >= self.compact_after:
                        self._journal.rewrite(self._dump(now))
                self._expire(now)
        return CommitResult(CommitStatus.COMMITTED, state or current)

    def erase(self, entity_key: str) -> StateErasure:  # noqa: D102
        with self._stripes[hash(entity_key) % len(self._stripes)], self._books:
            states = self._states.pop(entity_key, {})
            records = self._records.pop(entity_key, {})
            if self._journal is not None and (states or records):
                self._journal.rewrite(self._dump(self.clock.now_ms()))
        return StateErasure(len(states), len(records))

    def checkpoint(self) -> None:
        """Rewrite the snapshot (dropping expired records) and start an empty journal."""
        with self._books:
            if self._journal is not None:
                self._journal.rewrite(self._dump(self.clock.now_ms()))

    def close(self) -> None:
        """Write a last snapshot and release the directory."""
        if self._journal is not None:
            self.checkpoint()
            self._journal.close()
            self._journal = None

    def _put(
        self,
        policy: str,
        entity_key: str,
        request_id: str,
        state: EntityState | None,
        decision: Decision,
        expires_ms: int,
    ) -> None:
        if state is not None:
            states = self._states.setdefault(entity_key, {})
            if state.version > states.get(policy, _EMPTY).version:
                states[policy] = state
        self._records.setdefault(entity_key, {})[(policy, request_id)] = (decision, expires_ms)
        self._expiry.append((expires_ms, entity_key, (policy, request_id)))

    def _expire(self, now: int) -> None:
        expiry = self._expiry
        while expiry and expiry[0][0] <= now:
            expires, entity_key, key = expiry.popleft()
            records = self._records.get(entity_key)
            if records is not None and key in records and records[key][1] == expires:
                del records[key]
                if not records:
                    del self._records[entity_key]

    def _dump(self, now: int) -> dict[str, Any]:
        return {
            "states": {
                entity: {p: [s.version, s.to_json()] for p, s in policies.items()}
                for entity, policies in self._states.items()
            },
            "records": [
                [entity, policy, request_id, expires, decision.to_dict(trail=False)]
                for entity, records in self._records.items()
                for (policy, request_id), (decision, expires) in records.items()
                if expires > now
            ],
        }

    def _restore(self, journal: Journal) -> None:
        data = journal.snapshot or {"states": {}, "records": []}
        for entity, policies in data["states"].items():
            for policy, (version, history) in policies.items():
                self._states.setdefault(entity, {})[policy] = EntityState.from_json(
                    version, history
                )
        for entity, policy, request_id, expires, decision in data["records"]:
            self._put(policy, entity, request_id, None, Decision.from_dict(decision), expires)
        for item in journal.records():
            state = None if item["v"] is None else EntityState.from_json(item["v"], item["h"])
            decision = Decision.from_dict(item["d"])
            self._put(item["p"], item["e"], item["r"], state, decision, item["x"])
        self._expiry = deque(sorted(self._expiry))


def _record(
    policy: str,
    entity_key: str,
    request_id: str,
    state: EntityState | None,
    decision: Decision,
    expires_ms: int,
) -> dict[str, Any]:
    return {
        "p": policy,
        "e": entity_key,
        "r": request_id,
        "v": None if state is None else state.version,
        "h": None if state is None else state.to_json(),
        "x": expires_ms,
        "d": decision.to_dict(trail=False),
    }
