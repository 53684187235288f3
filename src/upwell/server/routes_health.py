"""``/healthz``, ``/readyz`` and ``/metrics``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import Response

from upwell.server.json_response import JSONBytes
from upwell.server.state import server_state

health_router = APIRouter()


@health_router.get("/healthz", summary="The process is alive")
async def healthz() -> dict[str, Any]:
    """Always ok while the process answers."""
    return {"status": "ok"}


@health_router.get("/readyz", summary="The server takes traffic")
async def readyz(request: Request) -> Response:
    """503 while starting or draining, or while a model's latest routing failed to load."""
    state = server_state(request)
    errors = dict(state.store.models.live.errors)
    ready = state.ready and not errors
    body = {"status": "ready" if ready else "not ready", "model_errors": errors}
    return JSONBytes(body, status_code=200 if ready else 503)


@health_router.get("/metrics", summary="Prometheus metrics")
async def metrics(request: Request) -> Response:
    """The metrics in Prometheus' text format."""
    state = server_state(request)
    live = state.store.models.live.served()
    for name, model in live.items():
        state.metrics.model_version.labels(name, "champion").set(model.champion.meta.version)
        if model.challenger is not None:
            state.metrics.model_version.labels(name, "challenger").set(
                model.challenger.meta.version
            )
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
