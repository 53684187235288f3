"""The limits an action's history puts on it: cooldowns, caps and budgets.

Each check yields ``(rule, passed, detail)``, lazily, so evaluation stops at the first
failure. Periods are sliding: at ``now`` a period ``p`` counts actions at ``> now - p``,
so an action taken exactly ``p`` ago no longer counts (a 24h cooldown after an alert at
``t`` ends at ``t + 24h``, when the next alert is allowed).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator

from upwell.decisions.consent import format_ms as format_time
from upwell.decisions.decision import Rule
from upwell.decisions.policy import Action, Policy
from upwell.decisions.rules import Budget, Cap
from upwell.decisions.state import EntityState
from upwell.definitions.durations import format_ms as format_duration

Check = tuple[Rule, bool, str]
_TOLERANCE = 1e-9  # sums of float costs may round a hair above an exact total


def limit_checks(
    policy: Policy, action: Action, state: EntityState, now_ms: int
) -> Iterator[Check]:
    """The action's own limits, in order: cooldown, group cooldown, cap, group cap, budget.

    Args:
        policy: The policy (for the members of the action's group and budget).
        action: The action.
        state: The entity's decision state.
        now_ms: The decision time.

    Yields:
        ``(rule, passed, detail)`` for each limit the action has.
    """
    if action.cooldown_ms is not None:
        yield cooldown_check(Rule.COOLDOWN, (action.name,), action.cooldown_ms, state, now_ms)
    group = action.group
    if group is not None and group.cooldown_ms is not None:
        members = policy.group_members[group.name]
        yield cooldown_check(Rule.GROUP_COOLDOWN, members, group.cooldown_ms, state, now_ms)
    if action.cap is not None:
        yield cap_check(Rule.CAP, (action.name,), action.cap, state, now_ms, 0)
    if group is not None and group.cap is not None:
        members = policy.group_members[group.name]
        yield cap_check(Rule.GROUP_CAP, members, group.cap, state, now_ms, 0)
    if action.budget is not None:
        yield budget_check(policy, action, action.budget, state, now_ms, 0.0)


def cooldown_check(
    rule: Rule, actions: tuple[str, ...], cooldown_ms: int, state: EntityState, now_ms: int
) -> Check:
    """Whether none of the actions was taken within the cooldown.

    Args:
        rule: The rule reported.
        actions: The action (or the group's actions).
        cooldown_ms: The cooldown.
        state: The entity's decision state.
        now_ms: The decision time.

    Returns:
        The check.
    """
    last = state.last_at(actions)
    span = format_duration(cooldown_ms)
    if last is None or last <= now_ms - cooldown_ms:
        return rule, True, f"{'/'.join(actions)} not taken within {span}"
    return (
        rule,
        False,
        f"{'/'.join(actions)} taken at {format_time(last)}; cooldown {span} lasts until "
        f"{format_time(last + cooldown_ms)}",
    )


def cap_check(
    rule: Rule, actions: Collection[str], cap: Cap, state: EntityState, now_ms: int, extra: int
) -> Check:
    """Whether one more of the actions stays within the cap.

    Args:
        rule: The rule reported.
        actions: The actions the cap counts.
        cap: The cap.
        state: The entity's decision state.
        now_ms: The decision time.
        extra: Actions already taken in this decision that count too.

    Returns:
        The check.
    """
    count = state.count_since(actions, now_ms - cap.period_ms) + extra
    passed = count < cap.max_count
    return rule, passed, f"{count} taken of max {cap.max_count} in {format_duration(cap.period_ms)}"


def budget_check(
    policy: Policy, action: Action, budget: Budget, state: EntityState, now_ms: int, extra: float
) -> Check:
    """Whether the action's cost fits what is left of its budget.

    Args:
        policy: The policy (for the actions sharing the budget).
        action: The action.
        budget: Its budget.
        state: The entity's decision state.
        now_ms: The decision time.
        extra: Cost already drawn in this decision.

    Returns:
        The check.
    """
    spent = state.spent_since(policy.budget_members[budget.name], now_ms - budget.period_ms) + extra
    passed = spent + action.cost <= budget.total + _TOLERANCE * max(1.0, budget.total)
    return (
        Rule.BUDGET,
        passed,
        f"{budget.name}: spent {spent:g} + cost {action.cost:g} vs {budget.total:g} "
        f"per {format_duration(budget.period_ms)}",
    )
