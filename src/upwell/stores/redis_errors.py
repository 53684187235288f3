"""Errors of the Redis online store."""

from __future__ import annotations

from upwell.errors import UpwellError


class RedisStoreError(UpwellError):
    """The Redis online store cannot do what was asked; the state in Redis is unchanged."""


class RedisUnavailableError(RedisStoreError):
    """Redis cannot be reached, or the connection broke during an operation.

    Every write is one atomic, idempotent step, so after this error each event was
    either applied completely or not at all; applying it again is safe.
    """


class StateConflictError(RedisStoreError):
    """An entity's state kept changing under concurrent writers; the update gave up."""
