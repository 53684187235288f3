"""Window statistics: the values alerts watch, one per metric, model, version and column."""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Any

__all__ = ["SCORE", "Metric", "WindowStat", "json_ready"]

SCORE = "score"
"""The column name under which the model's output is watched for drift."""


class Metric(enum.StrEnum):
    """What a window statistic measures."""

    PSI = "psi"
    KS_STATISTIC = "ks_statistic"
    KS_PVALUE = "ks_pvalue"
    JS_DISTANCE = "js_distance"
    MISSING_RATE = "missing_rate"
    OUT_OF_RANGE_RATE = "out_of_range_rate"
    FRESHNESS_MS = "freshness_ms"
    AUC_ROC = "auc_roc"
    AVERAGE_PRECISION = "average_precision"
    CARD_PRECISION = "card_precision"
    BRIER = "brier"
    ECE = "ece"
    SCORE_MEAN = "score_mean"
    PREDICTIONS = "predictions"
    LATENCY_P99_US = "latency_p99_us"


@dataclass(frozen=True, kw_only=True)
class WindowStat:
    """One statistic of one model version over one window.

    Args:
        model: Model name.
        version: Model version.
        metric: What was measured.
        column: The feature (or :data:`SCORE`) it concerns; None for whole-model metrics.
        value: The value; None when it cannot be computed (e.g. one class only).
        n: How many samples it rests on.
        end_ms: End of the window (inclusive), epoch milliseconds.
    """

    model: str
    version: int
    metric: Metric
    column: str | None
    value: float | None
    n: int
    end_ms: int


def json_ready(value: Any) -> Any:
    """A value with NaN and infinities as None, tuples as lists and enums as their values.

    Strict JSON (e.g. an HTTP response) has no NaN; reports use it for empty bins.

    >>> json_ready({"a": (1.0, float("nan")), "m": Metric.PSI})
    {'a': [1.0, None], 'm': 'psi'}
    """
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    return value
