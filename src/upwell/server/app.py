"""The ASGI application: FastAPI routes over a feature store and its models.

Every route is an ``async def`` that calls the in-process store directly: a feature
read or a score takes tens to hundreds of microseconds, less than a hop to a thread
pool would cost, and the store serialises its own state.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from upwell.errors import UpwellError
from upwell.runtime import FeatureStore
from upwell.server.audit_settings import AuditSettings
from upwell.server.audit_wiring import build_audit, run_upkeep
from upwell.server.auth_middleware import AuthMiddleware
from upwell.server.dashboard import mount_dashboard
from upwell.server.json_response import JSONBytes
from upwell.server.metrics import ServerMetrics
from upwell.server.routes_audit import audit_router
from upwell.server.routes_data import data_router
from upwell.server.routes_decisions import decisions_router
from upwell.server.routes_health import health_router
from upwell.server.routes_models import models_router
from upwell.server.schemas import error_body
from upwell.server.settings import ServerSettings
from upwell.server.state import ServerState

log = logging.getLogger("upwell.server")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def create_app(
    store: FeatureStore, settings: ServerSettings | None = None, audit: AuditSettings | None = None
) -> FastAPI:
    """Build the HTTP app for a feature store.

    Args:
        store: The feature store (its models live in ``store.models``).
        settings: Server settings; defaults when None.
        audit: Audit settings; None: defaults (every prediction recorded under
            ``<store path>/audit``; off for an in-memory store).

    Returns:
        The ASGI app. Its lifespan polls the model registry for changes made by other
        processes and, on shutdown, closes the store.
    """
    settings = settings or ServerSettings()
    metrics = ServerMetrics(store.watermarks, store.clock.now_ms)
    state = ServerState(store=store, settings=settings, metrics=metrics)
    store.models.add_sink(metrics.record_predictions)
    state.audit = build_audit(store, audit or AuditSettings(), metrics.registry)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Load every served model before taking traffic: a first request never waits.
        await asyncio.to_thread(store.models.live.load_all)
        poller = asyncio.create_task(_poll_registry(state))
        upkeep = asyncio.create_task(run_upkeep(state.audit)) if state.audit else None
        state.ready = True
        try:
            yield
        finally:
            state.ready = False
            for task in (poller, upkeep):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            await asyncio.to_thread(store.close)
            log.info("upwell: requests drained; store checkpointed and closed")

    app = FastAPI(
        title="upwell",
        summary="Real-time features, scores and model lifecycle.",
        version="1",
        lifespan=lifespan,
        default_response_class=JSONBytes,
    )
    app.state.upwell = state
    app.include_router(data_router)
    app.include_router(decisions_router)
    app.include_router(models_router)
    app.include_router(health_router)
    app.include_router(audit_router)
    mount_dashboard(app)
    _add_error_handlers(app)
    app.add_middleware(AuthMiddleware, keys=settings.api_keys)
    app.add_middleware(_MetricsMiddleware, metrics=metrics)
    return app


async def _poll_registry(state: ServerState) -> None:
    """Pick up promotions and rollbacks made through the CLI or another replica."""
    live = state.store.models.live
    while True:
        await asyncio.sleep(state.settings.refresh_interval_s)
        try:
            await asyncio.to_thread(live.refresh)
        except UpwellError as error:  # the registry itself is unreadable; keep serving
            log.warning("model registry refresh failed: %s", error)
        state.metrics.model_errors.set(len(live.errors))


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(UpwellError)
    async def upwell_error(_request: Request, error: UpwellError) -> Response:
        status = 404 if getattr(error, "not_found", False) else 400
        body = error_body(type(error).__name__, error.what, error.where, error.fix)
        return JSONBytes(body, status_code=status)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        body = error_body(
            "HTTPError",
            str(error.detail),
            request.url.path,
            "see the OpenAPI document at /openapi.json for routes and request shapes",
        )
        return JSONBytes(body, status_code=error.status_code, headers=error.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_body(_request: Request, error: RequestValidationError) -> Response:
        problems = [
            {"field": ".".join(str(p) for p in e["loc"]), "problem": e["msg"]}
            for e in error.errors()
        ]
        first = problems[0] if problems else {"field": "", "problem": "invalid"}
        body = error_body(
            "ValidationError",
            f"{first['field']}: {first['problem']}",
            first["field"],
            "see the OpenAPI document at /openapi.json for the request's shape",
        )
        body["error"]["problems"] = problems
        return JSONBytes(body, status_code=422)


class _MetricsMiddleware:
    """Counts and times every request by its route template and status."""

    def __init__(
        self, app: Callable[[Scope, Receive, Send], Awaitable[None]], metrics: ServerMetrics
    ) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        async def send_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", "unmatched")
            self.metrics.requests.labels(path, scope["method"], str(status[0])).inc()
            self.metrics.request_seconds.labels(path).observe(time.perf_counter() - started)
