"""Feature views: windowed aggregations of one source's events, per entity."""

from __future__ import annotations

from dataclasses import dataclass

from upwell.definitions.aggregations import (
    Aggregation,
    ApproxDistinctCount,
    ApproxPercentile,
    LastK,
    Variance,
)
from upwell.definitions.durations import Duration, to_ms
from upwell.definitions.entity import Entity
from upwell.definitions.errors import DefinitionError
from upwell.definitions.expressions import Expr
from upwell.definitions.names import check_name
from upwell.definitions.source import EventSource
from upwell.definitions.windows import Window, to_window


@dataclass(frozen=True, kw_only=True)
class Feature:
    """One windowed aggregation.

    Args:
        name: The feature's name within its view.
        aggregation: What to compute, e.g. ``Mean("amount")``.
        window: A :class:`Window`, a duration for a sliding window, or None for lifetime.
        offset: Shift the window back by this much: as of t it covers events up to t - offset.
        where: Keep only events for which this expression is true.

    Raises:
        DefinitionError: A name, window, offset or aggregation parameter is invalid.
    """

    name: str
    aggregation: Aggregation
    window: Window | Duration | None = None
    offset: Duration | None = None
    where: Expr | None = None

    def __post_init__(self) -> None:
        where = f"Feature {self.name!r}"
        check_name(self.name, definition=where)
        if not isinstance(self.aggregation, Aggregation):
            raise DefinitionError(
                where,
                "aggregation",
                f"{self.aggregation!r} is not an aggregation",
                "use one of upwell's aggregations, e.g. Count() or Mean('amount')",
            )
        if self.offset is not None and self.window is None:
            raise DefinitionError(
                where,
                "offset",
                "an offset needs a window",
                "give a window, e.g. window='7d', or window=Lifetime() for every event up to "
                "the offset",
            )
        object.__setattr__(self, "window", to_window(self.window, definition=where))
        if self.offset is not None and to_ms(self.offset, definition=where, field="offset") <= 0:
            raise DefinitionError(where, "offset", "must be positive", "use e.g. offset='7d'")
        if self.where is not None and not isinstance(self.where, Expr):
            raise DefinitionError(
                where, "where", f"{self.where!r} is not an expression", "use e.g. col('x') > 0"
            )
        _check_parameters(self.aggregation, where)

    @property
    def window_spec(self) -> Window:
        """The normalised window."""
        assert isinstance(self.window, Window)  # noqa: S101 (normalised in __post_init__)
        return self.window

    @property
    def offset_ms(self) -> int:
        """The offset in milliseconds (0 without one)."""
        return (
            0 if self.offset is None else to_ms(self.offset, definition=self.name, field="offset")
        )


def _check_parameters(agg: Aggregation, where: str) -> None:
    problems: list[tuple[str, str, str]] = []
    if isinstance(agg, LastK) and (not isinstance(agg.k, int) or agg.k <= 0):
        problems.append(("k", f"k={agg.k!r} is not a positive int", "use e.g. LastK('x', k=5)"))
    if isinstance(agg, Variance) and (not isinstance(agg.ddof, int) or agg.ddof < 0):
        problems.append(("ddof", f"ddof={agg.ddof!r} is negative", "use ddof=0 or ddof=1"))
    if isinstance(agg, ApproxDistinctCount) and not 4 <= agg.lg_k <= 21:
        problems.append(("lg_k", f"lg_k={agg.lg_k!r} is out of range", "use 4 <= lg_k <= 21"))
    if isinstance(agg, ApproxPercentile):
        if not 0.0 <= agg.q <= 1.0:
            problems.append(("q", f"q={agg.q!r} is outside [0, 1]", "use e.g. q=0.95"))
        if not 8 <= agg.k <= 65535:
            problems.append(("k", f"k={agg.k!r} is out of range", "use 8 <= k <= 65535"))
    if problems:
        field, what, fix = problems[0]
        raise DefinitionError(where, f"aggregation.{field}", what, fix)


@dataclass(frozen=True, kw_only=True)
class FeatureView:
    """Features of one entity computed from one event source.

    Args:
        name: The view's name; its features are referred to as ``"view.feature"``.
        entity: The entity the features describe; must be one of the source's entities.
        source: The events aggregated.
        features: The features.
        description: Free text for humans.

    Raises:
        DefinitionError: Names repeat or the entity does not belong to the source.
    """

    name: str
    entity: Entity
    source: EventSource
    features: tuple[Feature, ...]
    description: str = ""

    def __post_init__(self) -> None:
        where = f"FeatureView {self.name!r}"
        check_name(self.name, definition=where)
        features = tuple(self.features)
        object.__setattr__(self, "features", features)
        if not features:
            raise DefinitionError(where, "features", "has no feature", "add at least one Feature")
        names = [f.name for f in features]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise DefinitionError(
                where,
                "features",
                f"repeats feature names {duplicates}",
                "give each feature its own name",
            )
        if self.entity not in self.source.entities:
            raise DefinitionError(
                where,
                "entity",
                f"entity {self.entity.name!r} is not one of source {self.source.name!r}'s entities",
                f"add it to EventSource({self.source.name!r}, entities=...) or pick another entity",
            )

    @property
    def feature_refs(self) -> tuple[str, ...]:
        """The qualified names ``view.feature`` of this view's features."""
        return tuple(f"{self.name}.{f.name}" for f in self.features)
