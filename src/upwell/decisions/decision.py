"""What a decision returns: the actions taken, the triage, and every reason behind them.

A :class:`Decision` is a plain value. :meth:`Decision.to_dict` gives its JSON form (what
stores keep for idempotency and what the HTTP API returns); :meth:`Decision.from_dict`
reads it back.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple


class Rule(enum.Enum):
    """A rule that a policy checks; each reason and rejection names one."""

    CONSENT = "consent"
    ELIGIBILITY = "eligibility"
    MIN_SCORE = "min_score"
    COOLDOWN = "cooldown"
    GROUP_COOLDOWN = "group_cooldown"
    CAP = "cap"
    GROUP_CAP = "group_cap"
    POLICY_CAP = "policy_cap"
    BUDGET = "budget"
    EXCLUSIVITY = "exclusivity"
    MAX_ACTIONS = "max_actions"
    RANK = "rank"
    TRIAGE = "triage"


class Outcome(enum.Enum):
    """How a rule turned out."""

    PASSED = "passed"
    REJECTED = "rejected"
    CHOSEN = "chosen"


class Triage(enum.Enum):
    """The triage of a request by score thresholds (e.g. a payment in fraud screening)."""

    APPROVE = "approve"
    REVIEW = "review"
    DECLINE = "decline"


class Reason(NamedTuple):
    """One step of a decision's trail.

    Args:
        rule: The rule checked.
        outcome: Passed, rejected, or chosen.
        detail: The values that decided it, for humans.
        action: The action it concerns; None for the policy as a whole.
    """

    rule: Rule
    outcome: Outcome
    detail: str
    action: str | None = None


class Consideration(NamedTuple):
    """How one action fared.

    Args:
        action: The action's name.
        chosen: Whether it was taken.
        rule: The rule that rejected it; None if it was taken.
        detail: Why, for humans.
        priority: The action's priority.
        score: Its model score, if it has one.
    """

    action: str
    chosen: bool
    rule: Rule | None
    detail: str
    priority: int = 0
    score: float | None = None


@dataclass(frozen=True)
class DecisionInputs:
    """What a decision reads besides its state and consent.

    Args:
        values: Feature values (by the FeatureService's column names) and request fields.
        scores: Model name to score.
        model_versions: Model name to the version that produced the score.
    """

    values: Mapping[str, Any] = field(default_factory=dict)
    scores: Mapping[str, float] = field(default_factory=dict)
    model_versions: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    """The outcome of deciding for one entity and request.

    Args:
        policy: The policy's name.
        entity_key: The entity decided for.
        request_id: The idempotency key of the request.
        decided_at_ms: The decision time (epoch ms).
        actions: The actions taken, best first; empty for none.
        triage: The triage by the policy's thresholds, if it has them.
        refused: True when consent the whole policy needs is missing.
        reasons: Every rule checked, in order.
        considered: How each action fared, in policy order.
        scores: The model scores used.
        model_versions: The versions of those models.
        state_version: The entity's decision-state version after this decision.
        replayed: True when returned again for a repeated request id.
    """

    policy: str
    entity_key: str
    request_id: str
    decided_at_ms: int
    actions: tuple[str, ...]
    triage: Triage | None = None
    refused: bool = False
    reasons: tuple[Reason, ...] = ()
    considered: tuple[Consideration, ...] = ()
    scores: Mapping[str, float] = field(default_factory=dict)
    model_versions: Mapping[str, str] = field(default_factory=dict)
    state_version: int = 0
    replayed: bool = False

    @property
    def action(self) -> str | None:
        """The best action taken, or None."""
        return self.actions[0] if self.actions else None

    def rejections(self) -> dict[str, Rule]:
        """The rule that rejected each action not taken.

        Returns:
            Action name to rule.
        """
        return {c.action: c.rule for c in self.considered if c.rule is not None}

    def without_trail(self) -> Decision:
        """The decision without its explanations, as idempotency records keep it.

        ``considered`` still says which rule stopped each action, without the detail; the
        explanations are for the first answer (and an audit log), not for replays.

        Returns:
            A copy with ``reasons=()`` and empty ``detail`` in ``considered``.
        """
        considered = tuple(Consideration(c[0], c[1], c[2], "", c[4], c[5]) for c in self.considered)
        return dataclasses.replace(self, reasons=(), considered=considered)

    def to_dict(self, *, trail: bool = True) -> dict[str, Any]:
        """The JSON form.

        Args:
            trail: Keep the explanations (``reasons`` and each ``detail``); without them
                the form is what idempotency records store (see :meth:`without_trail`).

        Returns:
            A dict of JSON values.
        """
        return {
            "policy": self.policy,
            "entity_key": self.entity_key,
            "request_id": self.request_id,
            "decided_at_ms": self.decided_at_ms,
            "action": self.action,
            "actions": list(self.actions),
            "triage": None if self.triage is None else self.triage.value,
            "refused": self.refused,
            "reasons": [
                {"rule": r.rule.value, "outcome": r.outcome.value, "detail": r.detail}
                | {"action": r.action}
                for r in (self.reasons if trail else ())
            ],
            "considered": [
                {
                    "action": c.action,
                    "chosen": c.chosen,
                    "rule": None if c.rule is None else c.rule.value,
                    "detail": c.detail if trail else "",
                    "priority": c.priority,
                    "score": c.score,
                }
                for c in self.considered
            ],
            "scores": dict(self.scores),
            "model_versions": dict(self.model_versions),
            "state_version": self.state_version,
            "replayed": self.replayed,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Decision:
        """Read the JSON form back.

        Args:
            data: What :meth:`to_dict` returned.

        Returns:
            The decision.
        """
        triage = data.get("triage")
        return cls(
            policy=str(data["policy"]),
            entity_key=str(data["entity_key"]),
            request_id=str(data["request_id"]),
            decided_at_ms=int(data["decided_at_ms"]),
            actions=tuple(data["actions"]),
            triage=None if triage is None else Triage(triage),
            refused=bool(data["refused"]),
            reasons=tuple(
                Reason(Rule(r["rule"]), Outcome(r["outcome"]), r["detail"], r.get("action"))
                for r in data["reasons"]
            ),
            considered=tuple(
                Consideration(
                    action=c["action"],
                    chosen=c["chosen"],
                    rule=None if c["rule"] is None else Rule(c["rule"]),
                    detail=c["detail"],
                    priority=c["priority"],
                    score=c["score"],
                )
                for c in data["considered"]
            ),
            scores=dict(data["scores"]),
            model_versions=dict(data["model_versions"]),
            state_version=int(data["state_version"]),
            replayed=bool(data.get("replayed", False)),
        )
