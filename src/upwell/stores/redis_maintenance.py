"""Whole-namespace operations of the Redis store: eviction of every entity, deletion."""

from __future__ import annotations

from typing import TYPE_CHECKING

from upwell.engine.view_state import EntityKey, ViewState
from upwell.stores import redis_entities as entities
from upwell.stores.redis_client import RedisConnection
from upwell.stores.redis_codec import StoredState

if TYPE_CHECKING:
    from upwell.stores.redis import RedisStore


def evict_all(store: RedisStore) -> int:
    """Evict every expired event of every entity of a store's namespace.

    Args:
        store: The store (its lock held).

    Returns:
        How many events were evicted.
    """
    watermarks = store.admission.read_watermarks()
    views = store.scratch.views()
    evicted = [0]

    def change(view: ViewState, key: EntityKey, stored: StoredState) -> bool:
        source = view.plan.view.source
        watermark = watermarks[source.name]
        cutoff = entities.eviction_cutoff(view, watermark, source.allowed_lateness_ms)
        n = 0 if cutoff is None else entities.evict(view, key, stored, cutoff)
        evicted[0] += n
        return n > 0

    for name in scan(store.connection, store.keys.states_pattern):
        view = views[name.rsplit(":w:", 1)[1]]
        store.states.update([(view, ())], change, "evicting events", names=[name])
    return evicted[0]


def delete_keys(connection: RedisConnection, pattern: str) -> int:
    """Delete every key matching a pattern (on every node of a cluster).

    Args:
        connection: The connection.
        pattern: A ``SCAN MATCH`` pattern.

    Returns:
        How many keys were deleted.
    """
    names = scan(connection, pattern)
    with connection.guard("deleting keys"):
        for at in range(0, len(names), 1_000):
            connection.client.unlink(*names[at : at + 1_000])
    return len(names)


def scan(connection: RedisConnection, pattern: str) -> list[str]:
    """Every key matching a pattern (on every node of a cluster).

    Args:
        connection: The connection.
        pattern: A ``SCAN MATCH`` pattern.

    Returns:
        The key names.
    """
    with connection.guard("listing keys"):
        return [
            n.decode() if isinstance(n, bytes) else n
            for n in connection.client.scan_iter(match=pattern, count=1_000)
        ]
