"""Key names of the Redis online store: one namespace per project and definitions.

Every key starts with ``<prefix>:<fingerprint>:``, so two projects (or two versions of
one project's definitions) never read each other's state, and deleting a namespace is
one ``SCAN MATCH <prefix>:<fingerprint>:*``. The part in braces is the Redis Cluster
hash tag: every key of one entity (its window state in each view, its batch rows) hashes
to one slot, and so do the keys of one source's admission::

    shop:3f2a...:{customer:42}:w:spend         window state of customer 42 in view spend
    shop:3f2a...:{customer:42}:b:profile       batch rows of customer 42 in group profile
    shop:3f2a...:{src:3f2a...:tx}:wm           watermark of source tx
    shop:3f2a...:{src:3f2a...:tx}:ids          admitted event ids of tx (sorted set by time)
    shop:3f2a...:{meta:3f2a...}:seq            global log positions (INCRBY)
    shop:3f2a...:{meta:3f2a...}:applied        per writer, the last position it applied

>>> keys = Keyspace("shop", "3f2a")
>>> keys.state("spend", "customer", (42,))
'shop:3f2a:{customer:42}:w:spend'
>>> keys.state("visits", "page", ("home", 3))
'shop:3f2a:{page:["home",3]}:w:visits'
>>> keys.watermark("tx")
'shop:3f2a:{src:3f2a:tx}:wm'
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from upwell.stores.redis_errors import RedisStoreError

EntityKey = tuple[Any, ...]
_PREFIX = re.compile(r"[A-Za-z0-9_.\-:]{1,64}")
_DUMPS_OPTIONS = orjson.OPT_SERIALIZE_NUMPY


def check_prefix(prefix: str) -> str:
    """Check a key prefix: 1 to 64 letters, digits, ``_ . - :``.

    Args:
        prefix: The prefix.

    Returns:
        The prefix.

    Raises:
        RedisStoreError: The prefix has other characters (braces would break hash tags).
    """
    if not _PREFIX.fullmatch(prefix):
        msg = f"key prefix {prefix!r} must be 1 to 64 letters, digits, '_', '.', '-' or ':'"
        raise RedisStoreError(msg, where="Redis online store", fix='use e.g. prefix="shop"')
    return prefix


def encode_entity_key(key: EntityKey) -> str:
    """A deterministic text form of an entity key (JSON; integral floats as integers).

    Args:
        key: The key tuple.

    Returns:
        Its text.

    Raises:
        RedisStoreError: A key part is not an int, str, bool or float.
    """
    parts = [int(p) if isinstance(p, float) and p.is_integer() else p for p in key]
    try:
        return orjson.dumps(parts[0] if len(parts) == 1 else parts, option=_DUMPS_OPTIONS).decode()
    except TypeError:
        msg = f"entity key {key!r} has a part that is not an int, str, bool or float"
        raise RedisStoreError(
            msg, where="Redis online store", fix="use int or str key columns"
        ) from None


class Keyspace:
    """The key names of one namespace.

    Args:
        prefix: The project's key prefix.
        fingerprint: The definitions' fingerprint.
    """

    def __init__(self, prefix: str, fingerprint: str) -> None:
        self.prefix = check_prefix(prefix)
        self.fingerprint = fingerprint
        self.namespace = f"{prefix}:{fingerprint}"

    def state(self, view: str, entity: str, key: EntityKey) -> str:
        """The window state of one entity in one view."""
        return f"{self.namespace}:{{{entity}:{encode_entity_key(key)}}}:w:{view}"

    def batch(self, group: str, entity: str, key: EntityKey) -> str:
        """The batch rows of one entity in one group."""
        return f"{self.namespace}:{{{entity}:{encode_entity_key(key)}}}:b:{group}"

    def watermark(self, source: str) -> str:
        """The newest admitted event time of a source."""
        return f"{self.namespace}:{{src:{self.fingerprint}:{source}}}:wm"

    def seen(self, source: str) -> str:
        """The admitted event ids of a source, scored by event time."""
        return f"{self.namespace}:{{src:{self.fingerprint}:{source}}}:ids"

    def seq(self) -> str:
        """The counter of global log positions."""
        return f"{self.namespace}:{{meta:{self.fingerprint}}}:seq"

    def applied(self) -> str:
        """Per writer, the last log position it applied (a hash)."""
        return f"{self.namespace}:{{meta:{self.fingerprint}}}:applied"

    @property
    def states_pattern(self) -> str:
        """A ``SCAN MATCH`` pattern of every window state key."""
        return f"{self.namespace}:{{*}}:w:*"

    @property
    def pattern(self) -> str:
        """A ``SCAN MATCH`` pattern of every key of the namespace."""
        return f"{self.namespace}:*"
