"""Decision policies: the actions an entity may be given and the rules that gate them.

>>> from upwell.definitions.entity import Entity
>>> from upwell.definitions.expressions import col
>>> alert = Action(name="tax_alert", eligible=col("tax_events_1d") > 0, cooldown="24h")
>>> policy = Policy(name="nba", entity=Entity(name="customer", keys=("customer_id",)),
...                 actions=(alert,))
>>> sorted(policy.inputs)
['tax_events_1d']
>>> policy.horizon_ms
86400000
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

from upwell.decisions.purpose import Purpose
from upwell.decisions.rules import Budget, Cap, Group, Thresholds, positive_ms
from upwell.definitions.durations import Duration
from upwell.definitions.entity import Entity
from upwell.definitions.errors import DefinitionError
from upwell.definitions.expressions import Expr
from upwell.definitions.names import check_name
from upwell.definitions.service import FeatureService


@dataclass(frozen=True, kw_only=True)
class Action:
    """Something a policy may decide to do for an entity (an offer, an alert).

    Args:
        name: The action's name.
        priority: Higher goes first among the eligible actions; ties go to the higher
            score, then to the action listed first.
        group: An exclusivity group shared with other actions.
        eligible: An expression over feature values and request fields that must be true,
            e.g. ``col("utilisation") > 0.9``; None for always.
        score: The model whose score ranks (and with ``min_score`` gates) the action.
        min_score: The lowest score at which the action is taken.
        cooldown: How long after this action it may not be taken again.
        cap: At most this many of this action per period.
        cost: What taking the action costs, drawn from ``budget``.
        budget: The per-entity budget the cost is drawn from.
        purpose: The purpose the action serves; if it needs consent, the action is
            taken only for entities who gave it.
        description: Free text for humans.

    Raises:
        DefinitionError: A field is invalid or fields contradict each other.
    """

    name: str
    priority: int = 0
    group: Group | None = None
    eligible: Expr | None = None
    score: str | None = None
    min_score: float | None = None
    cooldown: Duration | None = None
    cap: Cap | None = None
    cost: float = 0.0
    budget: Budget | None = None
    purpose: Purpose | None = None
    description: str = ""

    def __post_init__(self) -> None:
        where = f"Action {self.name!r}"
        check_name(self.name, definition=where)
        if isinstance(self.priority, bool) or not isinstance(self.priority, int):
            raise DefinitionError(
                where, "priority", f"{self.priority!r} is not an int", "use e.g. priority=2"
            )
        _check_type(where, "group", self.group, Group)
        _check_type(where, "eligible", self.eligible, Expr, "use e.g. col('utilisation') > 0.9")
        _check_type(where, "cap", self.cap, Cap)
        _check_type(where, "budget", self.budget, Budget)
        _check_type(where, "purpose", self.purpose, Purpose, "use e.g. Purpose.MARKETING")
        if self.score is not None and (not isinstance(self.score, str) or not self.score):
            raise DefinitionError(
                where, "score", f"{self.score!r} is not a model name", "use e.g. score='churn'"
            )
        if self.min_score is not None:
            if self.score is None:
                raise DefinitionError(
                    where, "min_score", "needs a score", "name the model: score='propensity'"
                )
            _check_number(where, "min_score", self.min_score)
        positive_ms(self.cooldown, definition=where, field="cooldown")
        _check_number(where, "cost", self.cost)
        if self.cost < 0:
            raise DefinitionError(where, "cost", f"{self.cost} is negative", "use cost >= 0")
        if self.budget is not None and self.cost <= 0:
            raise DefinitionError(
                where, "cost", "an action with a budget needs a positive cost", "set cost=..."
            )

    @cached_property
    def cooldown_ms(self) -> int | None:
        """The cooldown in milliseconds, or None."""
        return positive_ms(self.cooldown, definition=self.name, field="cooldown")

    @cached_property
    def inputs(self) -> tuple[str, ...]:
        """The feature and request fields the eligibility expression reads, sorted."""
        return () if self.eligible is None else tuple(sorted(self.eligible.columns()))

    @cached_property
    def eligible_text(self) -> str:
        """The eligibility expression as text, for reasons."""
        return repr(self.eligible)


@dataclass(frozen=True, kw_only=True)
class Policy:
    """How to decide for one entity: its actions, their limits, and triage thresholds.

    Args:
        name: The policy's name; decision state is kept per policy and entity.
        entity: The entity decided for (e.g. the customer).
        actions: The actions, in tie-breaking order.
        features: The FeatureService (or its name) whose values the policy reads.
        request_fields: Request fields the eligibility expressions read besides features.
        models: Models whose scores the policy needs besides the actions' ``score`` models.
        thresholds: Triage thresholds (approve / review / decline) over a model's score.
        max_actions: The most actions taken per decision.
        cap: A cap on all the policy's actions together (contact fatigue).
        purposes: Purposes the whole policy needs; without consent nothing is decided.
        description: Free text for humans.

    Raises:
        DefinitionError: A field is invalid, names repeat, or two groups or budgets
            share a name but differ.
    """

    name: str
    entity: Entity
    actions: tuple[Action, ...] = ()
    features: FeatureService | str | None = None
    request_fields: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    thresholds: Thresholds | None = None
    max_actions: int = 1
    cap: Cap | None = None
    purposes: tuple[Purpose, ...] = ()
    description: str = ""

    def __post_init__(self) -> None:
        where = f"Policy {self.name!r}"
        check_name(self.name, definition=where)
        _check_type(where, "entity", self.entity, Entity)
        for field in ("actions", "request_fields", "models", "purposes"):
            value = getattr(self, field)
            object.__setattr__(self, field, (value,) if isinstance(value, str) else tuple(value))
        for action in self.actions:
            _check_type(where, "actions", action, Action, "pass Action(...) objects")
        for purpose in self.purposes:
            _check_type(where, "purposes", purpose, Purpose, "use e.g. Purpose.MARKETING")
        _check_type(where, "thresholds", self.thresholds, Thresholds)
        _check_type(where, "cap", self.cap, Cap)
        if not self.actions and self.thresholds is None:
            raise DefinitionError(
                where, "actions", "has no action and no thresholds", "add an Action"
            )
        _check_unique(where, "actions", [a.name for a in self.actions])
        _check_shared(where, "group", [a.group for a in self.actions if a.group])
        _check_shared(where, "budget", [a.budget for a in self.actions if a.budget])
        if isinstance(self.max_actions, bool) or not isinstance(self.max_actions, int):
            raise DefinitionError(
                where, "max_actions", f"{self.max_actions!r} is not an int", "use max_actions=1"
            )
        if self.max_actions < 1:
            raise DefinitionError(where, "max_actions", "is below 1", "use max_actions >= 1")
        if self.features is not None and not isinstance(self.features, FeatureService | str):
            raise DefinitionError(
                where,
                "features",
                f"{self.features!r} is not a FeatureService",
                "pass a FeatureService or its name",
            )
        _ = self.triage_model

    @property
    def features_name(self) -> str | None:
        """The name of the FeatureService the policy reads, or None."""
        return self.features.name if isinstance(self.features, FeatureService) else self.features

    @cached_property
    def required_models(self) -> tuple[str, ...]:
        """Every model whose score a decision needs, in first-mention order."""
        names = [*self.models, *(a.score for a in self.actions if a.score is not None)]
        if self.thresholds is not None and self.thresholds.model is not None:
            names.append(self.thresholds.model)
        return tuple(dict.fromkeys(names))

    @cached_property
    def triage_model(self) -> str | None:
        """The model whose score the thresholds triage, or None without thresholds."""
        if self.thresholds is None:
            return None
        if self.thresholds.model is not None:
            return self.thresholds.model
        if len(self.required_models) != 1:
            where = f"Policy {self.name!r}"
            raise DefinitionError(
                where,
                "thresholds",
                f"names no model, and the policy has {len(self.required_models)} "
                f"({list(self.required_models)})",
                "name it: Thresholds(..., model='fraud'), or list exactly one model in models",
            )
        return self.required_models[0]

    @cached_property
    def inputs(self) -> frozenset[str]:
        """Every feature or request field the actions' expressions read."""
        return frozenset().union(*(a.inputs for a in self.actions))

    @cached_property
    def horizon_ms(self) -> int:
        """How far back decision history matters (the longest cooldown or period)."""
        spans = [0]
        for action in self.actions:
            spans += [action.cooldown_ms or 0, action.cap.period_ms if action.cap else 0]
            if action.group is not None:
                spans += [action.group.cooldown_ms or 0]
                spans += [action.group.cap.period_ms if action.group.cap else 0]
            spans += [action.budget.period_ms if action.budget else 0]
        spans += [self.cap.period_ms if self.cap else 0]
        return max(spans)

    @cached_property
    def group_members(self) -> dict[str, tuple[str, ...]]:
        """Each exclusivity group's actions."""
        members: dict[str, list[str]] = {}
        for action in self.actions:
            if action.group is not None:
                members.setdefault(action.group.name, []).append(action.name)
        return {name: tuple(names) for name, names in members.items()}

    @cached_property
    def budget_members(self) -> dict[str, tuple[str, ...]]:
        """Each budget's actions."""
        members: dict[str, list[str]] = {}
        for action in self.actions:
            if action.budget is not None:
                members.setdefault(action.budget.name, []).append(action.name)
        return {name: tuple(names) for name, names in members.items()}

    @cached_property
    def action_names(self) -> frozenset[str]:
        """The actions' names."""
        return frozenset(a.name for a in self.actions)

    @cached_property
    def actions_by_name(self) -> dict[str, Action]:
        """The actions by name."""
        return {a.name: a for a in self.actions}


def _check_type(where: str, field: str, value: object, kind: type, fix: str = "") -> None:
    if value is not None and not isinstance(value, kind):
        raise DefinitionError(
            where, field, f"{value!r} is not a {kind.__name__}", fix or f"pass a {kind.__name__}"
        )


def _check_number(where: str, field: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise DefinitionError(where, field, f"{value!r} is not a finite number", "use e.g. 0.5")


def _check_unique(where: str, field: str, names: list[str]) -> None:
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise DefinitionError(
            where, field, f"repeats names {repeated}", "give each action its own name"
        )


def _check_shared(where: str, field: str, items: list[Group] | list[Budget]) -> None:
    seen: dict[str, object] = {}
    for item in items:
        if seen.setdefault(item.name, item) != item:
            raise DefinitionError(
                where,
                field,
                f"two different {field}s are named {item.name!r}",
                f"share one {type(item).__name__} object between the actions, or rename one",
            )
