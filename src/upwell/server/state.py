"""What the routes share: the store, the settings, the metrics, readiness."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from upwell.runtime import FeatureStore
from upwell.server.audit_wiring import ServerAudit
from upwell.server.metrics import ServerMetrics
from upwell.server.settings import ServerSettings


@dataclass
class ServerState:
    """The server's shared state.

    Args:
        store: The feature store.
        settings: The settings.
        metrics: The metrics.
        ready: Whether the server takes traffic (false while starting and draining).
        audit: The prediction log, labels, quality, drift and alerts; None when off.
    """

    store: FeatureStore
    settings: ServerSettings
    metrics: ServerMetrics
    ready: bool = False
    audit: ServerAudit | None = None


def server_state(request: Request) -> ServerState:
    """The state of the app serving a request."""
    state: ServerState = request.app.state.upwell
    return state
