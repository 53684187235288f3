"""How a feature store opens its parts: the online store and the durability level."""

from __future__ import annotations

import uuid
from pathlib import Path

from upwell.config import ConfigError, OnlineConfig, parse_online_url
from upwell.definitions.registry import Registry
from upwell.eventlog.protocol import Fsync
from upwell.stores.disk import DiskStore
from upwell.stores.memory import MemoryStore
from upwell.stores.redis import RedisStore
from upwell.stores.redis_errors import RedisUnavailableError


def online_store(
    registry: Registry, online: str | OnlineConfig | None, path: Path | None
) -> MemoryStore | RedisStore:
    """The online store: in this process (on disk under ``path``), or in Redis."""
    if online is None:
        return MemoryStore(registry) if path is None else DiskStore(registry, path / "state")
    if not isinstance(online, OnlineConfig):
        online = OnlineConfig(url=parse_online_url(online, "FeatureStore(online=...)"))
    # A stable writer name per event log: replaying the log after a restart then
    # recognises the events of sources without ids that Redis already holds.
    writer = None if path is None else writer_name(path)
    try:
        return RedisStore(
            registry, online.url, prefix=online.prefix, idle_ttl=online.idle_ttl, writer=writer
        )
    except RedisUnavailableError as error:
        msg = f"the online store cannot be opened: {error.what}"
        raise ConfigError(
            msg,
            where=error.where,
            fix="start Redis, or correct the URL ([online] url in upwell.toml, or the "
            "UPWELL_ONLINE environment variable)",
        ) from None


def writer_name(path: Path) -> str:
    """This event log's stable writer name (created on first use) for the Redis store."""
    file = path / "online_writer"
    if file.is_file():
        return file.read_text(encoding="utf-8").strip()
    name = uuid.uuid4().hex
    file.write_text(name, encoding="utf-8")
    return name


def fsync_level(value: Fsync | str) -> Fsync:
    """A durability level from its name.

    Raises:
        ConfigError: The name is not a level.
    """
    try:
        return Fsync(value)
    except ValueError:
        msg = f"fsync={value!r} is not a durability level"
        raise ConfigError(
            msg,
            where="FeatureStore",
            fix=f"use one of {[f.value for f in Fsync]}",
        ) from None
