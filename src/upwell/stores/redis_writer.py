"""Compare-and-set updates of entity states: the only way the Redis store changes them.

An update reads each state (from a cache of the encoded states this process last read
or wrote, or from Redis), changes it in place with the engine's code, and writes it back
with the ``cas`` script, which stores it only if the state still has the version that
was read. A state that another writer changed meanwhile comes back with the script's
reply, and the change is made again on it. Versions are random, so a state that expired
and was created again never passes for the old one.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

from upwell.definitions.registry import Registry
from upwell.engine.view_state import EntityKey, ViewState
from upwell.stores.redis_admission import SharedAdmission
from upwell.stores.redis_client import RedisConnection, Script
from upwell.stores.redis_codec import StoredState, decode_state, encode_state, new_state
from upwell.stores.redis_errors import StateConflictError
from upwell.stores.redis_keys import Keyspace

Change = Callable[[ViewState, EntityKey, StoredState], bool]
"""Changes a state in place; returns whether there is anything to write."""

_MAX_ATTEMPTS = 100
_MARK_EVERY = 1_000


class StateWriter:
    """Writes entity states for one writer, and records the last position it applied.

    Args:
        connection: The Redis connection.
        keys: The namespace's key names.
        registry: The definitions.
        admission: Whose pending records ride along with the writes.
        writer: This writer's name.
        ttl: The states' time to live in ms, as text ('' for none).
        cache_entities: How many decoded states to keep.
    """

    def __init__(
        self,
        connection: RedisConnection,
        keys: Keyspace,
        registry: Registry,
        admission: SharedAdmission,
        writer: str,
        ttl: str,
        cache_entities: int,
    ) -> None:
        self._connection = connection
        self._keys = keys
        self._entity = {name: view.entity.name for name, view in registry.views.items()}
        self._admission = admission
        self.writer = writer
        self._ttl = ttl
        self._cache: OrderedDict[str, bytes] = OrderedDict()
        self._cache_size = cache_entities
        self.applied = 0
        self._marked = 0
        self.conflicts = 0
        """How many compare-and-sets found a state changed by another writer."""

    def name(self, view: str, key: EntityKey) -> str:
        """The key of an entity's state in a view."""
        return self._keys.state(view, self._entity[view], key)

    def forget(self) -> None:
        """Drop the cache (before others write in bulk, e.g. a backfill)."""
        self._cache.clear()

    def update(
        self,
        targets: list[tuple[ViewState, EntityKey]],
        change: Change,
        doing: str,
        names: list[str] | None = None,
    ) -> None:
        """Change entity states atomically, retrying on the newer state after a conflict.

        Args:
            targets: Scratch views and entity keys.
            change: Changes a state in place; returns whether there is anything to write.
            doing: What the store is doing, for error messages.
            names: The state keys, where ``targets`` hold no real entity keys.

        Raises:
            StateConflictError: Other writers kept changing the states.
        """
        names = names or [self.name(view.plan.view.name, key) for view, key in targets]
        views = [view for view, _ in targets]
        blobs = self._load(names, doing)
        states = [_decoded(blob, view) for blob, view in zip(blobs, views, strict=True)]
        todo = list(range(len(targets)))
        for _ in range(_MAX_ATTEMPTS):
            writes = []
            for i in todo:
                view, key = targets[i]
                if change(view, key, states[i]):
                    version = os.urandom(8)
                    numeric = [c.numeric for c in view.plan.channels]
                    writes.append((i, version, encode_state(states[i], version, numeric)))
            todo = self._write(names, states, blobs, writes, doing)
            if not todo:
                return
            for i in todo:  # changed by another writer: redo the change on its state
                states[i] = _decoded(blobs[i], views[i])
        msg = f"gave up after {_MAX_ATTEMPTS} conflicting updates of {names[todo[0]]!r}"
        raise StateConflictError(msg, where=self._connection.where, fix="retry the operation")

    def _write(
        self,
        names: list[str],
        states: list[StoredState],
        blobs: list[bytes | None],
        writes: list[tuple[int, bytes, bytes]],
        doing: str,
    ) -> list[int]:
        """One round trip of compare-and-sets; returns the indexes that conflicted.

        ``blobs`` holds each state's encoded form as last read or written (updated here).
        """
        queued: list[tuple[str, int]] = []
        mark = self.applied if self.applied - self._marked >= _MARK_EVERY else 0
        if not writes and not mark and not self._admission.has_pending():
            self._remember(names, blobs)
            return []

        def fill(pipe: Any) -> None:
            script = self._connection.script
            for i, _, blob in writes:
                script(pipe, Script.CAS, [names[i]], states[i].version, blob, self._ttl)
            queued[:] = self._admission.queue(pipe)
            if mark:
                pipe.hset(self._keys.applied(), self.writer, mark)

        replies = self._connection.execute(fill, doing)
        self._admission.recorded(queued, replies[len(writes) : len(writes) + len(queued)])
        self._marked = max(self._marked, mark)
        conflicts = []
        for (i, version, blob), reply in zip(writes, replies, strict=False):
            if reply[0] == 1:
                states[i].version = version
                blobs[i] = blob
            else:
                blobs[i] = reply[1]
                conflicts.append(i)
        self.conflicts += len(conflicts)
        if not conflicts:
            self._remember(names, blobs)
        return conflicts

    def compare_and_set(self, writes: Sequence[tuple[str, bytes, bytes]], doing: str) -> list[bool]:
        """Write states, each only if its version is still the expected one.

        Args:
            writes: Triples of state key, expected version (empty: none) and new state.
            doing: What the store is doing, for error messages.

        Returns:
            Per write, whether it was written.
        """

        def fill(pipe: Any) -> None:
            for name, expected, blob in writes:
                self._connection.script(pipe, Script.CAS, [name], expected, blob, self._ttl)

        replies = self._connection.execute(fill, doing) if writes else []
        written = [reply[0] == 1 for reply in replies]
        self.conflicts += written.count(False)
        return written

    def mark(self) -> None:
        """Record this writer's applied position now."""
        if self.applied > self._marked:
            with self._connection.guard("recording the applied position"):
                self._connection.client.hset(self._keys.applied(), self.writer, self.applied)
            self._marked = self.applied

    def marked(self) -> int:
        """The position this writer last recorded (0: none)."""
        with self._connection.guard("reading the applied position"):
            raw = self._connection.client.hget(self._keys.applied(), self.writer)
        return 0 if raw is None else int(raw)

    def _load(self, names: list[str], doing: str) -> list[bytes | None]:
        """The encoded states from the cache (taken out until written back) or from Redis."""
        blobs = [self._cache.pop(name, None) for name in names]
        missing = [i for i, blob in enumerate(blobs) if blob is None]
        fetched = self._connection.mget([names[i] for i in missing], doing)
        for i, blob in zip(missing, fetched, strict=True):
            blobs[i] = blob
        return blobs

    def _remember(self, names: list[str], blobs: list[bytes | None]) -> None:
        cache = self._cache
        for name, blob in zip(names, blobs, strict=True):
            if blob is not None:
                cache[name] = blob
        while len(cache) > self._cache_size:
            cache.popitem(last=False)


def _decoded(blob: bytes | None, view: ViewState) -> StoredState:
    if blob:
        return decode_state(blob)
    plan = view.plan
    return new_state(len(plan.channels), tuple(c.squares for c in plan.channels))
