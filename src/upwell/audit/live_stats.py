"""The statistics a monitor computes at one instant, from predictions and labels (pure).

At ``now_ms``, for every model version with predictions in the last ``drift_window_ms``:
traffic (count, mean score, p99 latency) and, when the version has a training reference,
drift and data quality of each reference column over that window. For every version with
labelled predictions in the quality window (``quality_window_ms`` ending
``label_delay_ms`` before now, labels known at now): AUC ROC, average precision, card
precision@k (when ``card_key`` names the card's entity key), Brier score and ECE.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from upwell.audit.drift import ReferenceProfile
from upwell.audit.drift_windows import DriftReport, drift_over_windows
from upwell.audit.errors import AuditError
from upwell.audit.labels import REQUEST_ID
from upwell.audit.metrics import Ranking, stable_descending
from upwell.audit.quality import QualityReport, quality_over_windows, traffic_stats
from upwell.audit.stats import SCORE, WindowStat
from upwell.audit.tables import entity_values, feature_arrays, ts_ms_of
from upwell.audit.time_filter import DAY_MS
from upwell.audit.windows import Window

__all__ = ["MonitorConfig", "drift_reports", "live_stats", "quality_reports"]


@dataclass(frozen=True, kw_only=True)
class MonitorConfig:
    """How a monitor computes live statistics.

    Args:
        drift_window_ms: Window of drift, data-quality and traffic statistics.
        quality_window_ms: Window of quality metrics.
        label_delay_ms: How long labels take to arrive; the quality window ends this long
            before now (fraud: 7 days).
        label_key: Join labels on the request id, or on this entity key.
        card_key: Entity key of the card (customer) for card precision@k; None: skip it.
        k: Cards checked per day for card precision@k.
        calibration_bins: Reliability bins.

    Raises:
        AuditError: If a window is not positive, the delay negative or ``k`` < 1.
    """

    drift_window_ms: int = DAY_MS
    quality_window_ms: int = 7 * DAY_MS
    label_delay_ms: int = 0
    label_key: str = REQUEST_ID
    card_key: str | None = None
    k: int = 100
    calibration_bins: int = 10

    def __post_init__(self) -> None:
        if min(self.drift_window_ms, self.quality_window_ms, self.k, self.calibration_bins) < 1:
            msg = "windows, k and calibration_bins must be positive"
            raise AuditError(msg, where="MonitorConfig", fix="use positive values.")
        if self.label_delay_ms < 0:
            msg = f"label_delay_ms={self.label_delay_ms}"
            raise AuditError(msg, where="MonitorConfig", fix="use a delay >= 0.")


def drift_reports(
    frame: pd.DataFrame,
    model: str,
    version: int,
    profile: ReferenceProfile,
    spans: Sequence[Window],
) -> list[DriftReport]:
    """Drift of one version's predictions (a log's ``read()`` frame) per window and column.

    Args:
        frame: The version's predictions.
        model: Model name.
        version: Model version.
        profile: Its training reference; a ``score`` column there watches the score.
        spans: The windows.

    Returns:
        The reports.
    """
    names = [c for c in profile.columns if c != SCORE]
    columns = feature_arrays(frame, names)
    columns[SCORE] = frame["score"].to_numpy(dtype=float)
    return drift_over_windows(model, version, profile, spans, ts_ms_of(frame), columns)


def quality_reports(
    frame: pd.DataFrame,
    model: str,
    version: int,
    spans: Sequence[Window],
    config: MonitorConfig,
    ranking: Ranking = stable_descending,
) -> list[QualityReport]:
    """Quality of one version's predictions joined with labels (a ``label`` column).

    Args:
        frame: The version's predictions with their labels (NaN when unknown).
        model: Model name.
        version: Model version.
        spans: The windows.
        config: ``card_key``, ``k`` and ``calibration_bins`` are used.
        ranking: Tie order for card precision.

    Returns:
        The reports.
    """
    cards = entity_values(frame, config.card_key) if config.card_key else None
    return quality_over_windows(
        model,
        version,
        spans,
        ts_ms_of(frame),
        frame["score"].to_numpy(dtype=float),
        frame["label"].to_numpy(dtype=float),
        cards,
        k=config.k,
        bins=config.calibration_bins,
        ranking=ranking,
    )


def _versions(frame: pd.DataFrame) -> list[tuple[tuple[str, int], pd.DataFrame]]:
    if frame.empty:
        return []
    groups = frame.groupby(["model", "version"])
    return [((str(p["model"].iat[0]), int(p["version"].to_numpy()[0])), p) for _, p in groups]


def live_stats(
    recent: pd.DataFrame,
    labelled: pd.DataFrame,
    references: Mapping[tuple[str, int], ReferenceProfile],
    config: MonitorConfig,
    now_ms: int,
) -> list[WindowStat]:
    """Every statistic at ``now_ms`` (see the module's description).

    Args:
        recent: Predictions of the drift window (all versions).
        labelled: Predictions of the quality window joined with labels known at now.
        references: Training references by ``(model, version)``.
        config: Windows and options.
        now_ms: The instant, epoch milliseconds.

    Returns:
        The statistics, drift and traffic first, then quality.
    """
    stats: list[WindowStat] = []
    drift_window = Window(now_ms - config.drift_window_ms, now_ms)
    for (model, version), part in _versions(recent):
        stats += traffic_stats(
            model, version, drift_window, ts_ms_of(part), part["score"], part["latency_us"]
        )
        profile = references.get((model, version))
        if profile is not None:
            for report in drift_reports(part, model, version, profile, [drift_window]):
                stats += report.stats()
    end = now_ms - config.label_delay_ms
    quality_window = Window(end - config.quality_window_ms, end)
    for (model, version), part in _versions(labelled):
        for q in quality_reports(part, model, version, [quality_window], config):
            stats += q.stats()
    return stats
