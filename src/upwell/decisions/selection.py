"""Ranking the actions that passed their own rules, and taking the best that fit together."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from upwell.decisions.decision import Consideration, Outcome, Reason, Rule
from upwell.decisions.limits import budget_check, cap_check
from upwell.decisions.policy import Action, Policy
from upwell.decisions.state import EntityState


def rank(policy: Policy, candidates: Sequence[Action], scores: Mapping[str, float]) -> list[Action]:
    """Order actions best first: higher priority, then higher score, then policy order.

    Args:
        policy: The policy (its action order breaks ties).
        candidates: The actions to rank.
        scores: Model scores (actions without a score rank below scored ones on a tie).

    Returns:
        The actions, best first.
    """
    order = {a.name: i for i, a in enumerate(policy.actions)}

    def key(action: Action) -> tuple[int, float, int]:
        score = -float("inf") if action.score is None else float(scores[action.score])
        return -action.priority, -score, order[action.name]

    return sorted(candidates, key=key)


def rank_and_select(
    policy: Policy,
    candidates: Sequence[Action],
    scores: Mapping[str, float],
    state: EntityState,
    now_ms: int,
    trail: list[Reason],
) -> dict[str, Consideration]:
    """Take the best candidates that fit the policy cap, groups, budgets and max_actions.

    Args:
        policy: The policy.
        candidates: Actions that passed their own rules.
        scores: Model scores.
        state: The entity's decision state.
        now_ms: The decision time.
        trail: The decision's reasons; one is added per candidate.

    Returns:
        Each candidate's consideration (chosen or the rule that stopped it), best first.
    """
    taken: list[Action] = []
    outcome: dict[str, Consideration] = {}
    for action in rank(policy, candidates, scores):
        rule, detail = _fits(policy, action, taken, state, now_ms)
        score = None if action.score is None else float(scores[action.score])
        if rule is None:
            taken.append(action)
            outcome[action.name] = Consideration(
                action.name, True, None, detail, action.priority, score
            )
            trail.append(Reason(Rule.RANK, Outcome.CHOSEN, detail, action.name))
        else:
            outcome[action.name] = Consideration(
                action.name, False, rule, detail, action.priority, score
            )
            trail.append(Reason(rule, Outcome.REJECTED, detail, action.name))
    return outcome


def _fits(
    policy: Policy, action: Action, taken: list[Action], state: EntityState, now_ms: int
) -> tuple[Rule | None, str]:
    """The rule that keeps the action out beside those already taken, or None and a detail."""
    if len(taken) >= policy.max_actions:
        best = ", ".join(a.name for a in taken)
        return Rule.MAX_ACTIONS, f"outranked by {best} (max_actions={policy.max_actions})"
    group = action.group
    rival = next((a for a in taken if group is not None and a.group == group), None)
    if group is not None and rival is not None:
        return Rule.EXCLUSIVITY, f"group {group.name} already has {rival.name} in this decision"
    if policy.cap is not None:
        rule, passed, detail = cap_check(
            Rule.POLICY_CAP, policy.action_names, policy.cap, state, now_ms, len(taken)
        )
        if not passed:
            return rule, detail
    if action.budget is not None:
        drawn = sum(a.cost for a in taken if a.budget == action.budget)
        rule, passed, detail = budget_check(policy, action, action.budget, state, now_ms, drawn)
        if not passed:
            return rule, detail
    return None, f"rank {len(taken) + 1} of max_actions={policy.max_actions}"
