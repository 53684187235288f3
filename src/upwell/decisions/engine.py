"""The decision engine: consistent, idempotent decisions over a state and a consent store.

``decide`` reads the entity's state and consent, computes the inputs (features and
scores) once, evaluates the policy, and commits the new state and the decision with
compare-and-set; on a conflict it evaluates again on the fresh state. A repeated
request id returns the stored decision (``replayed=True``, without the reason trail)
without deciding again. A decision that takes no action changes no state and commits
only its idempotency record: more history can only close actions, never open them, so
it stays right.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from upwell.decisions.clock import Clock
from upwell.decisions.consent import ConsentRecord, ConsentStore, Erasure, require
from upwell.decisions.decision import Decision, DecisionInputs
from upwell.decisions.errors import DecisionConflictError, DecisionError
from upwell.decisions.evaluate import Request, evaluate
from upwell.decisions.policy import Policy
from upwell.decisions.purpose import Purpose
from upwell.decisions.state import EntityState, Taken, advance
from upwell.decisions.state_protocol import (
    CommitStatus,
    DecisionStateStore,
    ReadsConsent,
    Snapshot,
)

MAX_KEY_CHARS = 1_024
DAY_MS = 86_400_000


@dataclass(frozen=True)
class ErasureReport:
    """What erasing an entity removed.

    Args:
        states: Decision states removed.
        idempotency_records: Stored decisions removed.
        consent: The consent tombstone left behind.
    """

    states: int
    idempotency_records: int
    consent: Erasure


@dataclass
class EngineCounters:
    """Running counts, for metrics.

    Args:
        decisions: Decisions made and committed.
        replays: Repeated request ids answered from the stored decision.
        conflicts: Compare-and-set conflicts retried.
        refusals: Decisions refused for lack of consent.
    """

    decisions: int = 0
    replays: int = 0
    conflicts: int = 0
    refusals: int = 0


class DecisionEngine:
    """Decides for entities by policies, consistently under concurrency.

    Args:
        state: Where decision state and idempotency records are kept.
        consent: Where consent is kept.
        clock: The time of a decision made without an explicit ``now_ms``.
        idempotency_ttl_ms: How long a decision is returned again for its request id.
        max_attempts: Compare-and-set attempts before giving up.
    """

    def __init__(
        self,
        state: DecisionStateStore,
        consent: ConsentStore,
        *,
        clock: Clock,
        idempotency_ttl_ms: int = DAY_MS,
        max_attempts: int = 100,
    ) -> None:
        self.state = state
        self.consent = consent
        self.clock = clock
        self.idempotency_ttl_ms = idempotency_ttl_ms
        self.max_attempts = max_attempts
        self.counters = EngineCounters()
        self._reads_consent = state if isinstance(state, ReadsConsent) else None
        self._count_lock = threading.Lock()

    def decide(
        self,
        policy: Policy,
        entity_key: str | int,
        request_id: str,
        compute: Callable[[], DecisionInputs],
        *,
        now_ms: int | None = None,
    ) -> Decision:
        """Decide for one entity and request, exactly once per request id.

        Args:
            policy: The policy.
            entity_key: The entity (e.g. a customer id).
            request_id: The idempotency key: the same id returns the same decision.
            compute: Reads feature values and model scores; called at most once, and
                not at all for a repeated request id or a refused one.
            now_ms: The decision time; default the clock's.

        Returns:
            The decision.

        Raises:
            DecisionError: The entity key or request id is empty or too long.
            DecisionInputError: The inputs lack a value or score the policy reads.
            DecisionConflictError: Compare-and-set failed ``max_attempts`` times.
        """
        key, rid = _key(entity_key, "entity_key"), _key(request_id, "request_id")
        at = self.clock.now_ms() if now_ms is None else int(now_ms)
        snapshot, consent = self._read(policy.name, key, rid)
        if snapshot.prior is not None:
            return self._replayed(snapshot.prior)
        refused = bool(consent.missing(policy.purposes))
        inputs = DecisionInputs() if refused else compute()
        return self._settle(policy, Request(key, rid, at), inputs, snapshot.state, consent)

    def _settle(
        self,
        policy: Policy,
        request: Request,
        inputs: DecisionInputs,
        state: EntityState,
        consent: ConsentRecord,
    ) -> Decision:
        """Evaluate and commit with compare-and-set, evaluating again after each conflict."""
        for attempt in range(self.max_attempts):
            decision = evaluate(policy, request, inputs, state, consent)
            taken = [
                Taken(a, request.now_ms, policy.actions_by_name[a].cost) for a in decision.actions
            ]
            result = self.state.commit(
                policy.name,
                request.entity_key,
                request.request_id,
                expected_version=state.version,
                state=_next_state(policy, state, taken, request.now_ms) if taken else None,
                decision=decision,
                ttl_ms=self.idempotency_ttl_ms,
            )
            if result.status is CommitStatus.COMMITTED:
                self._count(decisions=1, refusals=int(decision.refused))
                return decision
            if result.status is CommitStatus.DUPLICATE and result.prior is not None:
                return self._replayed(result.prior)
            self._count(conflicts=1)
            state = result.state
            _back_off(request.request_id, attempt)
        msg = f"gave up after {self.max_attempts} compare-and-set conflicts"
        raise DecisionConflictError(
            msg,
            where=f"Policy {policy.name!r}, entity {request.entity_key!r}",
            fix="retry the request with the same request id; if it keeps happening, fewer "
            "concurrent decisions for one entity or a larger max_attempts help",
        )

    def consent_of(self, entity_key: str | int) -> ConsentRecord:
        """The entity's consent as stored now.

        Args:
            entity_key: The entity.

        Returns:
            Its consent record.
        """
        return self.consent.get(_key(entity_key, "entity_key"))

    def require_consent(
        self, entity_key: str | int, purposes: tuple[Purpose, ...], *, where: str
    ) -> ConsentRecord:
        """Refuse unless the entity allows every purpose (e.g. before serving features).

        Args:
            entity_key: The entity.
            purposes: The purposes the use needs.
            where: The feature service, model or policy that needs them.

        Returns:
            The consent record read.

        Raises:
            ConsentError: Consent is missing for some purpose.
        """
        record = self.consent_of(entity_key)
        require(record, purposes, where=where)
        return record

    def erase(self, entity_key: str | int, *, at_ms: int | None = None) -> ErasureReport:
        """Erase an entity: decision states, idempotency records and consent.

        Args:
            entity_key: The entity.
            at_ms: The time recorded on the tombstone; default the clock's.

        Returns:
            What was removed, and the consent tombstone.
        """
        key = _key(entity_key, "entity_key")
        removed = self.state.erase(key)
        tombstone = self.consent.erase(key, at_ms=self.clock.now_ms() if at_ms is None else at_ms)
        return ErasureReport(removed.states, removed.idempotency_records, tombstone)

    def close(self) -> None:
        """Close the state and consent stores."""
        self.state.close()
        self.consent.close()

    def _read(self, policy: str, key: str, rid: str) -> tuple[Snapshot, ConsentRecord]:
        if self._reads_consent is not None:
            snapshot, consent = self._reads_consent.load_with_consent(
                policy, key, rid, self.consent
            )
            if consent is not None:
                return snapshot, consent
        else:
            snapshot = self.state.load(policy, key, rid)
        return snapshot, self.consent.get(key)

    def _replayed(self, prior: Decision) -> Decision:
        self._count(replays=1)
        return dataclasses.replace(prior.without_trail(), replayed=True)

    def _count(self, **increments: int) -> None:
        with self._count_lock:
            for name, value in increments.items():
                setattr(self.counters, name, getattr(self.counters, name) + value)


def _key(value: object, field: str) -> str:
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(text, str) or not text or len(text) > MAX_KEY_CHARS:
        msg = f"{field}={value!r} is not a non-empty string of at most {MAX_KEY_CHARS} characters"
        raise DecisionError(msg, where=f"decide.{field}", fix=f"pass a string or int {field}")
    return text


def _next_state(policy: Policy, state: EntityState, taken: list[Taken], now_ms: int) -> EntityState:
    return advance(
        state, taken, now_ms=now_ms, horizon_ms=policy.horizon_ms, known=policy.action_names
    )


def _back_off(request_id: str, attempt: int) -> None:
    """Wait a little (growing, spread by request id) before retrying a lost race."""
    if attempt == 0:
        return
    spread = (hash((request_id, attempt)) % 1_000) / 1_000
    time.sleep(min(0.0002 * 2**attempt, 0.01) * (0.5 + spread))
