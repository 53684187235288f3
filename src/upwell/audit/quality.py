"""Live model quality per model version and time window, from joined labels (pure).

Inputs are aligned arrays, one entry per prediction: event time, score, label (NaN when
not known yet) and optionally the card (customer) for card precision@k. Quality metrics
use the labelled predictions of a window; the score distribution and traffic use all.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from upwell.audit.metrics import (
    Calibration,
    CardPrecision,
    Ranking,
    ScoreDistribution,
    auc_roc,
    average_precision,
    brier_score,
    calibration,
    card_precision_at_k,
    score_distribution,
    stable_descending,
)
from upwell.audit.stats import Metric, WindowStat, json_ready
from upwell.audit.time_filter import DAY_MS
from upwell.audit.windows import Window, in_window

__all__ = ["QualityReport", "quality_over_windows", "quality_report", "traffic_stats"]


@dataclass(frozen=True, kw_only=True)
class QualityReport:
    """Quality of one model version over one window.

    Args:
        model: Model name.
        version: Model version.
        window: The window of event time.
        predictions: Predictions in the window.
        labelled: Those with a known label.
        positives: Labelled positives.
        auc_roc: AUC ROC of the labelled ones (None unless both classes occur).
        average_precision: Their average precision (None without positives).
        card_precision: Card precision@k per day of the window (None without cards).
        brier: Their Brier score.
        calibration: Their reliability bins and calibration errors.
        scores: Distribution of all scores in the window.
    """

    model: str
    version: int
    window: Window
    predictions: int
    labelled: int
    positives: int
    auc_roc: float | None
    average_precision: float | None
    card_precision: CardPrecision | None
    brier: float | None
    calibration: Calibration | None
    scores: ScoreDistribution | None

    def stats(self) -> list[WindowStat]:
        """The report's values as window statistics (for alert rules)."""
        values = {
            Metric.AUC_ROC: self.auc_roc,
            Metric.AVERAGE_PRECISION: self.average_precision,
            Metric.CARD_PRECISION: self.card_precision.mean if self.card_precision else None,
            Metric.BRIER: self.brier,
            Metric.ECE: self.calibration.ece if self.calibration else None,
        }
        return [
            WindowStat(
                model=self.model,
                version=self.version,
                metric=metric,
                column=None,
                value=value,
                n=self.labelled,
                end_ms=self.window.end_ms,
            )
            for metric, value in values.items()
        ]

    def as_dict(self) -> dict[str, Any]:
        """The report as strict-JSON-ready values (nested dicts and lists, NaN as None)."""
        return dict(json_ready(dataclasses.asdict(self)))


def _float(values: ArrayLike) -> NDArray[np.float64]:
    return np.asarray(values, dtype=np.float64)


def quality_report(
    model: str,
    version: int,
    window: Window,
    ts_ms: ArrayLike,
    scores: ArrayLike,
    labels: ArrayLike,
    cards: Sequence[object] | ArrayLike | None = None,
    *,
    k: int = 100,
    bins: int = 10,
    ranking: Ranking = stable_descending,
) -> QualityReport:
    """Quality of the predictions of one window.

    Args:
        model: Model name.
        version: Model version.
        window: The window; predictions with ``start_ms < ts <= end_ms`` count.
        ts_ms: Event time of each prediction, epoch milliseconds.
        scores: Score of each prediction.
        labels: Label of each prediction, NaN when unknown.
        cards: Card (customer) of each prediction, for card precision@k (days are UTC).
        k: Cards checked per day.
        bins: Calibration bins.
        ranking: Tie order for card precision (see :func:`card_precision_at_k`).

    Returns:
        The report.
    """
    ts = np.asarray(ts_ms, dtype=np.int64)
    s, y = _float(scores), _float(labels)
    mask = in_window(ts, window)
    known = mask & ~np.isnan(y)
    ys, ss = y[known], s[known]
    card_precision = None
    if cards is not None and known.any():
        card_ids = np.asarray(cards, dtype=object)[known]
        card_precision = card_precision_at_k(ts[known] // DAY_MS, card_ids, ss, ys, k, ranking)
    return QualityReport(
        model=model,
        version=version,
        window=window,
        predictions=int(mask.sum()),
        labelled=int(known.sum()),
        positives=int((ys > 0).sum()),
        auc_roc=auc_roc(ys, ss),
        average_precision=average_precision(ys, ss),
        card_precision=card_precision,
        brier=brier_score(ys, ss),
        calibration=calibration(ys, ss, bins),
        scores=score_distribution(s[mask]),
    )


def quality_over_windows(
    model: str,
    version: int,
    spans: Sequence[Window],
    ts_ms: ArrayLike,
    scores: ArrayLike,
    labels: ArrayLike,
    cards: Sequence[object] | ArrayLike | None = None,
    *,
    k: int = 100,
    bins: int = 10,
    ranking: Ranking = stable_descending,
) -> list[QualityReport]:
    """One :func:`quality_report` per window (see :func:`~upwell.audit.windows.windows`).

    Args:
        model: Model name.
        version: Model version.
        spans: The windows.
        ts_ms: Event time of each prediction.
        scores: Score of each prediction.
        labels: Label of each prediction, NaN when unknown.
        cards: Card of each prediction, for card precision@k.
        k: Cards checked per day.
        bins: Calibration bins.
        ranking: Tie order for card precision.

    Returns:
        The reports, in window order.
    """
    return [
        quality_report(
            model, version, w, ts_ms, scores, labels, cards, k=k, bins=bins, ranking=ranking
        )
        for w in spans
    ]


def traffic_stats(
    model: str,
    version: int,
    window: Window,
    ts_ms: ArrayLike,
    scores: ArrayLike,
    latency_us: ArrayLike,
) -> list[WindowStat]:
    """Prediction count, mean score and p99 latency of one window.

    Args:
        model: Model name.
        version: Model version.
        window: The window.
        ts_ms: Event time of each prediction.
        scores: Score of each prediction.
        latency_us: Scoring latency of each prediction, microseconds.

    Returns:
        Statistics for :attr:`Metric.PREDICTIONS`, :attr:`Metric.SCORE_MEAN` and
        :attr:`Metric.LATENCY_P99_US` (the latter two None for an empty window).
    """
    mask = in_window(np.asarray(ts_ms, dtype=np.int64), window)
    s, lat = _float(scores)[mask], _float(latency_us)[mask]
    n = int(mask.sum())
    values = {
        Metric.PREDICTIONS: float(n),
        Metric.SCORE_MEAN: float(s.mean()) if n else None,
        Metric.LATENCY_P99_US: float(np.quantile(lat, 0.99)) if n else None,
    }
    return [
        WindowStat(
            model=model,
            version=version,
            metric=m,
            column=None,
            value=v,
            n=n,
            end_ms=window.end_ms,
        )
        for m, v in values.items()
    ]
