"""Key names of the Redis decision and consent stores.

Every key of one entity carries the entity in a hash tag (``{...}``), so the keys live
in one Redis Cluster hash slot and one script or transaction may touch them all. The
entity key is escaped so that braces in it cannot end the tag early.

>>> keys = RedisKeys("upwell:shop")
>>> keys.state("c{1}")
'upwell:shop:dec:{c%7B1%7D}:state'
>>> keys.idempotency("c1", "nba", "req-9")
'upwell:shop:dec:{c1}:idem:nba:req-9'
"""

from __future__ import annotations

from dataclasses import dataclass

from upwell.decisions.errors import DecisionStateError


def escape(entity_key: str) -> str:
    """Escape ``%``, ``{`` and ``}`` in an entity key for use inside a hash tag.

    Args:
        entity_key: The entity key.

    Returns:
        The escaped key.
    """
    return entity_key.replace("%", "%25").replace("{", "%7B").replace("}", "%7D")


@dataclass(frozen=True)
class RedisKeys:
    """The key names under one namespace.

    Args:
        namespace: A prefix per project, e.g. ``"upwell:shop"``; no braces.

    Raises:
        DecisionStateError: The namespace is empty or has braces.
    """

    namespace: str

    def __post_init__(self) -> None:
        if not self.namespace or "{" in self.namespace or "}" in self.namespace:
            msg = f"namespace {self.namespace!r} is empty or has braces"
            raise DecisionStateError(
                msg, where="Redis store", fix="use a prefix such as 'upwell:myproject'"
            )

    def _entity(self, kind: str, entity_key: str) -> str:
        return f"{self.namespace}:{kind}:{{{escape(entity_key)}}}"

    def state(self, entity_key: str) -> str:
        """The hash of the entity's decision states (fields ``<policy>:v``, ``<policy>:h``)."""
        return f"{self._entity('dec', entity_key)}:state"

    def idempotency(self, entity_key: str, policy: str, request_id: str) -> str:
        """The string holding the decision made for one request id."""
        return f"{self._entity('dec', entity_key)}:idem:{policy}:{request_id}"

    def idempotency_index(self, entity_key: str) -> str:
        """The sorted set of the entity's idempotency keys, scored by expiry (ms)."""
        return f"{self._entity('dec', entity_key)}:idem-index"

    def consent(self, entity_key: str) -> str:
        """The hash of the entity's consent (field per purpose)."""
        return self._entity("consent", entity_key)

    def erasures(self, digest: str) -> str:
        """The list of erasure tombstones of one subject digest."""
        return f"{self.namespace}:consent:erased:{digest}"
