"""API keys with scopes: who may read features, write events and manage models.

A key is sent as ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``. Only keys'
SHA-256 digests are held, and compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from enum import Enum


class Scope(Enum):
    """What a key allows."""

    FEATURES_READ = "features:read"
    EVENTS_WRITE = "events:write"
    MODELS_MANAGE = "models:manage"


@dataclass(frozen=True)
class ApiKey:
    """An accepted key: a name (for logs), its digest and its scopes."""

    name: str
    sha256: str
    scopes: frozenset[Scope]


class AuthFailure(Exception):
    """A request's key is missing (401) or lacks the scope (403)."""

    def __init__(self, status: int, what: str, fix: str) -> None:
        super().__init__(what)
        self.status = status
        self.what = what
        self.fix = fix


def presented_key(authorization: str | None, x_api_key: str | None) -> str | None:
    """The key a request presents, from either header.

    >>> presented_key("Bearer abc", None)
    'abc'
    >>> presented_key(None, "xyz")
    'xyz'
    """
    if x_api_key:
        return x_api_key.strip()
    if authorization and authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    return None


def authorize(keys: tuple[ApiKey, ...], presented: str | None, scope: Scope) -> str | None:
    """Check a presented key has a scope.

    Args:
        keys: The accepted keys; empty means authentication is off.
        presented: The key the request sent.
        scope: The scope the route needs.

    Returns:
        The key's name, or None when authentication is off.

    Raises:
        AuthFailure: 401 for a missing or unknown key, 403 for a missing scope.
    """
    if not keys:
        return None
    if not presented:
        raise AuthFailure(
            401, "no API key", "send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'"
        )
    digest = hashlib.sha256(presented.encode()).hexdigest()
    match = None
    for key in keys:
        if hmac.compare_digest(key.sha256, digest):
            match = key
    if match is None:
        raise AuthFailure(401, "unknown API key", "check the key; keys are listed in upwell.toml")
    if scope not in match.scopes:
        raise AuthFailure(
            403,
            f"API key {match.name!r} lacks the scope {scope.value!r}",
            f"use a key with {scope.value!r}, or add it to the key's scopes",
        )
    return match.name
