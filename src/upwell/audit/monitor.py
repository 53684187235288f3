"""The audit facade a server or runtime owns: record, label, measure, alert.

It holds a prediction log, a label store, the training references of model versions, and
the alert rules and sinks; it reads from the stores and delegates every computation to
:mod:`upwell.audit.live_stats`, :mod:`~upwell.audit.quality`, :mod:`~upwell.audit.drift`
and :mod:`~upwell.audit.alerts`. It reads no clock: the caller passes ``now_ms``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Protocol

import pandas as pd

from upwell.audit.alert_sinks import AlertLog, AlertSink
from upwell.audit.alerts import AlertEvaluator, AlertEvent, AlertRule
from upwell.audit.drift import ReferenceProfile
from upwell.audit.drift_windows import DriftReport
from upwell.audit.errors import AuditError
from upwell.audit.journal import SyncPolicy
from upwell.audit.labels import LabelStore, join_keys, join_labels
from upwell.audit.live_stats import MonitorConfig, drift_reports, live_stats, quality_reports
from upwell.audit.log_protocol import LogStats, PredictionLog
from upwell.audit.parquet_labels import ParquetLabelStore
from upwell.audit.parquet_log import ParquetPredictionLog
from upwell.audit.quality import QualityReport
from upwell.audit.records import Label, PredictionRecord
from upwell.audit.stats import WindowStat
from upwell.audit.windows import windows

__all__ = ["Monitor", "StatObserver", "open_monitor"]


class StatObserver(Protocol):
    """Receives every window statistic a monitor computes (e.g. Prometheus gauges)."""

    def observe(self, stats: Sequence[WindowStat]) -> None:
        """Take the statistics."""
        ...


class Monitor:
    """Audit of live predictions.

    Args:
        log: Where predictions are recorded.
        labels: Where late labels are stored.
        config: Windows and options of live statistics.
        references: Training references by ``(model, version)``.
        rules: Alert rules.
        sinks: Receive alert events (alert log, Prometheus, webhook).
        observers: Receive the statistics of every :meth:`evaluate_alerts`.
    """

    def __init__(
        self,
        log: PredictionLog,
        labels: LabelStore,
        *,
        config: MonitorConfig | None = None,
        references: Mapping[tuple[str, int], ReferenceProfile] | None = None,
        rules: Sequence[AlertRule] = (),
        sinks: Sequence[AlertSink] = (),
        observers: Sequence[StatObserver] = (),
    ) -> None:
        self.log = log
        self.labels = labels
        self.config = config or MonitorConfig()
        self._references = dict(references or {})
        self._alerts = AlertEvaluator(rules)
        self._sinks = tuple(sinks)
        self._observers = tuple(observers)

    def record(self, rec: PredictionRecord) -> bool:
        """Log a prediction without blocking (False: dropped, buffer full)."""
        return self.log.record(rec)

    def add_labels(self, labels: Iterable[Label]) -> int:
        """Store late labels (durable on return); returns how many."""
        return self.labels.add(labels)

    def set_reference(
        self, model: str, version: int, reference: ReferenceProfile | pd.DataFrame, bins: int = 10
    ) -> ReferenceProfile:
        """Set the training reference of a model version.

        Args:
            model: Model name.
            version: Model version.
            reference: A profile, or the training DataFrame (features, plus the training
                scores in ``score`` to watch the score).
            bins: Quantile bins when a DataFrame is given.

        Returns:
            The profile in use.
        """
        profile = (
            reference
            if isinstance(reference, ReferenceProfile)
            else ReferenceProfile.from_frame(reference, bins=bins)
        )
        self._references[(model, version)] = profile
        return profile

    def labelled(
        self,
        model: str | None = None,
        version: int | None = None,
        *,
        start_ms: int | None = None,
        end_ms: int | None = None,
        as_of_ms: int | None = None,
    ) -> pd.DataFrame:
        """Predictions with ``start_ms < ts <= end_ms`` and their labels known at ``as_of_ms``.

        Args:
            model: Only this model (None: all).
            version: Only this version (None: all).
            start_ms: Exclusive lower bound of the event time (None: unbounded).
            end_ms: Inclusive upper bound of the event time (None: unbounded).
            as_of_ms: Use only labels known then (None: every label).

        Returns:
            The log's ``read()`` columns plus ``label`` (NaN when unknown) and ``label_ts``.
        """
        frame = self.log.read(model=model, version=version, start_ms=start_ms, end_ms=end_ms)
        keys = {k for k in join_keys(frame, self.config.label_key) if k is not None}
        known = self.labels.read(keys, as_of_ms=as_of_ms)
        return join_labels(frame, known, self.config.label_key)

    def quality(
        self,
        model: str,
        version: int,
        *,
        start_ms: int,
        end_ms: int,
        window_ms: int | None = None,
        step_ms: int | None = None,
        as_of_ms: int | None = None,
    ) -> list[QualityReport]:
        """Quality of a version per window of ``start_ms < ts <= end_ms``.

        Args:
            model: Model name.
            version: Model version.
            start_ms: Start of the span (exclusive).
            end_ms: End of the span (inclusive).
            window_ms: Window length (default: the whole span).
            step_ms: Distance between windows (default: ``window_ms``).
            as_of_ms: Use only labels known then (default: every label).

        Returns:
            One report per window, oldest first.
        """
        frame = self.labelled(model, version, start_ms=start_ms, end_ms=end_ms, as_of_ms=as_of_ms)
        spans = windows(start_ms, end_ms, window_ms or max(end_ms - start_ms, 1), step_ms)
        return quality_reports(frame, model, version, spans, self.config)

    def drift(
        self,
        model: str,
        version: int,
        *,
        start_ms: int,
        end_ms: int,
        window_ms: int | None = None,
        step_ms: int | None = None,
    ) -> list[DriftReport]:
        """Drift of a version's features and score per window of ``start_ms < ts <= end_ms``.

        Args:
            model: Model name.
            version: Model version.
            start_ms: Start of the span (exclusive).
            end_ms: End of the span (inclusive).
            window_ms: Window length (default: the whole span).
            step_ms: Distance between windows (default: ``window_ms``).

        Returns:
            One report per window and reference column.

        Raises:
            AuditError: If the version has no training reference.
        """
        profile = self._references.get((model, version))
        if profile is None:
            msg = f"no training reference for {model!r} version {version}"
            raise AuditError(msg, where="Monitor.drift", fix="call set_reference() first.")
        frame = self.log.read(model=model, version=version, start_ms=start_ms, end_ms=end_ms)
        spans = windows(start_ms, end_ms, window_ms or max(end_ms - start_ms, 1), step_ms)
        return drift_reports(frame, model, version, profile, spans)

    def window_stats(self, now_ms: int) -> list[WindowStat]:
        """Every live statistic at ``now_ms`` (see :func:`~upwell.audit.live_stats.live_stats`)."""
        c = self.config
        recent = self.log.read(start_ms=now_ms - c.drift_window_ms, end_ms=now_ms)
        end = now_ms - c.label_delay_ms
        labelled = self.labelled(start_ms=end - c.quality_window_ms, end_ms=end, as_of_ms=now_ms)
        return live_stats(recent, labelled, self._references, c, now_ms)

    def evaluate_alerts(self, now_ms: int) -> list[AlertEvent]:
        """Compute the statistics at ``now_ms``, apply the rules, notify sinks and observers.

        Call it periodically (e.g. every minute) with the current time.

        Args:
            now_ms: The instant, epoch milliseconds.

        Returns:
            The alerts that fired or cleared.
        """
        stats = self.window_stats(now_ms)
        for observer in self._observers:
            observer.observe(stats)
        events = self._alerts.evaluate(stats)
        for sink in self._sinks:
            sink.emit(events)
        return events

    def firing(self) -> list[tuple[str, str, int, str | None]]:
        """The alerts firing now: ``(rule, model, version, column)``."""
        return self._alerts.firing()

    def stats(self) -> LogStats:
        """The prediction log's counters."""
        return self.log.stats()

    def close(self) -> None:
        """Close the log (writing its buffer) and the label store."""
        self.log.close()
        self.labels.close()


def open_monitor(
    directory: Path | str,
    *,
    config: MonitorConfig | None = None,
    rules: Sequence[AlertRule] = (),
    sinks: Sequence[AlertSink] = (),
    observers: Sequence[StatObserver] = (),
    capacity: int = 10_000,
    fsync: SyncPolicy | str = SyncPolicy.NEVER,
    read_only: bool = False,
) -> Monitor:
    """A monitor on the embedded layout of an audit folder.

    Predictions go to ``<directory>/predictions``, labels to ``<directory>/labels`` and
    alert events to ``<directory>/alerts/alerts.jsonl`` (always, before ``sinks``).

    Args:
        directory: The audit folder (e.g. ``<store path>/audit``).
        config: Windows and options of live statistics.
        rules: Alert rules.
        sinks: More alert sinks (Prometheus, webhook).
        observers: Receive the statistics of every ``evaluate_alerts``.
        capacity: Prediction buffer size (the most a crash can lose).
        fsync: When the prediction log's write-ahead file is synced.
        read_only: Open for reading beside a process that writes (CLI, dashboard).

    Returns:
        The monitor; ``close()`` it to write the buffer and release the folder.
    """
    log = ParquetPredictionLog(directory, capacity=capacity, fsync=fsync, read_only=read_only)
    try:
        labels = ParquetLabelStore(directory, read_only=read_only)
    except BaseException:
        log.close()
        raise
    return Monitor(
        log,
        labels,
        config=config,
        rules=rules,
        sinks=[AlertLog(directory), *sinks],
        observers=observers,
    )
