"""Pure evaluation of a policy: inputs, state and consent in, a decision out.

Order (each action stops at its first failing rule):

1. The policy's own purposes: without consent the decision is refused, and nothing
   else is read.
2. Inputs: every value the expressions read and every model score must be present.
3. Triage by the thresholds, if the policy has them.
4. Each action, in policy order: consent for its purpose, eligibility, minimum score,
   cooldown, group cooldown, cap, group cap, budget.
5. The actions that pass are ranked (priority, then score, then policy order) and taken
   best first while the policy cap, the exclusivity groups, the budgets and
   ``max_actions`` allow.

No clock and no I/O: the time is ``now_ms``; the same arguments give the same decision.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import chain
from typing import Any

from upwell.decisions.consent import ConsentRecord
from upwell.decisions.decision import (
    Consideration,
    Decision,
    DecisionInputs,
    Outcome,
    Reason,
    Rule,
    Triage,
)
from upwell.decisions.errors import DecisionInputError
from upwell.decisions.limits import limit_checks
from upwell.decisions.policy import Action, Policy
from upwell.decisions.purpose import Purpose
from upwell.decisions.selection import rank_and_select
from upwell.decisions.state import EntityState


@dataclass(frozen=True)
class Request:
    """Who and when a decision is for.

    Args:
        entity_key: The entity.
        request_id: The idempotency key.
        now_ms: The decision time (epoch ms).
    """

    entity_key: str
    request_id: str
    now_ms: int


def evaluate(
    policy: Policy,
    request: Request,
    inputs: DecisionInputs,
    state: EntityState,
    consent: ConsentRecord,
) -> Decision:
    """Decide what to do for one entity.

    Args:
        policy: The policy.
        request: The entity, the request id and the decision time.
        inputs: Feature values, request fields and model scores.
        state: The entity's decision state under the policy.
        consent: The entity's consent.

    Returns:
        The decision; ``state_version`` is the version once it is committed (the version
        read, plus one if it takes an action).

    Raises:
        DecisionInputError: A value or model score the policy reads is missing.
    """
    missing = consent.missing(policy.purposes)
    if missing:
        return _refused(policy, request, consent, missing[0])
    _check_inputs(policy, inputs)
    trail: list[Reason] = []
    triage = _triage(policy, inputs, trail)
    considered: dict[str, Consideration] = {}
    candidates: list[Action] = []
    for action in policy.actions:
        rejection = _check_action(policy, action, request.now_ms, inputs, state, consent, trail)
        if rejection is None:
            candidates.append(action)
        else:
            considered[action.name] = rejection
    chosen = rank_and_select(policy, candidates, inputs.scores, state, request.now_ms, trail)
    considered.update(chosen)
    return Decision(
        policy=policy.name,
        entity_key=request.entity_key,
        request_id=request.request_id,
        decided_at_ms=request.now_ms,
        actions=tuple(name for name, c in chosen.items() if c.chosen),
        triage=triage,
        reasons=tuple(trail),
        considered=tuple(considered[a.name] for a in policy.actions),
        scores={m: float(inputs.scores[m]) for m in policy.required_models},
        model_versions=_versions(policy, inputs),
        state_version=state.version + 1
        if any(c.chosen for c in chosen.values())
        else state.version,
    )


def _versions(policy: Policy, inputs: DecisionInputs) -> dict[str, str]:
    versions = inputs.model_versions
    return {m: str(versions[m]) for m in policy.required_models if m in versions}


def _refused(
    policy: Policy, request: Request, consent: ConsentRecord, purpose: Purpose
) -> Decision:
    detail = f"the policy needs consent: {consent.explain(purpose)}"
    return Decision(
        policy=policy.name,
        entity_key=request.entity_key,
        request_id=request.request_id,
        decided_at_ms=request.now_ms,
        actions=(),
        refused=True,
        reasons=(Reason(Rule.CONSENT, Outcome.REJECTED, detail),),
        considered=tuple(
            Consideration(a.name, False, Rule.CONSENT, detail, a.priority) for a in policy.actions
        ),
    )


def _check_inputs(policy: Policy, inputs: DecisionInputs) -> None:
    absent = sorted(policy.inputs.difference(inputs.values))
    if absent:
        msg = f"the inputs lack {absent}"
        raise DecisionInputError(
            msg,
            where=f"Policy {policy.name!r}",
            fix="pass every feature and request field the actions' expressions read "
            "(a missing feature value may be None)",
        )
    for model in policy.required_models:
        score = inputs.scores.get(model)
        if isinstance(score, bool) or not isinstance(score, int | float) or math.isnan(score):
            msg = f"model {model!r} has no score (got {score!r})"
            raise DecisionInputError(
                msg,
                where=f"Policy {policy.name!r}",
                fix=f"score every model the policy needs: {list(policy.required_models)}",
            )


def _triage(policy: Policy, inputs: DecisionInputs, trail: list[Reason]) -> Triage | None:
    if policy.thresholds is None or policy.triage_model is None:
        return None
    score = float(inputs.scores[policy.triage_model])
    limits = policy.thresholds
    if score >= limits.decline_at:
        triage, detail = Triage.DECLINE, f">= decline_at {limits.decline_at}"
    elif score >= limits.review_at:
        triage, detail = Triage.REVIEW, f">= review_at {limits.review_at}"
    else:
        triage, detail = Triage.APPROVE, f"< review_at {limits.review_at}"
    text = f"{policy.triage_model} score {score:.6g} {detail}: {triage.value}"
    trail.append(Reason(Rule.TRIAGE, Outcome.CHOSEN, text))
    return triage


def _check_action(
    policy: Policy,
    action: Action,
    now_ms: int,
    inputs: DecisionInputs,
    state: EntityState,
    consent: ConsentRecord,
    trail: list[Reason],
) -> Consideration | None:
    """Run the action's own rules; the first one failing rejects it."""
    score = None if action.score is None else float(inputs.scores[action.score])
    checks = [*_consent(action, consent), *_eligibility(action, inputs.values)]
    if action.min_score is not None and score is not None:
        checks.append(
            (Rule.MIN_SCORE, score >= action.min_score, f"score {score:.6g} vs {action.min_score}")
        )
    for rule, passed, detail in chain(checks, limit_checks(policy, action, state, now_ms)):
        trail.append(
            Reason(rule, Outcome.PASSED if passed else Outcome.REJECTED, detail, action.name)
        )
        if not passed:
            return Consideration(action.name, False, rule, detail, action.priority, score)
    return None


def _consent(action: Action, consent: ConsentRecord) -> list[tuple[Rule, bool, str]]:
    if action.purpose is None:
        return []
    return [(Rule.CONSENT, consent.allows(action.purpose), consent.explain(action.purpose))]


def _eligibility(action: Action, values: Mapping[str, Any]) -> list[tuple[Rule, bool, str]]:
    if action.eligible is None:
        return []
    read = {name: values[name] for name in action.inputs}
    shown = ", ".join(f"{k}={v!r}" for k, v in read.items())
    empty = [k for k, v in read.items() if v is None]
    if empty:
        return [(Rule.ELIGIBILITY, False, f"no value for {', '.join(empty)}")]
    try:
        passed = bool(action.eligible.evaluate(read))
    except ArithmeticError as error:
        return [(Rule.ELIGIBILITY, False, f"{action.eligible_text} failed ({error}) for {shown}")]
    except (TypeError, ValueError) as error:
        msg = f"cannot evaluate {action.eligible_text} for {shown}: {error}"
        raise DecisionInputError(
            msg,
            where=f"Action {action.name!r}.eligible",
            fix="pass values of the types the expression compares (numbers, booleans)",
        ) from None
    return [(Rule.ELIGIBILITY, passed, f"{action.eligible_text} is {passed} for {shown}")]
