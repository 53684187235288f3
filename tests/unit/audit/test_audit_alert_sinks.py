"""Alert sinks: the alert log, Prometheus metrics, and a webhook on a real local server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from upwell.audit import (
    AlertEvent,
    AlertKind,
    AlertLog,
    AuditError,
    LogStats,
    Metric,
    PrometheusAlertSink,
    WebhookSink,
    WindowStat,
    register_log_metrics,
)


def event(kind: AlertKind, t: int, column: str | None = "amount") -> AlertEvent:
    return AlertEvent(
        rule="psi-high",
        kind=kind,
        metric=Metric.PSI,
        model="fraud",
        version=2,
        column=column,
        value=0.4 if kind is AlertKind.FIRED else 0.05,
        threshold=0.2 if kind is AlertKind.FIRED else 0.1,
        ts_ms=t,
    )


EVENTS = [
    event(AlertKind.FIRED, 1_000),
    event(AlertKind.CLEARED, 2_000),
    event(AlertKind.FIRED, 3_000, None),
]


def test_alert_log_appends_reads_and_queries(tmp_path: Path) -> None:
    log = AlertLog(tmp_path)
    log.emit(EVENTS[:2])
    log.emit([])
    log.emit(EVENTS[2:])
    with open(log.path, "ab") as handle:
        handle.write(b'{"rule": "torn')  # a line cut short by a crash is skipped
    frame = log.read()
    assert frame["kind"].tolist() == ["fired", "cleared", "fired"]
    assert frame["ts"].dt.as_unit("ms").astype("int64").tolist() == [1_000, 2_000, 3_000]
    assert frame["column"].tolist()[:2] == ["amount", "amount"]
    table = log.query("SELECT kind, count(*) AS n FROM alerts GROUP BY kind ORDER BY kind")
    assert table.to_pylist() == [{"kind": "cleared", "n": 1}, {"kind": "fired", "n": 2}]


def test_prometheus_sink(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    sink = PrometheusAlertSink(registry)
    sink.emit(EVENTS[:1])
    labels = {"rule": "psi-high", "model": "fraud", "version": "2", "column": "amount"}
    assert registry.get_sample_value("upwell_audit_alert_firing", labels) == 1.0
    sink.emit(EVENTS[1:])
    assert registry.get_sample_value("upwell_audit_alert_firing", labels) == 0.0
    fired = {"rule": "psi-high", "kind": "fired"}
    assert registry.get_sample_value("upwell_audit_alerts_total", fired) == 2.0
    stat = WindowStat(
        model="fraud", version=2, metric=Metric.PSI, column="amount", value=0.3, n=9, end_ms=1
    )
    sink.observe([stat, WindowStat(**{**stat.__dict__, "value": None, "column": "x"})])
    sample = {"metric": "psi", "model": "fraud", "version": "2", "column": "amount"}
    assert registry.get_sample_value("upwell_audit_stat", sample) == 0.3
    assert registry.get_sample_value("upwell_audit_stat", {**sample, "column": "x"}) is None


def test_log_metrics_are_read_at_scrape_time() -> None:
    registry = CollectorRegistry()
    current = {"stats": LogStats.empty()}
    register_log_metrics(registry, lambda: current["stats"])
    assert registry.get_sample_value("upwell_prediction_log_dropped_total") == 0.0
    current["stats"] = LogStats(
        accepted=10,
        dropped=3,
        buffered=2,
        written=7,
        failed=1,
        recovered=0,
        capacity=64,
        flush_interval_s=0.1,
    )
    assert registry.get_sample_value("upwell_prediction_log_dropped_total") == 3.0
    assert registry.get_sample_value("upwell_prediction_log_written_total") == 7.0
    assert registry.get_sample_value("upwell_prediction_log_buffered") == 2.0
    assert registry.get_sample_value("upwell_prediction_log_capacity") == 64.0


class Endpoint:
    """A local HTTP server that records JSON bodies and answers with scripted statuses."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, object]] = []
        self.statuses: list[int] = []
        self.release = threading.Event()
        self.release.set()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                body = json.loads(self.rfile.read(length))
                endpoint.release.wait(10)
                status = endpoint.statuses.pop(0) if endpoint.statuses else 200
                if status == 200:
                    endpoint.bodies.append(body)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    server = Endpoint()
    yield server
    server.close()


def delivered(endpoint: Endpoint) -> list[tuple[str, int]]:
    return [(a["kind"], a["ts_ms"]) for b in endpoint.bodies for a in b["alerts"]]  # type: ignore[index, union-attr]


def test_webhook_delivers_json_without_blocking_the_caller(endpoint: Endpoint) -> None:
    endpoint.release.clear()  # the server holds every request until released
    sink = WebhookSink(endpoint.url, backoff_s=0.01)
    try:
        sink.emit(EVENTS)  # returns although the server has not answered
        assert endpoint.bodies == []
        endpoint.release.set()
        assert sink.flush(10)
        assert delivered(endpoint) == [("fired", 1_000), ("cleared", 2_000), ("fired", 3_000)]
        assert endpoint.bodies[0]["alerts"][0]["rule"] == "psi-high"  # type: ignore[index]
        counts = sink.stats()
        assert (counts.written, counts.failed, counts.dropped) == (3, 0, 0)
    finally:
        sink.close()


def test_webhook_retries_server_errors(endpoint: Endpoint) -> None:
    endpoint.statuses = [500, 503]
    sink = WebhookSink(endpoint.url, retries=3, backoff_s=0.01)
    try:
        sink.emit(EVENTS[:1])
        assert sink.flush(10)
        assert delivered(endpoint) == [("fired", 1_000)]
        assert sink.stats().failed == 0
    finally:
        sink.close()


def test_webhook_counts_what_it_cannot_deliver(endpoint: Endpoint) -> None:
    endpoint.statuses = [401]
    sink = WebhookSink(endpoint.url, retries=3, backoff_s=0.01)
    try:
        sink.emit(EVENTS[:2])
        assert sink.flush(10)
        counts = sink.stats()
        assert (counts.written, counts.failed) == (0, 2)
        assert counts.last_error is not None
        assert "401" in counts.last_error
        assert endpoint.bodies == []  # a 4xx is not retried
    finally:
        sink.close()
    endpoint.close()
    unreachable = WebhookSink(endpoint.url, retries=1, backoff_s=0.01, timeout_s=1.0)
    try:
        unreachable.emit(EVENTS[:1])
        assert unreachable.flush(10)
        assert unreachable.stats().failed == 1
    finally:
        unreachable.close()


def test_webhook_needs_an_http_url() -> None:
    with pytest.raises(AuditError, match="http"):
        WebhookSink("file:///etc/passwd")
