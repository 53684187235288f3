"""``/v1/models``: list, register, promote, roll back, shadow and canary."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request

from upwell.models.metadata import ModelVersion
from upwell.server.schemas import (
    PromoteRequest,
    RegisterModelRequest,
    RollbackRequest,
    RolloutRequest,
)
from upwell.server.state import server_state

models_router = APIRouter(prefix="/v1/models")


@models_router.get("", summary="List models with their aliases and rollout")
async def list_models(request: Request) -> dict[str, Any]:
    """Every model's name, aliases and rollout."""
    registry = server_state(request).store.models.registry
    return {"models": [{"name": n, **registry.routing(n).to_json()} for n in registry.names()]}


@models_router.get("/{name}", summary="One model's versions and routing")
async def get_model(name: str, request: Request) -> dict[str, Any]:
    """A model's versions (with metadata) and its routing."""
    registry = server_state(request).store.models.registry
    routing = registry.routing(name)
    return {
        "name": name,
        **routing.to_json(),
        "versions": [v.to_json() for v in registry.versions(name)],
    }


@models_router.post("/{name}/versions", status_code=201, summary="Register a new version")
async def register(name: str, body: RegisterModelRequest, request: Request) -> dict[str, Any]:
    """Check and register a model file; a refused model changes nothing."""
    models = server_state(request).store.models
    version = await asyncio.to_thread(
        models.register,
        name,
        body.path,
        features=body.features,
        metrics=body.metrics,
        description=body.description,
        aliases=body.aliases,
        trust_types=body.trust_types,
        allow_pickle=body.allow_pickle,
    )
    return _version(version)


@models_router.post("/{name}/promote", summary="Point an alias at a version")
async def promote(name: str, body: PromoteRequest, request: Request) -> dict[str, Any]:
    """Serve a version under an alias (default champion) from the next request on."""
    models = server_state(request).store.models
    promoted = await asyncio.to_thread(models.promote, name, body.version, alias=body.alias)
    return _version(promoted)


@models_router.post("/{name}/rollback", summary="Point an alias back at its previous version")
async def rollback(name: str, body: RollbackRequest, request: Request) -> dict[str, Any]:
    """Undo the alias's last move."""
    models = server_state(request).store.models
    return _version(await asyncio.to_thread(models.rollback, name, alias=body.alias))


@models_router.post("/{name}/rollout", summary="Shadow or canary the challenger")
async def rollout(name: str, body: RolloutRequest, request: Request) -> dict[str, Any]:
    """Set how the ``challenger`` alias takes part in scoring."""
    models = server_state(request).store.models
    routing = await asyncio.to_thread(models.set_rollout, name, body.mode, share=body.share)
    return routing.to_json()


def _version(version: ModelVersion) -> dict[str, Any]:
    return version.to_json()
