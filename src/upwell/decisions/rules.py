"""The limits a policy puts on its actions: caps, exclusivity groups, budgets, thresholds.

Every period is sliding and right-closed, like a feature window: deciding at ``t`` with
a period ``p`` counts what was done at times ``> t - p``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

from upwell.definitions.durations import Duration, to_ms
from upwell.definitions.errors import DefinitionError
from upwell.definitions.names import check_name


def positive_ms(value: Duration | None, *, definition: str, field: str) -> int | None:
    """Convert an optional duration to positive milliseconds.

    Args:
        value: The duration, or None.
        definition: The definition it belongs to, for the error message.
        field: The field it belongs to, for the error message.

    Returns:
        The milliseconds, or None.

    Raises:
        DefinitionError: The value is not a duration or not positive.
    """
    if value is None:
        return None
    ms = to_ms(value, definition=definition, field=field)
    if ms <= 0:
        raise DefinitionError(
            definition, field, f"{value!r} is not a positive duration", "use e.g. '24h' or '30d'"
        )
    return ms


@dataclass(frozen=True, kw_only=True)
class Cap:
    """At most ``max_count`` actions within any sliding ``period``.

    Args:
        max_count: The most actions allowed in a period (>= 1).
        period: The period, e.g. ``"7d"``.

    Raises:
        DefinitionError: ``max_count`` is not a positive int or the period is not positive.
    """

    max_count: int
    period: Duration

    def __post_init__(self) -> None:
        where = "Cap"
        if not isinstance(self.max_count, int) or isinstance(self.max_count, bool):
            raise DefinitionError(
                where, "max_count", f"{self.max_count!r} is not an int", "use e.g. max_count=3"
            )
        if self.max_count < 1:
            raise DefinitionError(
                where,
                "max_count",
                f"{self.max_count} is below 1",
                "use max_count >= 1, or leave the action out of the policy",
            )
        positive_ms(self.period, definition=where, field="period")

    @cached_property
    def period_ms(self) -> int:
        """The period in milliseconds."""
        return to_ms(self.period, definition="Cap", field="period")


@dataclass(frozen=True, kw_only=True)
class Group:
    """An exclusivity group: actions of which at most one is taken per decision.

    With ``cooldown``, no action of the group is taken within that long of any other
    (e.g. no second credit offer of any kind within 30 days); with ``cap``, the group's
    actions together stay within the cap.

    Args:
        name: The group's name.
        cooldown: How long after any action of the group the group stays closed.
        cap: A cap on the group's actions together.

    Raises:
        DefinitionError: The name, cooldown or cap is invalid.
    """

    name: str
    cooldown: Duration | None = None
    cap: Cap | None = None

    def __post_init__(self) -> None:
        where = f"Group {self.name!r}"
        check_name(self.name, definition=where)
        positive_ms(self.cooldown, definition=where, field="cooldown")
        if self.cap is not None and not isinstance(self.cap, Cap):
            raise DefinitionError(where, "cap", f"{self.cap!r} is not a Cap", "use Cap(...)")

    @cached_property
    def cooldown_ms(self) -> int | None:
        """The cooldown in milliseconds, or None."""
        return positive_ms(self.cooldown, definition=self.name, field="cooldown")


@dataclass(frozen=True, kw_only=True)
class Budget:
    """A per-entity budget that actions with a cost draw on, per sliding period.

    Args:
        name: The budget's name (actions share a budget by sharing the object).
        total: The most the actions may cost together within a period (> 0).
        period: The period, e.g. ``"30d"``.

    Raises:
        DefinitionError: The name, total or period is invalid.
    """

    name: str
    total: float
    period: Duration

    def __post_init__(self) -> None:
        where = f"Budget {self.name!r}"
        check_name(self.name, definition=where)
        if isinstance(self.total, bool) or not isinstance(self.total, int | float):
            raise DefinitionError(
                where, "total", f"{self.total!r} is not a number", "use e.g. total=100.0"
            )
        if not math.isfinite(self.total) or self.total <= 0:
            raise DefinitionError(
                where, "total", f"{self.total!r} is not a positive number", "use e.g. 100.0"
            )
        positive_ms(self.period, definition=where, field="period")

    @cached_property
    def period_ms(self) -> int:
        """The period in milliseconds."""
        return to_ms(self.period, definition=self.name, field="period")


@dataclass(frozen=True, kw_only=True)
class Thresholds:
    """Score thresholds that triage a request into approve, review or decline.

    A score ``>= decline_at`` declines, ``>= review_at`` sends to review, lower approves.

    Args:
        review_at: The lowest score sent to review.
        decline_at: The lowest score declined (>= ``review_at``).
        model: The model whose score is triaged; None for the policy's only model.

    Raises:
        DefinitionError: A threshold is outside [0, 1] or ``review_at > decline_at``.
    """

    review_at: float
    decline_at: float
    model: str | None = None

    def __post_init__(self) -> None:
        where = "Thresholds"
        for field in ("review_at", "decline_at"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise DefinitionError(where, field, f"{value!r} is not a number", "use e.g. 0.5")
            if not 0.0 <= value <= 1.0:
                raise DefinitionError(where, field, f"{value!r} is outside [0, 1]", "use e.g. 0.5")
        if self.review_at > self.decline_at:
            raise DefinitionError(
                where,
                "review_at",
                f"review_at={self.review_at} is above decline_at={self.decline_at}",
                "make review_at <= decline_at (equal values skip review)",
            )
        if self.model is not None and (not isinstance(self.model, str) or not self.model):
            raise DefinitionError(
                where, "model", f"{self.model!r} is not a model name", "use e.g. 'fraud'"
            )
