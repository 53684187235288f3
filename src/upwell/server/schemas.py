"""Request bodies of the HTTP API, validated by pydantic (errors name the field)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

MAX_ROWS = 10_000
Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Scalar = str | int | float | bool | None
EntityRow = Annotated[dict[Name, Scalar], Field(max_length=1000)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FeaturesRequest(_Body):
    """Read features for entity rows."""

    features: Name | Annotated[list[Name], Field(min_length=1, max_length=1000)] = Field(
        description="A feature service's name, or a list of qualified feature names."
    )
    entities: Annotated[list[EntityRow], Field(min_length=1, max_length=MAX_ROWS)] = Field(
        description="Rows of entity keys and request fields."
    )
    as_of: datetime | None = Field(
        default=None, description="Read as of this UTC time (ISO-8601 with Z); default now."
    )


class ScoreRequest(_Body):
    """Score entity rows with a model."""

    model: Name = Field(description="The model's name.")
    entities: Annotated[list[EntityRow], Field(min_length=1, max_length=MAX_ROWS)]
    request_ids: Annotated[list[Name], Field(max_length=MAX_ROWS)] | None = Field(
        default=None, description="One id per row (for the audit trail); generated if absent."
    )
    as_of: datetime | None = None
    explain: bool = Field(default=False, description="Also return feature contributions.")


class EventsRequest(_Body):
    """Ingest events into a source: one (``event``) or a batch (``events``)."""

    source: Name
    event: dict[Name, Any] | None = None
    events: Annotated[list[dict[Name, Any]], Field(min_length=1, max_length=MAX_ROWS)] | None = None


class RegisterModelRequest(_Body):
    """Register a model file the server can read as a new version."""

    path: Annotated[str, StringConstraints(min_length=1, max_length=4096)] = Field(
        description="The model file, as a path on the server."
    )
    features: Name = Field(description="The feature service the model consumes.")
    metrics: dict[Name, float] = Field(default_factory=dict)
    description: Annotated[str, StringConstraints(max_length=10_000)] = ""
    aliases: Annotated[list[Name], Field(max_length=20)] = Field(default_factory=list)
    trust_types: Annotated[list[Name], Field(max_length=100)] = Field(default_factory=list)
    allow_pickle: bool = Field(
        default=False, description="Accept a pickle file; pickles run code when loaded."
    )


class PromoteRequest(_Body):
    """Point an alias at a version."""

    version: int | Name = Field(description="A version number or an alias.")
    alias: Name = "champion"


class RollbackRequest(_Body):
    """Point an alias back at its previous version."""

    alias: Name = "champion"


class RolloutRequest(_Body):
    """How the ``challenger`` alias takes part in scoring."""

    mode: Literal["off", "shadow", "canary"]
    share: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0


def error_body(kind: str, what: str, where: str = "", fix: str = "") -> dict[str, Any]:
    """The JSON body of every error response.

    >>> error_body("ModelError", "no model", "model x", "register it")["error"]["fix"]
    'register it'
    """
    return {"error": {"type": kind, "what": what, "where": where, "fix": fix}}
