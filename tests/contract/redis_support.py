"""Redis for the tests: the shared server on 127.0.0.1:6379, one throwaway prefix per test.

Other suites use the same server at the same time, so a test never flushes a database:
everything it writes is under its own prefix, deleted afterwards. Without Redis the
tests skip with a reason, except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
import redis

import upwell as uw
from upwell.config import OnlineConfig
from upwell.errors import UpwellError
from upwell.stores.redis import RedisStore

REDIS_URL = "redis://127.0.0.1:6379/0"


def require_redis(url: str = REDIS_URL) -> None:
    """Skip (or, under CI=true, fail) when Redis does not answer at the URL."""
    client = redis.Redis.from_url(url, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError as error:
        reason = f"Redis is not reachable at {url} ({error}); start redis-server to run this test"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    finally:
        client.close()


def delete_prefix(prefix: str, url: str = REDIS_URL) -> int:
    """Delete every key under a prefix; returns how many there were."""
    client = redis.Redis.from_url(url)
    try:
        names = list(client.scan_iter(match=f"{prefix}:*", count=1_000))
        for at in range(0, len(names), 500):
            client.unlink(*names[at : at + 500])
        return len(names)
    finally:
        client.close()


@dataclass
class RedisNamespace:
    """A unique prefix for one test; opens stores under it and deletes it at the end."""

    url: str = REDIS_URL
    prefix: str = field(default_factory=lambda: f"upwell-test-{uuid.uuid4().hex[:12]}")
    opened: list[Any] = field(default_factory=list)

    def store(
        self, registry: uw.Registry, *, writer: str = "test", idle_ttl: timedelta | None = None
    ) -> RedisStore:
        """A RedisStore on this prefix."""
        store = RedisStore(registry, self.url, prefix=self.prefix, writer=writer, idle_ttl=idle_ttl)
        self.opened.append(store)
        return store

    def feature_store(self, definitions: list[Any], **kwargs: Any) -> uw.FeatureStore:
        """A FeatureStore with its online state on this prefix."""
        online = OnlineConfig(url=self.url, prefix=self.prefix)
        store = uw.FeatureStore(definitions, online=online, **kwargs)
        self.opened.append(store)
        return store

    def cleanup(self) -> None:
        """Close what was opened (sending what it still had to send), delete the prefix."""
        try:
            for opened in self.opened:
                store = opened.store if isinstance(opened, uw.FeatureStore) else opened
                try:
                    store.close()
                except UpwellError:  # e.g. a server the test stopped
                    store.connection.close()
        finally:
            delete_prefix(self.prefix, self.url)
