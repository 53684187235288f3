"""Prometheus metrics of one server: requests, scores, ingest, dead letters, freshness."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from upwell.serving.scoring import Prediction

_LATENCY_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.0015, 0.002, 0.003, 0.005,
    0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
)  # fmt: skip


class ServerMetrics:
    """The server's metrics, in a registry of their own.

    Args:
        watermarks: Reports each source's newest event time (epoch ms, or None).
        now_ms: The clock freshness is measured against.
    """

    def __init__(
        self,
        watermarks: Callable[[], dict[str, int | None]],
        now_ms: Callable[[], int],
    ) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "upwell_http_requests", "HTTP requests.", ["route", "method", "status"], registry=r
        )
        self.request_seconds = Histogram(
            "upwell_http_request_duration_seconds",
            "HTTP request latency.",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.score_seconds = Histogram(
            "upwell_score_duration_seconds",
            "Features plus model latency per scored batch.",
            ["model", "version"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.predictions = Counter(
            "upwell_predictions", "Scored rows.", ["model", "version", "route"], registry=r
        )
        self.shadow_predictions = Counter(
            "upwell_shadow_predictions", "Rows a challenger scored in shadow.",
            ["model", "version"], registry=r,
        )  # fmt: skip
        self.events = Counter(
            "upwell_events", "Ingested events by outcome.", ["source", "outcome"], registry=r
        )
        self.rejected_batches = Counter(
            "upwell_event_batches_rejected", "Event batches refused as invalid.", ["source"],
            registry=r,
        )  # fmt: skip
        self.dead_letters = Counter(
            "upwell_dead_letters", "Events sent to the dead-letter sink.", ["source"], registry=r
        )
        self.model_version = Gauge(
            "upwell_model_version", "The version each alias serves.", ["model", "alias"],
            registry=r,
        )  # fmt: skip
        self.model_errors = Gauge(
            "upwell_model_load_errors", "Models whose latest routing failed to load.", registry=r
        )
        r.register(_Freshness(watermarks, now_ms))

    def record_predictions(self, predictions: Sequence[Prediction]) -> None:
        """Count a batch of predictions and time it (a scorer sink)."""
        if not predictions:
            return
        first = predictions[0]
        self.score_seconds.labels(first.model, str(first.version)).observe(
            first.timings_us["total"] / 1e6
        )
        for p in predictions:
            self.predictions.labels(p.model, str(p.version), p.route.value).inc()
            if p.shadow is not None:
                self.shadow_predictions.labels(p.model, str(p.shadow.version)).inc()


class _Freshness(Collector):
    """``upwell_feature_freshness_seconds``: now minus each source's newest event time."""

    def __init__(
        self, watermarks: Callable[[], dict[str, int | None]], now_ms: Callable[[], int]
    ) -> None:
        self._watermarks = watermarks
        self._now_ms = now_ms

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "upwell_feature_freshness_seconds",
            "Seconds since the newest event time each source has ingested.",
            labels=["source"],
        )
        now = self._now_ms()
        for source, watermark in sorted(self._watermarks().items()):
            if watermark is not None:
                family.add_metric([source], (now - watermark) / 1000.0)
        yield family
