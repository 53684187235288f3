"""Alert rules with hysteresis over a stream of window statistics (pure).

A rule watches one :class:`~upwell.audit.stats.Metric` (optionally of one column and one
model). With ``Direction.ABOVE`` it *fires* when a value is above ``fire_at`` and, once
firing, *clears* only when a value is below ``clear_at`` (``clear_at <= fire_at``);
values in between change nothing, so a metric hovering at the threshold does not flap.
``Direction.BELOW`` mirrors this (e.g. AUC falling under 0.8, clearing above 0.85).
Statistics resting on fewer than ``min_samples`` samples, or without a value, are
ignored. Each (rule, model, version, column) has its own state.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from upwell.audit.errors import AuditError
from upwell.audit.stats import Metric, WindowStat

__all__ = ["AlertEvaluator", "AlertEvent", "AlertKind", "AlertRule", "Direction"]


class Direction(enum.StrEnum):
    """Which side of the threshold is bad."""

    ABOVE = "above"
    BELOW = "below"


class AlertKind(enum.StrEnum):
    """What happened to an alert."""

    FIRED = "fired"
    CLEARED = "cleared"


@dataclass(frozen=True, kw_only=True)
class AlertRule:
    """When to raise and clear an alert.

    Args:
        name: Unique rule name.
        metric: The statistic watched.
        fire_at: Fire when the value passes this (above it, or below for ``BELOW``).
        clear_at: Once firing, clear only when the value passes back beyond this.
        direction: Which side is bad.
        column: Only statistics of this feature (or ``score``); None: every column.
        model: Only this model; None: every model.
        min_samples: Ignore statistics resting on fewer samples.

    Raises:
        AuditError: If ``clear_at`` lies on the bad side of ``fire_at`` or a value is NaN.
    """

    name: str
    metric: Metric
    fire_at: float
    clear_at: float
    direction: Direction = Direction.ABOVE
    column: str | None = None
    model: str | None = None
    min_samples: int = 0

    def __post_init__(self) -> None:
        where = f"AlertRule {self.name!r}"
        if not self.name or math.isnan(self.fire_at) or math.isnan(self.clear_at):
            msg = "a rule needs a name and numeric thresholds"
            raise AuditError(msg, where=where, fix="name the rule and set fire_at and clear_at.")
        above = self.direction is Direction.ABOVE
        if (above and self.clear_at > self.fire_at) or (not above and self.clear_at < self.fire_at):
            msg = f"clear_at={self.clear_at} lies beyond fire_at={self.fire_at} ({self.direction})"
            fix = "use clear_at <= fire_at for ABOVE rules and clear_at >= fire_at for BELOW."
            raise AuditError(msg, where=where, fix=fix)

    def matches(self, stat: WindowStat) -> bool:
        """Whether the rule watches this statistic."""
        return (
            stat.metric is self.metric
            and (self.column is None or stat.column == self.column)
            and (self.model is None or stat.model == self.model)
        )

    def is_breach(self, value: float) -> bool:
        """Whether a value should fire the alert."""
        return value > self.fire_at if self.direction is Direction.ABOVE else value < self.fire_at

    def is_recovered(self, value: float) -> bool:
        """Whether a value should clear a firing alert."""
        return value < self.clear_at if self.direction is Direction.ABOVE else value > self.clear_at


@dataclass(frozen=True, kw_only=True)
class AlertEvent:
    """An alert fired or cleared.

    Args:
        rule: The rule's name.
        kind: Fired or cleared.
        metric: The statistic.
        model: Model name.
        version: Model version.
        column: The column, if the statistic has one.
        value: The value that fired or cleared it.
        threshold: ``fire_at`` or ``clear_at``.
        ts_ms: End of the statistic's window.
    """

    rule: str
    kind: AlertKind
    metric: Metric
    model: str
    version: int
    column: str | None
    value: float
    threshold: float
    ts_ms: int

    def as_dict(self) -> dict[str, Any]:
        """The event as JSON-ready values."""
        return {k: (str(v) if isinstance(v, enum.Enum) else v) for k, v in asdict(self).items()}


_Key = tuple[str, str, int, str | None]


class AlertEvaluator:
    """Keeps the state of every rule and turns statistics into alert events.

    Args:
        rules: The rules (unique names).

    Raises:
        AuditError: If two rules share a name.
    """

    def __init__(self, rules: Sequence[AlertRule]) -> None:
        names = [r.name for r in rules]
        if len(set(names)) != len(names):
            msg = f"rule names repeat: {sorted(names)}"
            raise AuditError(msg, where="AlertEvaluator", fix="give every rule its own name.")
        self.rules = tuple(rules)
        self._firing: set[_Key] = set()

    def evaluate(self, stats: Iterable[WindowStat]) -> list[AlertEvent]:
        """Feed statistics, in time order; return the alerts that fired or cleared.

        Args:
            stats: Window statistics.

        Returns:
            The events, in the order they happened.
        """
        events = []
        for stat in stats:
            if stat.value is None or math.isnan(stat.value):
                continue
            for rule in self.rules:
                if rule.matches(stat) and stat.n >= rule.min_samples:
                    event = self._step(rule, stat, stat.value)
                    if event is not None:
                        events.append(event)
        return events

    def _step(self, rule: AlertRule, stat: WindowStat, value: float) -> AlertEvent | None:
        key = (rule.name, stat.model, stat.version, stat.column)
        if key not in self._firing and rule.is_breach(value):
            self._firing.add(key)
            kind, threshold = AlertKind.FIRED, rule.fire_at
        elif key in self._firing and rule.is_recovered(value):
            self._firing.discard(key)
            kind, threshold = AlertKind.CLEARED, rule.clear_at
        else:
            return None
        return AlertEvent(
            rule=rule.name,
            kind=kind,
            metric=stat.metric,
            model=stat.model,
            version=stat.version,
            column=stat.column,
            value=value,
            threshold=threshold,
            ts_ms=stat.end_ms,
        )

    def firing(self) -> list[tuple[str, str, int, str | None]]:
        """The alerts firing now: ``(rule, model, version, column)``, sorted."""
        return sorted(self._firing, key=lambda k: (k[0], k[1], k[2], k[3] or ""))
