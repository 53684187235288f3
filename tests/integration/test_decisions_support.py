"""Helpers shared by the decision integration tests (this module holds no tests).

Redis runs on 127.0.0.1:6379; a test needing it skips with a reason when it is down,
and fails instead when ``CI=true``. Each test works in its own namespace, deleted after.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import redis

REDIS_URL = "redis://127.0.0.1:6379/0"


def client_for_threads() -> redis.Redis:
    """A client whose threads wait for a free connection instead of failing at 100."""
    pool = redis.BlockingConnectionPool.from_url(REDIS_URL, max_connections=64, timeout=60)
    return redis.Redis(connection_pool=pool)


def connect_redis() -> redis.Redis:
    """A client for the test Redis, or skip (fail under CI=true) when it is down."""
    client = client_for_threads()
    try:
        client.ping()
    except redis.ConnectionError as error:
        reason = f"Redis is not reachable at {REDIS_URL} ({error}); start redis-server"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return client


def disconnect(client: redis.Redis) -> None:
    """Close a client and its pool (a pool passed in is not closed by ``close()``)."""
    client.close()
    client.connection_pool.disconnect()


@contextmanager
def namespace(client: redis.Redis) -> Iterator[str]:
    """A fresh key namespace, with every key under it deleted afterwards."""
    name = f"upwell-test:{uuid.uuid4().hex}"
    try:
        yield name
    finally:
        keys = list(client.scan_iter(match=f"{name}:*", count=1_000))
        if keys:
            client.delete(*keys)
