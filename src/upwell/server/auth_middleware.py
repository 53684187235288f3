"""Authentication before anything else: a request without the right key touches nothing.

The check runs as ASGI middleware, ahead of body parsing and validation, so a request
with a missing or wrong key is answered 401 or 403 whatever its body holds.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from upwell.server.auth import ApiKey, AuthFailure, Scope, authorize, presented_key
from upwell.server.json_response import JSONBytes
from upwell.server.schemas import error_body

AsgiScope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[AsgiScope, Receive, Send], Awaitable[None]]

_OPEN = ("/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/redoc")


def required_scope(method: str, path: str) -> Scope | None:
    """The scope a request needs, or None for open routes.

    >>> required_scope("POST", "/v1/events")
    <Scope.EVENTS_WRITE: 'events:write'>
    >>> required_scope("POST", "/v1/models/fraud/promote")
    <Scope.MODELS_MANAGE: 'models:manage'>
    >>> required_scope("GET", "/healthz") is None
    True
    """
    if path in _OPEN or path == "/ui" or path.startswith(("/docs/", "/ui/")):
        return None
    if path.startswith("/v1/events"):
        return Scope.EVENTS_WRITE
    if path.startswith("/v1/models") and method not in ("GET", "HEAD"):
        return Scope.MODELS_MANAGE
    return Scope.FEATURES_READ


class AuthMiddleware:
    """Answers 401/403 before routing when a key is missing or lacks the scope.

    Args:
        app: The wrapped app.
        keys: The accepted keys; empty turns authentication off.
    """

    def __init__(self, app: App, keys: tuple[ApiKey, ...]) -> None:
        self.app = app
        self.keys = keys

    async def __call__(self, scope: AsgiScope, receive: Receive, send: Send) -> None:
        """Check the key, then pass the request on (or answer 401/403)."""
        if scope["type"] != "http" or not self.keys:
            await self.app(scope, receive, send)
            return
        needed = required_scope(scope["method"], scope["path"])
        if needed is not None:
            headers = {
                k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]
            }
            key = presented_key(headers.get("authorization"), headers.get("x-api-key"))
            try:
                authorize(self.keys, key, needed)
            except AuthFailure as failure:
                extra = {"WWW-Authenticate": "Bearer"} if failure.status == 401 else None
                response = JSONBytes(
                    error_body("AuthError", failure.what, scope["path"], failure.fix),
                    status_code=failure.status,
                    headers=extra,
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
