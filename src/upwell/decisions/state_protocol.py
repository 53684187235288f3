"""The contract of decision-state stores: per-entity state with compare-and-set.

A store keeps, per (policy, entity), an :class:`~upwell.decisions.state.EntityState`
with a version number, and per (policy, entity, request id) the decision already made
(an idempotency record that expires after a TTL). :meth:`DecisionStateStore.commit` is
atomic: it

1. returns ``DUPLICATE`` with the stored decision if the request id was decided
   already (and its record has not expired),
2. else, when a new state is given, returns ``CONFLICT`` with the current state if the
   version is no longer the one the decision read,
3. else writes the new state (if any) and the idempotency record together and returns
   ``COMMITTED``.

Stores keep decisions in their compact form (``Decision.to_dict(trail=False)``); the
engine strips the trail of every replayed decision, so replays look the same on every
backend.

An entity's records live together (one lock, or one Redis hash slot), so commits for
different entities never contend.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from upwell.decisions.consent import ConsentRecord, ConsentStore
from upwell.decisions.decision import Decision
from upwell.decisions.state import EntityState


class CommitStatus(enum.Enum):
    """What a commit did."""

    COMMITTED = "committed"
    CONFLICT = "conflict"
    DUPLICATE = "duplicate"


@dataclass(frozen=True)
class Snapshot:
    """What a decision reads before deciding.

    Args:
        state: The entity's decision state under the policy.
        prior: The decision already made for this request id, if any.
    """

    state: EntityState
    prior: Decision | None = None


@dataclass(frozen=True)
class CommitResult:
    """The outcome of a commit.

    Args:
        status: Committed, conflict or duplicate.
        state: The state now stored (the fresh one on a conflict).
        prior: The stored decision on a duplicate.
    """

    status: CommitStatus
    state: EntityState
    prior: Decision | None = None


@dataclass(frozen=True)
class StateErasure:
    """What erasing an entity removed from a decision-state store.

    Args:
        states: Decision states (one per policy).
        idempotency_records: Stored decisions.
    """

    states: int
    idempotency_records: int


class DecisionStateStore(Protocol):
    """Per-entity decision state with compare-and-set and idempotency records."""

    def load(self, policy: str, entity_key: str, request_id: str) -> Snapshot:
        """Read the entity's state and any decision already made for the request id."""
        ...

    def commit(
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
        """Atomically store the decision and, if given, the new state (see the module)."""
        ...

    def erase(self, entity_key: str) -> StateErasure:
        """Remove every state and idempotency record of the entity, under every policy."""
        ...

    def close(self) -> None:
        """Flush and release files or connections."""
        ...


@runtime_checkable
class ReadsConsent(Protocol):
    """A state store that can read consent in the same round trip as the state (optional)."""

    def load_with_consent(
        self, policy: str, entity_key: str, request_id: str, consent: ConsentStore
    ) -> tuple[Snapshot, ConsentRecord | None]:
        """Like ``load``, plus the entity's consent if ``consent`` shares this backend.

        Returns None for the consent when it does not; the engine then asks the consent
        store itself.
        """
        ...
