"""``/v1/features``, ``/v1/score`` and ``/v1/events``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from upwell.ingest.errors import EventError
from upwell.ingest.values import timestamp_ms
from upwell.server.schemas import EventsRequest, FeaturesRequest, ScoreRequest
from upwell.server.state import ServerState, server_state
from upwell.serving.errors import RequestError

data_router = APIRouter(prefix="/v1")


@data_router.post("/features", summary="Read feature values for entity rows")
async def read_features(body: FeaturesRequest, request: Request) -> dict[str, Any]:
    """Feature values for each entity row, as of now or ``as_of``."""
    state = server_state(request)
    _check_rows(state, len(body.entities), "entities")
    rows = state.store.get_features(body.features, body.entities, as_of=body.as_of)
    return {"features": rows}


@data_router.post("/score", summary="Features plus the served model's score")
async def score(body: ScoreRequest, request: Request) -> dict[str, Any]:
    """Score entity rows; each prediction names the version that scored it."""
    state = server_state(request)
    _check_rows(state, len(body.entities), "entities")
    if body.request_ids is not None and len(body.request_ids) != len(body.entities):
        msg = f"{len(body.request_ids)} request_ids for {len(body.entities)} entities"
        raise RequestError(msg, where="request_ids", fix="give one id per entity row, or none")
    at = None if body.as_of is None else timestamp_ms(body.as_of, "as_of")
    predictions = state.store.models.scorer.score(
        body.model, body.entities, as_of_ms=at, request_ids=body.request_ids, explain=body.explain
    )
    return {"predictions": [p.to_json() for p in predictions]}


@data_router.post("/events", summary="Ingest one event or a batch")
async def ingest(body: EventsRequest, request: Request) -> dict[str, Any]:
    """Validate, log and fold events in; a batch with one bad event stores nothing."""
    state = server_state(request)
    if (body.event is None) == (body.events is None):
        msg = "give exactly one of 'event' and 'events'"
        raise EventError(msg, where="body", fix='send {"source": ..., "events": [...]}')
    events = [body.event] if body.event is not None else body.events or []
    _check_rows(state, len(events), "events")
    try:
        result = state.store.push(body.source, events)
    except EventError:
        state.metrics.rejected_batches.labels(body.source).inc()
        raise
    counts = {"accepted": result.accepted, "duplicate": result.duplicates, "late": result.late}
    for outcome, count in counts.items():
        if count:
            state.metrics.events.labels(body.source, outcome).inc(count)
    if result.late:
        state.metrics.dead_letters.labels(body.source).inc(result.late)
    return counts


def _check_rows(state: ServerState, count: int, field: str) -> None:
    if count > state.settings.max_rows:
        msg = f"{count} rows exceed the server's limit of {state.settings.max_rows}"
        raise RequestError(msg, where=field, fix="split the request into smaller batches")
