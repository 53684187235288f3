"""``/v1/decisions``, ``/v1/consent``, ``/v1/erase`` and ``/v1/lineage``.

Deciding, consent and erasure block on the decision state (a file journal, or Redis
round trips and compare-and-set retries), so these routes run in the server's thread
pool. Changing consent and erasing change what is stored about a person: besides the
route's usual scope they need ``events:write``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from upwell.decisions.consent import ConsentRecord
from upwell.server.auth import AuthFailure, Scope, authorize, presented_key
from upwell.server.schemas import EntityRow, Name, Scalar
from upwell.server.state import server_state
from upwell.serving.errors import RequestError
from upwell.serving.subjects import find_entity

decisions_router = APIRouter(prefix="/v1")


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DecisionRequest(_Body):
    """Decide for one entity by a policy."""

    policy: Name = Field(description="The policy's name (defined in the definitions file).")
    entity: EntityRow = Field(description="The entity's key columns and the request fields.")
    request_id: Name = Field(description="The idempotency key: a retry gets the same decision.")
    as_of: datetime | None = Field(default=None, description="The decision time; default now.")


class ConsentChangeRequest(_Body):
    """Grant or withdraw consent to one purpose."""

    purpose: Name = Field(description="The purpose, e.g. marketing.")
    status: Literal["granted", "withdrawn"]
    at: datetime | None = Field(default=None, description="When; default now. A later one wins.")
    source: Annotated[str, Field(max_length=200)] = ""


class EraseRequest(_Body):
    """Erase an entity's data everywhere the server keeps it."""

    entity: Name = Field(description="The entity's name, e.g. customer.")
    key: Scalar | list[Scalar] | dict[Name, Scalar] = Field(
        description="Its key: the value, the values in key order, or key column to value."
    )


def _may_write(request: Request) -> None:
    """Ask for ``events:write`` as well (consent and erasure change stored data)."""
    keys = server_state(request).settings.api_keys
    presented = presented_key(
        request.headers.get("authorization"), request.headers.get("x-api-key")
    )
    try:
        authorize(keys, presented, Scope.EVENTS_WRITE)
    except AuthFailure as failure:
        raise HTTPException(failure.status, f"{failure.what}; {failure.fix}") from None


@decisions_router.post("/decisions", summary="Decide for an entity by a policy")
def decide(body: DecisionRequest, request: Request) -> dict[str, Any]:
    """The decision: actions, triage, reasons, scores and model versions."""
    store = server_state(request).store
    decision = store.decide(body.policy, body.entity, body.request_id, as_of=body.as_of)
    return decision.to_dict()


@decisions_router.get("/consent/{entity}/{key}", summary="An entity's consent")
def get_consent(entity: str, key: str, request: Request) -> dict[str, Any]:
    """Per purpose: granted or withdrawn, when, and where it was collected."""
    store = server_state(request).store
    record = store.consent(entity, _path_key(store.registry, entity, key))
    return _consent_json(entity, record)


@decisions_router.put(
    "/consent/{entity}/{key}",
    summary="Grant or withdraw consent",
    dependencies=[Depends(_may_write)],
)
def put_consent(
    entity: str, key: str, body: ConsentChangeRequest, request: Request
) -> dict[str, Any]:
    """Record a change of consent; the next request obeys it."""
    store = server_state(request).store
    record = store.set_consent(
        entity,
        _path_key(store.registry, entity, key),
        body.purpose,
        granted=body.status == "granted",
        at=body.at,
        source=body.source,
    )
    return _consent_json(entity, record)


@decisions_router.post("/erase", summary="Erase an entity", dependencies=[Depends(_may_write)])
def erase(body: EraseRequest, request: Request) -> dict[str, Any]:
    """Remove the entity's data from every store; returns the erasure record."""
    record = server_state(request).store.erase(body.entity, body.key)
    return record.to_json()


@decisions_router.get("/lineage/features/{feature}", summary="Where a feature value comes from")
def feature_lineage(
    feature: str,
    request: Request,
    as_of: Annotated[datetime | None, Query(description="Read time; default now.")] = None,
) -> dict[str, Any]:
    """Definitions, source, window and the events behind a feature; keys as query parameters."""
    row = {k: v for k, v in request.query_params.items() if k != "as_of"}
    return server_state(request).store.lineage(feature, row, as_of=as_of)


@decisions_router.get(
    "/lineage/predictions/{request_id}", summary="Where a logged prediction comes from"
)
def prediction_lineage(
    request_id: str, request: Request, model: Annotated[str | None, Query()] = None
) -> dict[str, Any]:
    """The prediction, its model version and definitions, and its features' lineage."""
    return server_state(request).store.prediction_lineage(request_id, model=model)


def _path_key(registry: Any, entity: str, key: str) -> Any:
    """A key from a path segment: the value, or a JSON list for several key columns."""
    spec = find_entity(registry, entity)
    if len(spec.keys) == 1:
        return key
    try:
        values = orjson.loads(key)
    except orjson.JSONDecodeError:
        values = None
    if not isinstance(values, list):
        msg = f"{key!r} is not a JSON list of {len(spec.keys)} key values"
        raise RequestError(msg, where="path key", fix=f'write e.g. ["DE",7] for {spec.keys}')
    return values


def _consent_json(entity: str, record: ConsentRecord) -> dict[str, Any]:
    return {
        "entity": entity,
        "subject": record.entity_key,
        "purposes": {
            name: {"status": c.status.value, "at_ms": c.at_ms, "source": c.source}
            for name, c in record.changes.items()
        },
    }
