"""Builders for decision tests: a customer entity, times, and one-call evaluation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from upwell.decisions.consent import ConsentChange, ConsentRecord, ConsentStatus
from upwell.decisions.decision import Decision, DecisionInputs
from upwell.decisions.evaluate import Request, evaluate
from upwell.decisions.policy import Action, Policy
from upwell.decisions.state import EntityState, Taken
from upwell.definitions.entity import Entity

CUSTOMER = Entity(name="customer", keys=("customer_id",))
T0 = 1_700_000_000_000
HOUR = 3_600_000
DAY = 24 * HOUR


def policy_of(*actions: Action, **options: Any) -> Policy:
    """A policy for the customer entity with these actions."""
    return Policy(name="p", entity=CUSTOMER, actions=actions, **options)


def consent_of(**statuses: ConsentStatus) -> ConsentRecord:
    """A consent record with each purpose's status, changed at time 0."""
    return ConsentRecord("c1", {p: ConsentChange(p, s, 0) for p, s in statuses.items()})


def decide(
    policy: Policy,
    *,
    values: Mapping[str, Any] | None = None,
    scores: Mapping[str, float] | None = None,
    history: tuple[tuple[str, int] | tuple[str, int, float], ...] = (),
    consent: ConsentRecord | None = None,
    now: int = T0,
) -> Decision:
    """Evaluate once; history entries are (action, at_ms[, cost])."""
    state = EntityState(version=len(history), history=tuple(Taken(*h) for h in history))
    return evaluate(
        policy,
        Request("c1", "r1", now),
        DecisionInputs(values=dict(values or {}), scores=dict(scores or {})),
        state,
        consent or ConsentRecord("c1"),
    )
