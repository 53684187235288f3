"""Compilation of a feature view into channels and per-feature plans.

A *channel* is one per-event input stream: an optional value expression and an
optional filter. Features that read the same value with the same filter share a
channel, so each event's value is computed and stored once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from upwell.definitions.aggregations import (
    Aggregation,
    Count,
    Mean,
    RatioOfSums,
    Stddev,
    Sum,
    Variance,
)
from upwell.definitions.expressions import Expr
from upwell.definitions.feature_view import FeatureView
from upwell.definitions.types import FieldType
from upwell.definitions.windows import Window
from upwell.engine.windows import retention_ms


@dataclass(frozen=True)
class Channel:
    """One per-event input: ``value`` (None: the event itself) kept where ``where`` holds."""

    value: Expr | None
    where: Expr | None
    numeric: bool
    squares: bool

    def extract(self, event: Mapping[str, Any]) -> Any:
        """The channel's value for one event, or None when the filter drops it.

        Args:
            event: The event's fields.

        Returns:
            The value (1.0 for value-less channels), or None.
        """
        if self.where is not None and not self.where.evaluate(event):
            return None
        if self.value is None:
            return 1.0
        value = self.value.evaluate(event)
        return float(value) if self.numeric else value


@dataclass(frozen=True)
class FeaturePlan:
    """How to compute one feature: its aggregation, channels and window."""

    index: int
    name: str
    aggregation: Aggregation
    channels: tuple[int, ...]
    window: Window
    offset_ms: int
    bounds_key: int
    result_type: FieldType | None


@dataclass(frozen=True)
class ViewPlan:
    """A compiled feature view."""

    view: FeatureView
    channels: tuple[Channel, ...]
    features: tuple[FeaturePlan, ...]
    bounds: tuple[tuple[Window, int], ...]
    retention_ms: int

    @property
    def keys(self) -> tuple[str, ...]:
        """The entity key fields."""
        return self.view.entity.keys


_SUM_FAMILY = (Sum, Mean, Variance, RatioOfSums, Count)


def compile_view(view: FeatureView) -> ViewPlan:
    """Compile a (validated) feature view.

    Args:
        view: The view.

    Returns:
        Its plan.
    """
    channel_index: dict[tuple[str, str], int] = {}
    channels: list[Channel] = []
    bounds_index: dict[tuple[Window, int], int] = {}
    plans: list[FeaturePlan] = []
    schema = view.source.schema

    def channel(value: Expr | None, where: Expr | None, squares: bool) -> int:
        key = (repr(value), repr(where))
        numeric = value is None or all(
            getattr(schema.get(c), "is_numeric", False) for c in value.columns()
        )
        if key not in channel_index:
            channel_index[key] = len(channels)
            channels.append(Channel(value, where, numeric, squares))
        elif squares and not channels[channel_index[key]].squares:
            i = channel_index[key]
            channels[i] = Channel(value, where, channels[i].numeric, True)
        return channel_index[key]

    for index, feature in enumerate(view.features):
        agg = feature.aggregation
        if isinstance(agg, RatioOfSums):
            numerator = channel(agg.numerator, feature.where, False)
            denominator = channel(agg.denominator, feature.where, False)
            ids: tuple[int, ...] = (numerator, denominator)
        elif isinstance(agg, Count):
            ids = (channel(None, feature.where, False),)
        else:
            ids = (channel(agg.inputs[0], feature.where, isinstance(agg, Variance | Stddev)),)
        bounds = (feature.window_spec, feature.offset_ms)
        bounds_index.setdefault(bounds, len(bounds_index))
        plans.append(
            FeaturePlan(
                index=index,
                name=feature.name,
                aggregation=agg,
                channels=ids,
                window=feature.window_spec,
                offset_ms=feature.offset_ms,
                bounds_key=bounds_index[bounds],
                result_type=_value_type(agg, schema),
            )
        )
    spans = [retention_ms(w, d) for w, d in bounds_index]
    # A lifetime window with an offset needs the raw events newer than ``t - offset``:
    # folded into its base early, they would count before they enter the window.
    raw = [offset if s is None else s for s, (_, offset) in zip(spans, bounds_index, strict=True)]
    return ViewPlan(
        view=view,
        channels=tuple(channels),
        features=tuple(plans),
        bounds=tuple(bounds_index),
        retention_ms=max(raw, default=0),
    )


def _value_type(agg: Aggregation, schema: Mapping[str, object]) -> FieldType | None:
    inputs = agg.inputs
    if len(inputs) == 1 and len(inputs[0].columns()) == 1:
        kind = schema.get(next(iter(inputs[0].columns())))
        return kind if isinstance(kind, FieldType) else None
    return None
