"""Erasing one entity from the Redis online store: its window states and batch rows.

Every key of an entity carries the hash tag ``{<entity>:<key>}`` (see
:mod:`upwell.stores.redis_keys`), so its keys are named, not scanned for, and deleted in
one command. Only the entity's own state goes: aggregates of other entities keep what
they had folded in, and the sources' admitted event ids stay (an erased event that is
redelivered is recognised as a duplicate instead of bringing the data back).
"""

from __future__ import annotations

from upwell.stores.protocol import EntityKey
from upwell.stores.redis import RedisStore


def erase_entity(store: RedisStore, entity: str, key: EntityKey) -> int:
    """Delete an entity's window state in every view and its batch rows in every group.

    Pending writes of this process are written first, so none of them brings the
    entity back afterwards; this process's cache of decoded states is dropped.

    Args:
        store: The Redis online store.
        entity: The entity's name (e.g. ``"customer"``).
        key: Its key values, in the entity's key order.

    Returns:
        How many keys were deleted.

    Raises:
        RedisUnavailableError: Redis cannot be reached (run the erasure again).
    """
    registry = store.registry
    names = [
        store.keys.state(name, entity, tuple(key))
        for name, view in registry.views.items()
        if view.entity.name == entity
    ]
    names += [
        store.keys.batch(name, entity, tuple(key))
        for name, group in registry.batches.items()
        if group.entity.name == entity
    ]
    store.checkpoint()
    store.states.forget()
    if not names:
        return 0
    connection = store.connection
    with connection.guard("erasing an entity"):
        return int(connection.client.delete(*names))
