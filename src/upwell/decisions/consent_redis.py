"""Consent in Redis: one hash per entity (field per purpose), tombstones per subject digest.

A change is recorded by a script that keeps the later change, so writers racing or
replaying old changes converge on the same state. An erasure deletes the entity's hash
and appends an :class:`~upwell.decisions.consent.Erasure` tombstone to
``<ns>:consent:erased:<digest>``.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson
import redis

from upwell.decisions.consent import (
    ConsentChange,
    ConsentRecord,
    ConsentStatus,
    Erasure,
    check_change,
    subject_digest,
)
from upwell.decisions.redis_keys import RedisKeys

_RECORD = """
local current = redis.call('HGET', KEYS[1], ARGV[1])
if not current or tonumber(cjson.decode(current)[2]) <= tonumber(ARGV[2]) then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
end
return redis.call('HGETALL', KEYS[1])
"""


class RedisConsentStore:
    """Consent shared by every process that points at one Redis.

    Args:
        client: A ``redis.Redis`` client (or a cluster client).
        namespace: The key prefix, one per project, e.g. ``"upwell:shop"``.
        salt: A secret for the tombstones' subject digests (see ``subject_digest``).
    """

    def __init__(self, client: redis.Redis, *, namespace: str, salt: bytes = b"") -> None:
        self.client = client
        self.keys = RedisKeys(namespace)
        self.salt = salt
        self._record = client.register_script(_RECORD)

    def record(self, entity_key: str, change: ConsentChange) -> ConsentRecord:  # noqa: D102
        check_change(entity_key, change)
        value = orjson.dumps([change.status.value, change.at_ms, change.source])
        reply = self._record(
            keys=[self.keys.consent(entity_key)], args=[change.purpose, change.at_ms, value]
        )
        return consent_record(entity_key, dict(zip(reply[::2], reply[1::2], strict=True)))

    def get(self, entity_key: str) -> ConsentRecord:  # noqa: D102
        return consent_record(entity_key, self.client.hgetall(self.keys.consent(entity_key)))

    def erase(self, entity_key: str, *, at_ms: int) -> Erasure:  # noqa: D102
        pipe = self.client.pipeline(transaction=True)
        pipe.hlen(self.keys.consent(entity_key))
        pipe.delete(self.keys.consent(entity_key))
        removed, _ = pipe.execute()
        digest = subject_digest(entity_key, self.salt)
        tombstone = Erasure(uuid.uuid4().hex, at_ms, digest, int(removed))
        entry = orjson.dumps([tombstone.erasure_id, at_ms, tombstone.consent_records])
        self.client.rpush(self.keys.erasures(digest), entry)
        return tombstone

    def erasures(self, entity_key: str) -> tuple[Erasure, ...]:  # noqa: D102
        digest = subject_digest(entity_key, self.salt)
        entries = self.client.lrange(self.keys.erasures(digest), 0, -1)
        return tuple(
            Erasure(str(e), int(at), digest, int(n))
            for e, at, n in (orjson.loads(raw) for raw in entries)
        )

    def close(self) -> None:
        """Close the client's connections."""
        self.client.close()


def consent_record(entity_key: str, fields: dict[Any, Any]) -> ConsentRecord:
    """Read an entity's consent hash (as ``HGETALL`` returns it).

    Args:
        entity_key: The entity.
        fields: Purpose to JSON ``[status, at_ms, source]``, bytes or str.

    Returns:
        The consent record.
    """
    changes = {}
    for raw_purpose, raw in fields.items():
        purpose = raw_purpose.decode() if isinstance(raw_purpose, bytes) else str(raw_purpose)
        status, at_ms, source = orjson.loads(raw)
        changes[purpose] = ConsentChange(purpose, ConsentStatus(status), int(at_ms), source)
    return ConsentRecord(entity_key, changes)
