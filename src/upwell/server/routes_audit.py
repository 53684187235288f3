"""``/v1/audit``: logged predictions, traffic, live quality, drift and alerts (read-only).

Spans are of event time: ``start_ms < ts <= end_ms`` (epoch ms), by default the ``span``
(``7d``, or ``all``) ending at the newest prediction. Every route reads the log in a
worker thread, so scoring is not held up.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from upwell.audit import AuditError, Window
from upwell.server import audit_queries as queries
from upwell.server.audit_wiring import ServerAudit
from upwell.server.state import server_state

audit_router = APIRouter(prefix="/v1/audit")

_MAX_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z, the last instant a datetime holds
ModelQuery = Annotated[str | None, Query(min_length=1, max_length=200, description="A model.")]
VersionQuery = Annotated[int | None, Query(ge=1, le=10**9, description="One version.")]
StartQuery = Annotated[int | None, Query(ge=0, le=_MAX_MS, description="Exclusive, epoch ms.")]
EndQuery = Annotated[int | None, Query(ge=0, le=_MAX_MS, description="Inclusive, epoch ms.")]
SpanQuery = Annotated[
    str, Query(min_length=1, max_length=20, description="How far back from the end: 7d, all.")
]
WindowQuery = Annotated[str, Query(min_length=1, max_length=20, description="e.g. 1h, 1d.")]
StepQuery = Annotated[
    str | None,
    Query(
        min_length=1, max_length=20, description="Between window ends (sliding); default window."
    ),
]


class AuditOffError(AuditError):
    """The server records no predictions (404)."""

    not_found = True


def _audit(request: Request) -> ServerAudit:
    audit = server_state(request).audit
    if audit is None:
        msg = "this server records no predictions"
        raise AuditOffError(
            msg,
            where=request.url.path,
            fix="serve a store with a data directory, with [audit] enabled = true",
        )
    return audit


def _model(audit: ServerAudit, model: str | None) -> str:
    if model is not None:
        return model
    names = sorted({v["model"] for v in queries.versions(audit.monitor)})
    return names[0] if names else ""


def _windowed(
    audit: ServerAudit,
    model: str | None,
    version: int | None,
    start_ms: int | None,
    end_ms: int | None,
    span: str,
    window: str,
    step: str | None,
) -> tuple[str, list[int], Window, int, int | None]:
    """The model, its versions, the span and the window and step of a windowed query."""
    name = _model(audit, model)
    at = queries.resolve_span(audit.monitor, start_ms, end_ms, span, audit.auditor.watermark_ms)
    window_ms = queries.parse_duration(window, "window")
    step_ms = None if step is None else queries.parse_duration(step, "step")
    return name, queries.model_versions(audit.monitor, name, version), at, window_ms, step_ms


@audit_router.get("/summary", summary="The prediction log's counters and versions")
async def summary(request: Request) -> dict[str, Any]:
    """Log counters (accepted, dropped, buffered, written...), versions, firing alerts."""
    audit = _audit(request)
    stats = audit.monitor.stats()
    versions = await asyncio.to_thread(queries.versions, audit.monitor)
    return {
        "stats": {**dataclasses.asdict(stats), "invalid": audit.auditor.invalid},
        "versions": versions,
        "watermark_ms": audit.auditor.watermark_ms,
        "labels": None if audit.settings.labels is None else audit.settings.labels.source,
        "firing": len(audit.monitor.firing()),
    }


@audit_router.get("/predictions", summary="Logged predictions, newest first")
async def predictions(
    request: Request,
    model: ModelQuery = None,
    version: VersionQuery = None,
    start_ms: StartQuery = None,
    end_ms: EndQuery = None,
    span: SpanQuery = "7d",
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> dict[str, Any]:
    """The newest ``limit`` predictions of the span, with features and explanations."""
    audit = _audit(request)

    def answer() -> dict[str, Any]:
        window = queries.resolve_span(
            audit.monitor, start_ms, end_ms, span, audit.auditor.watermark_ms
        )
        rows = queries.recent(audit.monitor, model, version, window, limit)
        return {"start_ms": window.start_ms, "end_ms": window.end_ms, "predictions": rows}

    return await asyncio.to_thread(answer)


@audit_router.get("/traffic", summary="Predictions and latency over time")
async def traffic(
    request: Request,
    model: ModelQuery = None,
    version: VersionQuery = None,
    start_ms: StartQuery = None,
    end_ms: EndQuery = None,
    span: SpanQuery = "7d",
    bucket: WindowQuery = "1h",
) -> dict[str, Any]:
    """Per version and bucket of event time: prediction count, p50 and p99 latency."""
    audit = _audit(request)

    def answer() -> dict[str, Any]:
        window = queries.resolve_span(
            audit.monitor, start_ms, end_ms, span, audit.auditor.watermark_ms
        )
        bucket_ms = queries.parse_duration(bucket, "bucket")
        series = queries.traffic(audit.monitor, model, version, window, bucket_ms)
        return {"start_ms": window.start_ms, "end_ms": window.end_ms, "series": series}

    return await asyncio.to_thread(answer)


@audit_router.get("/quality", summary="Live quality per version and window")
async def quality(
    request: Request,
    model: ModelQuery = None,
    version: VersionQuery = None,
    start_ms: StartQuery = None,
    end_ms: EndQuery = None,
    span: SpanQuery = "7d",
    window: WindowQuery = "1d",
    step: StepQuery = None,
) -> dict[str, Any]:
    """AUC ROC, average precision, card precision@k, calibration, score distribution."""
    audit = _audit(request)

    def answer() -> dict[str, Any]:
        name, numbers, at, window_ms, step_ms = _windowed(
            audit, model, version, start_ms, end_ms, span, window, step
        )
        found = queries.quality(audit.monitor, name, numbers, at, window_ms, step_ms)
        return {"model": name, "start_ms": at.start_ms, "end_ms": at.end_ms, **found}

    return await asyncio.to_thread(answer)


@audit_router.get("/drift", summary="Drift per feature, version and window")
async def drift(
    request: Request,
    model: ModelQuery = None,
    version: VersionQuery = None,
    start_ms: StartQuery = None,
    end_ms: EndQuery = None,
    span: SpanQuery = "7d",
    window: WindowQuery = "1d",
    step: StepQuery = None,
) -> dict[str, Any]:
    """PSI, KS, JS, missing and out-of-range rates, freshness, against training."""
    audit = _audit(request)

    def answer() -> dict[str, Any]:
        name, numbers, at, window_ms, step_ms = _windowed(
            audit, model, version, start_ms, end_ms, span, window, step
        )
        audit.auditor.sync_references()  # versions registered since the last look
        found = queries.drift(audit.monitor, name, numbers, at, window_ms, step_ms)
        return {"model": name, "start_ms": at.start_ms, "end_ms": at.end_ms, **found}

    return await asyncio.to_thread(answer)


@audit_router.get("/alerts", summary="Alert events and the alerts firing now")
async def alerts(request: Request) -> dict[str, Any]:
    """Every fired and cleared alert, newest first, and those firing now."""
    audit = _audit(request)
    return await asyncio.to_thread(queries.alerts, audit.alert_log, audit.monitor.firing())
