"""Where alert events go: the alert log (JSON lines, queryable) and Prometheus metrics.

The webhook sink lives in :mod:`upwell.audit.webhook`. Every sink has ``emit(events)``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Protocol

import orjson
import pandas as pd
import pyarrow as pa
from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from upwell.audit.alerts import AlertEvent, AlertKind
from upwell.audit.log_protocol import LogStats
from upwell.audit.sql_views import TableSource, run_sql
from upwell.audit.stats import WindowStat
from upwell.audit.tables import dumps

__all__ = ["ALERT_SCHEMA", "AlertLog", "AlertSink", "PrometheusAlertSink", "register_log_metrics"]

ALERT_SCHEMA = pa.schema(
    [
        ("rule", pa.string()),
        ("kind", pa.string()),
        ("metric", pa.string()),
        ("model", pa.string()),
        ("version", pa.int64()),
        ("column", pa.string()),
        ("value", pa.float64()),
        ("threshold", pa.float64()),
        ("ts", pa.timestamp("ms", tz="UTC")),
    ]
)
"""Columns of the alert log (``ts`` is the end of the window that fired or cleared)."""


class AlertSink(Protocol):
    """Receives alert events."""

    def emit(self, events: Sequence[AlertEvent]) -> None:
        """Deliver events (without blocking the caller on a network)."""
        ...


class AlertLog:
    """Every alert event as one JSON line in ``<directory>/alerts/alerts.jsonl``.

    Args:
        directory: The audit folder.
        fsync: Sync the file after each ``emit`` (alerts are rare; default True).
    """

    def __init__(self, directory: Path | str, *, fsync: bool = True) -> None:
        self.path = Path(directory) / "alerts" / "alerts.jsonl"
        self._fsync = fsync
        self._lock = threading.Lock()

    def emit(self, events: Sequence[AlertEvent]) -> None:
        """Append events to the file.

        Args:
            events: The events.
        """
        if not events:
            return
        data = b"".join(dumps(e.as_dict()) + b"\n" for e in events)
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "ab") as handle:
                handle.write(data)
                handle.flush()
                if self._fsync:
                    os.fsync(handle.fileno())

    def _rows(self) -> Iterator[dict[str, object]]:
        if not self.path.exists():
            return
        for line in self.path.read_bytes().splitlines():
            try:
                row = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue  # a line torn by a crash
            row["ts"] = row.pop("ts_ms")
            yield row

    def _table(self) -> pa.Table:
        rows = list(self._rows())
        stamps = pa.array([r.pop("ts") for r in rows], pa.int64()).cast(
            ALERT_SCHEMA.field("ts").type
        )
        table = pa.Table.from_pylist(rows, schema=ALERT_SCHEMA.remove(8))
        return table.append_column(ALERT_SCHEMA.field("ts"), stamps)

    def read(self) -> pd.DataFrame:
        """Every logged event, oldest first, with ``ts`` as a UTC datetime."""
        frame: pd.DataFrame = self._table().to_pandas()
        return frame

    def query(self, sql: str) -> pa.Table:
        """Run DuckDB SQL in which ``alerts`` holds every logged event.

        Args:
            sql: The query.

        Returns:
            The result.

        Raises:
            AuditQueryError: If the query fails.
        """
        source = TableSource(ALERT_SCHEMA, (), self._table())
        return run_sql({"alerts": source}, sql, where="AlertLog.query")


class PrometheusAlertSink:
    """Alert state and window statistics as Prometheus metrics.

    Registers, in ``registry``: ``<ns>_audit_alert_firing`` (gauge, 1 while an alert
    fires; labels rule, model, version, column), ``<ns>_audit_alerts_total`` (counter;
    labels rule, kind) and ``<ns>_audit_stat`` (gauge of the latest window statistics;
    labels metric, model, version, column). A column-less label is ``""``.

    Args:
        registry: Where to register the metrics.
        namespace: Prefix of the metric names.
    """

    def __init__(self, registry: CollectorRegistry, namespace: str = "upwell") -> None:
        self._firing = Gauge(
            "audit_alert_firing",
            "1 while the alert fires, 0 once cleared.",
            ["rule", "model", "version", "column"],
            namespace=namespace,
            registry=registry,
        )
        self._events = Counter(
            "audit_alerts",
            "Alert events, by rule and kind (fired, cleared).",
            ["rule", "kind"],
            namespace=namespace,
            registry=registry,
        )
        self._stats = Gauge(
            "audit_stat",
            "Latest window statistic of a model version (drift, quality, traffic).",
            ["metric", "model", "version", "column"],
            namespace=namespace,
            registry=registry,
        )

    def emit(self, events: Sequence[AlertEvent]) -> None:
        """Update the alert gauges and counters.

        Args:
            events: The events.
        """
        for e in events:
            labels = (e.rule, e.model, str(e.version), e.column or "")
            self._firing.labels(*labels).set(1.0 if e.kind is AlertKind.FIRED else 0.0)
            self._events.labels(e.rule, str(e.kind)).inc()

    def observe(self, stats: Sequence[WindowStat]) -> None:
        """Publish window statistics (those without a value are skipped).

        Args:
            stats: The statistics.
        """
        for s in stats:
            if s.value is not None:
                labels = (str(s.metric), s.model, str(s.version), s.column or "")
                self._stats.labels(*labels).set(s.value)


class _LogCollector(Collector):
    def __init__(self, stats: Callable[[], LogStats], namespace: str) -> None:
        self._read = stats
        self._prefix = f"{namespace}_prediction_log"

    def collect(self) -> Iterator[Metric]:
        s = self._read()
        for name, value, text in (
            ("accepted", s.accepted, "Predictions taken into the buffer."),
            ("dropped", s.dropped, "Predictions refused because the buffer was full."),
            ("written", s.written, "Predictions durably stored."),
            ("failed", s.failed, "Accepted predictions the backend refused."),
        ):
            yield CounterMetricFamily(f"{self._prefix}_{name}", text, value=value)
        yield GaugeMetricFamily(
            f"{self._prefix}_buffered", "Predictions buffered, not yet durable.", value=s.buffered
        )
        yield GaugeMetricFamily(
            f"{self._prefix}_capacity", "Buffer size: most a crash can lose.", value=s.capacity
        )


def register_log_metrics(
    registry: CollectorRegistry, stats: Callable[[], LogStats], namespace: str = "upwell"
) -> Collector:
    """Expose a prediction log's counters, read at each scrape.

    Registers ``<ns>_prediction_log_{accepted,dropped,written,failed}_total`` (counters)
    and ``<ns>_prediction_log_{buffered,capacity}`` (gauges).

    Args:
        registry: Where to register.
        stats: The log's ``stats`` method.
        namespace: Prefix of the metric names.

    Returns:
        The registered collector (``registry.unregister`` it to stop).
    """
    collector = _LogCollector(stats, namespace)
    registry.register(collector)
    return collector
