"""Decision state in Redis: compare-and-set by a Lua script on one entity's hash slot.

Per entity (all keys tagged ``{entity}``, so one Redis Cluster slot):

- ``<ns>:dec:{e}:state``: a hash with ``<policy>:v`` (version) and ``<policy>:h``
  (history as JSON) per policy;
- ``<ns>:dec:{e}:idem:<policy>:<request id>``: the decision as JSON, expiring after
  the idempotency TTL (Redis' own clock);
- ``<ns>:dec:{e}:idem-index``: a sorted set of those keys by expiry, so an erasure
  finds them without scanning the keyspace.

A commit is one script call: duplicate check, version check, writes. Needs Redis 5+.
"""

from __future__ import annotations

import enum
from typing import Any

import orjson
import redis

from upwell.decisions.consent import ConsentRecord, ConsentStore
from upwell.decisions.consent_redis import RedisConsentStore, consent_record
from upwell.decisions.decision import Decision
from upwell.decisions.redis_keys import RedisKeys
from upwell.decisions.state import EntityState
from upwell.decisions.state_protocol import CommitResult, CommitStatus, Snapshot, StateErasure

_COMMIT = """
local prior = redis.call('GET', KEYS[2])
if prior then
  return {2, prior}
end
local vfield, hfield = ARGV[1] .. ':v', ARGV[1] .. ':h'
if ARGV[3] ~= '' then
  local current = redis.call('HMGET', KEYS[1], vfield, hfield)
  local version = tonumber(current[1]) or 0
  if version ~= tonumber(ARGV[2]) then
    return {0, tostring(version), current[2] or '[]'}
  end
  redis.call('HSET', KEYS[1], vfield, ARGV[3], hfield, ARGV[4])
end
local ttl = tonumber(ARGV[6])
redis.call('SET', KEYS[2], ARGV[5], 'PX', ttl)
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
redis.call('ZADD', KEYS[3], now + ttl, KEYS[2])
if redis.call('PTTL', KEYS[3]) < ttl then
  redis.call('PEXPIRE', KEYS[3], ttl)
end
return {1}
"""


class _Reply(enum.IntEnum):
    """The commit script's first reply element."""

    CONFLICT = 0
    COMMITTED = 1
    DUPLICATE = 2


class RedisDecisionState:
    """Decision state shared by every process that points at one Redis.

    Args:
        client: A ``redis.Redis`` client (or a cluster client).
        namespace: The key prefix, one per project, e.g. ``"upwell:shop"``.
    """

    def __init__(self, client: redis.Redis, *, namespace: str) -> None:
        self.client = client
        self.keys = RedisKeys(namespace)
        self._commit = client.register_script(_COMMIT)

    @classmethod
    def from_url(cls, url: str, *, namespace: str) -> RedisDecisionState:
        """Connect to Redis by URL.

        Args:
            url: e.g. ``redis://127.0.0.1:6379/0``.
            namespace: The key prefix.

        Returns:
            The store.
        """
        return cls(redis.Redis.from_url(url), namespace=namespace)

    def load(self, policy: str, entity_key: str, request_id: str) -> Snapshot:  # noqa: D102
        pipe = self.client.pipeline(transaction=False)
        pipe.hmget(self.keys.state(entity_key), f"{policy}:v", f"{policy}:h")
        pipe.get(self.keys.idempotency(entity_key, policy, request_id))
        (version, history), prior = pipe.execute()
        state = _state(version, history)
        return Snapshot(state, None if prior is None else _decision(prior))

    def load_with_consent(
        self, policy: str, entity_key: str, request_id: str, consent: ConsentStore
    ) -> tuple[Snapshot, ConsentRecord | None]:
        """Read the state, any stored decision and, on the same Redis, consent: one round trip.

        Args:
            policy: The policy's name.
            entity_key: The entity.
            request_id: The request id.
            consent: The engine's consent store.

        Returns:
            The snapshot, and the consent record (None if ``consent`` is elsewhere).
        """
        if not isinstance(consent, RedisConsentStore) or consent.client is not self.client:
            return self.load(policy, entity_key, request_id), None
        pipe = self.client.pipeline(transaction=False)
        pipe.hmget(self.keys.state(entity_key), f"{policy}:v", f"{policy}:h")
        pipe.get(self.keys.idempotency(entity_key, policy, request_id))
        pipe.hgetall(consent.keys.consent(entity_key))
        (version, history), prior, fields = pipe.execute()
        snapshot = Snapshot(_state(version, history), None if prior is None else _decision(prior))
        return snapshot, consent_record(entity_key, fields)

    def commit(  # noqa: D102
        self,
        policy: str,
        entity_key: str,
        request_id: str,
        *,
        expected_version: int,
        state: EntityState | None,
        decision: Decision,
        ttl_ms: int,
    ) -> CommitResult:
        keys = [
            self.keys.state(entity_key),
            self.keys.idempotency(entity_key, policy, request_id),
            self.keys.idempotency_index(entity_key),
        ]
        args: list[bytes | str | int] = [
            policy,
            expected_version,
            "" if state is None else state.version,
            b"" if state is None else orjson.dumps(state.to_json()),
            orjson.dumps(decision.to_dict(trail=False)),
            ttl_ms,
        ]
        reply = self._commit(keys=keys, args=args)
        status = _Reply(int(reply[0]))
        if status is _Reply.COMMITTED:
            return CommitResult(CommitStatus.COMMITTED, state or EntityState(expected_version))
        if status is _Reply.DUPLICATE:
            prior = _decision(reply[1])
            return CommitResult(CommitStatus.DUPLICATE, EntityState(expected_version), prior)
        return CommitResult(CommitStatus.CONFLICT, _state(reply[1], reply[2]))

    def erase(self, entity_key: str) -> StateErasure:  # noqa: D102
        state_key = self.keys.state(entity_key)
        index_key = self.keys.idempotency_index(entity_key)
        with self.client.pipeline(transaction=True) as pipe:
            while True:
                try:
                    pipe.watch(state_key, index_key)  # type: ignore[no-untyped-call]
                    fields = pipe.hlen(state_key)
                    members = pipe.zrange(index_key, 0, -1)
                    records = pipe.exists(*members) if members else 0
                    pipe.multi()
                    pipe.delete(state_key, index_key, *members)
                    pipe.execute()
                    return StateErasure(int(fields) // 2, int(records))
                except redis.WatchError:
                    continue

    def close(self) -> None:
        """Close the client's connections."""
        self.client.close()


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _state(version: Any, history: Any) -> EntityState:
    if version is None:
        return EntityState()
    return EntityState.from_json(int(_text(version)), orjson.loads(history or b"[]"))


def _decision(raw: Any) -> Decision:
    return Decision.from_dict(orjson.loads(raw))
