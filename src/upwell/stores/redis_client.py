"""The connection to Redis (or Redis Cluster), its Lua scripts, and error translation.

This and the other ``redis*`` store modules are the only ones importing ``redis``
(the ``upwell[redis]`` extra). Every write to an entity's state is one compare-and-set
script, and every admission record one script, so each is atomic on the server, also
on Redis Cluster (a script touches only keys of one hash slot).
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from upwell.stores.redis_errors import RedisStoreError, RedisUnavailableError

CAS = """
local head = redis.call('GETRANGE', KEYS[1], 0, 7)
if head ~= ARGV[1] then return {0, redis.call('GET', KEYS[1])} end
if ARGV[3] == '' then
  redis.call('SET', KEYS[1], ARGV[2])
else
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
end
return {1}
"""
"""Set KEYS[1] to ARGV[2] if its first 8 bytes equal ARGV[1] ('' for a missing key),
with TTL ARGV[3] ms ('' for none). Returns {1}, or {0, current value} on a conflict."""

RECORD = """
local raw = redis.call('GET', KEYS[1])
local old = nil
if raw then old = tonumber(raw) end
local best = old
for i = 2, #ARGV, 2 do
  local ts = tonumber(ARGV[i])
  if best == nil or ts > best then best = ts end
  if ARGV[i + 1] ~= '' then redis.call('ZADD', KEYS[2], ARGV[i], ARGV[i + 1]) end
end
if best == nil then return false end
if old == nil or best > old then redis.call('SET', KEYS[1], string.format('%.0f', best)) end
local horizon = best - tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. string.format('%.0f', horizon))
return string.format('%.0f', best)
"""
"""Admission of a source: KEYS = watermark, ids; ARGV = allowed lateness ms, then pairs
(event time, encoded id or ''). Raises the watermark, remembers the ids, forgets ids of
events older than the horizon (they would be late anyway). Returns the watermark."""


class Script(enum.Enum):
    """The store's Lua scripts."""

    CAS = CAS
    RECORD = RECORD


def redacted(url: str) -> str:
    """A Redis URL without its password, for messages.

    Args:
        url: The URL.

    Returns:
        The URL with any password replaced by ``***``.

    >>> redacted("redis://user:secret@cache:6379/0")
    'redis://user:***@cache:6379/0'
    """
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


class RedisConnection:
    """A client for one Redis server or cluster, with the store's scripts loaded.

    A server with ``cluster_enabled:1`` is reached through ``RedisCluster``, which
    routes each command and script to the node owning its keys' slot.

    Args:
        url: ``redis://[user:password@]host:port/db``, ``rediss://...`` or ``unix://path``.
        timeout_s: Socket connect and read timeout.

    Raises:
        RedisUnavailableError: Redis cannot be reached at the URL.
    """

    def __init__(self, url: str, timeout_s: float = 10.0) -> None:
        self.url = url
        self.where = f"Redis at {redacted(url)}"
        try:
            import redis  # noqa: PLC0415 (an optional extra)
        except ImportError:
            msg = "the Redis online store needs the redis package"
            raise RedisStoreError(
                msg, where=self.where, fix="pip install 'upwell[redis]'"
            ) from None
        options: dict[str, Any] = {"socket_timeout": timeout_s, "socket_connect_timeout": timeout_s}
        with self.guard("connecting"):
            client: Any = redis.Redis.from_url(url, **options)
            info = client.info("cluster")
            if info.get("cluster_enabled"):
                client.close()
                client = redis.RedisCluster.from_url(url, **options)
        self.client = client
        self.is_cluster = isinstance(client, redis.RedisCluster)
        self._no_script = redis.exceptions.NoScriptError
        self.sha: dict[Script, str] = {}
        self.load_scripts()

    def load_scripts(self) -> None:
        """Load the Lua scripts (again, after a server restart forgot them)."""
        with self.guard("loading scripts"):
            self.sha = {script: self.client.script_load(script.value) for script in Script}

    @contextmanager
    def guard(self, doing: str) -> Iterator[None]:
        """Turn redis-py's errors into upwell errors that name the server.

        Args:
            doing: What the store was doing, for the message.

        Yields:
            Nothing.

        Raises:
            RedisUnavailableError: The connection failed or timed out.
            RedisStoreError: Redis refused a command (e.g. out of memory).
        """
        import redis  # noqa: PLC0415 (an optional extra)

        try:
            yield
        except (redis.ConnectionError, redis.TimeoutError) as error:
            msg = f"no answer while {doing}: {error}"
            raise RedisUnavailableError(
                msg,
                where=self.where,
                fix="check that Redis is running and reachable; each event is applied "
                "atomically and idempotently, so retrying (or restarting) is safe",
            ) from None
        except redis.RedisError as error:
            msg = f"Redis refused a command while {doing}: {error}"
            raise RedisStoreError(
                msg, where=self.where, fix="check the server's log and memory limit"
            ) from None

    def pipeline(self) -> Any:
        """A non-transactional pipeline (one round trip per node)."""
        return self.client.pipeline(transaction=False)

    def script(self, pipe: Any, name: Script, keys: Sequence[str], *args: Any) -> None:
        """Queue one of the store's scripts on a pipeline (routed by its keys' slot).

        Args:
            pipe: The pipeline.
            name: The script.
            keys: The keys it touches (one hash slot).
            *args: Its arguments.
        """
        pipe.execute_command("EVALSHA", self.sha[name], len(keys), *keys, *args)

    def execute(self, fill: Any, doing: str) -> list[Any]:
        """Run commands in one pipeline; reload the scripts once if the server forgot them.

        Args:
            fill: Called with a fresh pipeline to queue the commands (it may run twice;
                every command the store sends is idempotent).
            doing: What the store is doing, for error messages.

        Returns:
            The replies, in order.
        """
        with self.guard(doing):
            try:
                pipe = self.pipeline()
                fill(pipe)
                return list(pipe.execute())
            except self._no_script:
                pass
        self.load_scripts()
        with self.guard(doing):
            pipe = self.pipeline()
            fill(pipe)
            return list(pipe.execute())

    def mget(self, keys: Sequence[str], doing: str) -> list[bytes | None]:
        """Values of many keys (across slots on a cluster).

        Args:
            keys: The keys.
            doing: What the store is doing, for error messages.

        Returns:
            One value (or None) per key.
        """
        if not keys:
            return []
        with self.guard(doing):
            if self.is_cluster:
                return list(self.client.mget_nonatomic(keys))
            return list(self.client.mget(keys))

    def close(self) -> None:
        """Close the connections."""
        self.client.close()
