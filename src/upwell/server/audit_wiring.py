"""The audit of a server: its monitor built from settings, its metrics, its upkeep task.

:func:`build_audit` opens the monitor (Parquet under the audit folder, or PostgreSQL),
turns the store's audit on (every prediction recorded, label events stored as labels),
and registers the prediction log's counters and the alert state with the server's
Prometheus registry. :func:`run_upkeep` is the lifespan task that stores waiting labels
every second and evaluates the alert rules every ``evaluate_interval_s``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from upwell.audit import (
    AlertLog,
    AlertSink,
    Monitor,
    PrometheusAlertSink,
    WebhookSink,
    open_monitor,
    register_log_metrics,
)
from upwell.config import ConfigError
from upwell.runtime import FeatureStore
from upwell.server.audit_settings import AuditSettings
from upwell.serving.audit_sink import ScoringAudit

log = logging.getLogger("upwell.server")

__all__ = ["ServerAudit", "build_audit", "newest_prediction_ms", "run_upkeep"]


@dataclass
class ServerAudit:
    """A server's audit.

    Args:
        auditor: Records predictions and labels (also ``store.audit``).
        settings: The settings it was built from.
        alert_log: The alert log, when the audit has a folder.
    """

    auditor: ScoringAudit
    settings: AuditSettings
    alert_log: AlertLog | None

    @property
    def monitor(self) -> Monitor:
        """The monitor: prediction log, labels, quality, drift, alerts."""
        return self.auditor.monitor


def build_audit(
    store: FeatureStore, settings: AuditSettings, registry: CollectorRegistry
) -> ServerAudit | None:
    """Turn a store's audit on as the settings say.

    Args:
        store: The feature store (the audit folder defaults to ``<store path>/audit``).
        settings: The audit settings.
        registry: The server's Prometheus registry.

    Returns:
        The audit, or None when it is off (disabled, or an in-memory store without a
        configured folder or database).
    """
    directory = settings.directory
    if directory is None and store.path is not None:
        directory = store.path / "audit"
    if not settings.enabled or (directory is None and settings.postgres is None):
        return None
    if store.audit is not None:  # a second app over the same store shares its audit
        auditor = store.audit
    else:
        prometheus = PrometheusAlertSink(registry)
        sinks: list[AlertSink] = [prometheus]
        if settings.webhook_url is not None:
            sinks.append(WebhookSink(settings.webhook_url))
        _check_labels(store, settings)
        monitor = _monitor(settings, directory, sinks, prometheus)
        try:
            auditor = store.enable_audit(monitor, labels=settings.labels)
        except BaseException:
            monitor.close()
            raise
    register_log_metrics(registry, auditor.monitor.stats)
    registry.register(_AuditCollector(auditor))
    auditor.watermark_ms = newest_prediction_ms(auditor.monitor)
    auditor.sync_references()
    return ServerAudit(
        auditor=auditor,
        settings=settings,
        alert_log=None if directory is None else AlertLog(directory),
    )


def _check_labels(store: FeatureStore, settings: AuditSettings) -> None:
    feed = settings.labels
    if feed is not None and feed.source not in store.registry.sources:
        msg = f"label_source {feed.source!r} is not an event source of the definitions"
        raise ConfigError(
            msg, where="[audit] label_source", fix=f"use one of {sorted(store.registry.sources)}"
        )


def _monitor(
    settings: AuditSettings,
    directory: Path | None,
    sinks: list[AlertSink],
    prometheus: PrometheusAlertSink,
) -> Monitor:
    if settings.postgres is None:
        assert directory is not None  # noqa: S101 (build_audit checked)
        return open_monitor(
            directory,
            config=settings.monitor,
            rules=settings.rules,
            sinks=sinks,
            observers=[prometheus],
            capacity=settings.capacity,
            fsync=settings.fsync,
        )
    from upwell.audit.postgres_labels import PostgresLabelStore  # noqa: PLC0415 (extra)
    from upwell.audit.postgres_log import PostgresPredictionLog  # noqa: PLC0415 (extra)

    prediction_log = PostgresPredictionLog(settings.postgres, capacity=settings.capacity)
    try:
        labels = PostgresLabelStore(settings.postgres)
    except BaseException:
        prediction_log.close()
        raise
    alert_sinks: list[AlertSink] = [] if directory is None else [AlertLog(directory)]
    return Monitor(
        prediction_log,
        labels,
        config=settings.monitor,
        rules=settings.rules,
        sinks=[*alert_sinks, *sinks],
        observers=[prometheus],
    )


def newest_prediction_ms(monitor: Monitor) -> int | None:
    """The event time of the newest logged prediction (epoch ms), None for an empty log."""
    newest = monitor.log.query("SELECT max(ts) AS ts FROM predictions").column("ts")[0]
    value = newest.as_py()
    return None if value is None else int(value.timestamp() * 1000)


async def run_upkeep(audit: ServerAudit) -> None:
    """Store waiting labels every second; evaluate the alert rules every interval.

    Runs until cancelled; the work runs in a thread, so requests are not held up.

    Args:
        audit: The server's audit.
    """
    interval = audit.settings.evaluate_interval_s
    tick = min(1.0, interval)
    last = time.monotonic()
    while True:
        await asyncio.sleep(tick)
        try:
            if time.monotonic() - last >= interval:
                last = time.monotonic()
                await asyncio.to_thread(audit.auditor.evaluate)
            else:
                await asyncio.to_thread(audit.auditor.flush_labels)
        except Exception:  # a broken store or sink must not stop the audit or the server
            log.exception("audit upkeep failed; retrying at the next tick")


class _AuditCollector(Collector):
    """Records the log recovered on open, and predictions the audit could not record."""

    def __init__(self, auditor: ScoringAudit) -> None:
        self._auditor = auditor

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "upwell_prediction_log_recovered",
            "Predictions found in the write-ahead file on open and kept.",
            value=self._auditor.monitor.stats().recovered,
        )
        yield CounterMetricFamily(
            "upwell_prediction_log_invalid",
            "Predictions that could not be recorded (e.g. a non-finite score).",
            value=self._auditor.invalid,
        )
