"""The Redis online store: window state, admission and batch rows shared by many processes.

Any number of processes (``FeatureStore`` instances, workers, servers) may open one
namespace; they share everything through Redis and keep nothing that another needs:

- **Window state**: one string per entity and view (see :mod:`redis_codec`), changed
  only by compare-and-set (see :mod:`redis_writer`): a process decodes the state, folds
  the event in with the engine's own code, and writes it back only if nobody changed
  it meanwhile. The state lists the identities of its retained events (the event id,
  or ``writer:position`` for sources without ids), so an event that is redelivered,
  replayed or applied by two processes at once is folded in once.
- **Admission**: each source's watermark and admitted ids (see :mod:`redis_admission`),
  recorded with this process's next round trip, or by a background thread once the
  process has been idle for 5 ms.
- **Eviction** is lazy: when an update finds at least ``evict_batch`` events (and half
  the entity's events) older than the source's horizon minus the view's retention.
- **Idle entities** expire ``idle_ttl`` after their last update (None: never).
- **Log positions** (``seq``): the caller's. Processes that have no log of their own
  take global ones from :meth:`RedisStore.next_seq`. ``applied_seq`` is, per writer,
  the last position this writer recorded as applied (at checkpoints, and every 1,000
  events); replaying a log after it is safe because applying is idempotent.
- **Failures**: an apply that fails (Redis unreachable) raises
  :class:`~upwell.stores.redis_errors.RedisUnavailableError` and is kept; the store
  applies it again before its next check, apply or checkpoint.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

import numpy as np

from upwell.definitions.registry import Registry
from upwell.engine.admission import Verdict
from upwell.engine.view_state import EntityKey, ViewState
from upwell.stores import redis_entities as entities
from upwell.stores import redis_maintenance
from upwell.stores.redis_admission import IdleFlusher, SharedAdmission
from upwell.stores.redis_backfill import RedisBackfill
from upwell.stores.redis_batch_rows import BatchRows
from upwell.stores.redis_client import RedisConnection
from upwell.stores.redis_codec import StoredState, decode_state
from upwell.stores.redis_errors import RedisStoreError
from upwell.stores.redis_keys import Keyspace
from upwell.stores.redis_writer import StateWriter

Applied = tuple[str, Mapping[str, Any], int, int, Any]
"""The arguments of one apply: source, event, time, position, id."""


class RedisStore:
    """An :class:`~upwell.stores.protocol.OnlineStore` in Redis or Redis Cluster.

    Args:
        registry: The definitions; their fingerprint is part of every key.
        url: ``redis://[user:password@]host:port/db``, ``rediss://...`` or ``unix://path``.
        prefix: The project's key prefix (letters, digits, ``_ . - :``).
        idle_ttl: How long an entity's window state outlives its last update; None: forever.
        writer: This writer's name, which makes positions of events without ids unique and
            keeps its ``applied_seq``; a stable name per event log. None: a fresh one.
        evict_batch: The fewest expired events of an entity worth evicting at once.
        cache_entities: How many decoded entity states to keep between updates.
        timeout_s: Connect and read timeout.

    Raises:
        RedisUnavailableError: Redis cannot be reached.
        RedisStoreError: The prefix or TTL is invalid.
    """

    def __init__(
        self,
        registry: Registry,
        url: str,
        *,
        prefix: str = "upwell",
        idle_ttl: timedelta | None = None,
        writer: str | None = None,
        evict_batch: int = 64,
        cache_entities: int = 10_000,
        timeout_s: float = 10.0,
    ) -> None:
        self.registry = registry
        self.keys = Keyspace(prefix, registry.fingerprint)
        ttl = _ttl_ms(idle_ttl)
        self.connection = RedisConnection(url, timeout_s)
        self.evict_batch = max(1, evict_batch)
        self.scratch = entities.ScratchViews(registry)
        self.admission = SharedAdmission(self.connection, self.keys, registry)
        self.batch_rows = BatchRows(self.connection, self.keys, registry)
        self.states = StateWriter(
            self.connection,
            self.keys,
            registry,
            self.admission,
            writer or uuid.uuid4().hex,
            ttl,
            cache_entities,
        )
        self._lock = threading.RLock()
        self._in_doubt: list[Applied] = []
        self._flusher = IdleFlusher(self.admission, self._lock)

    @property
    def writer(self) -> str:
        """This writer's name."""
        return self.states.writer

    # ---- the OnlineStore protocol ---------------------------------------------------

    def check(self, source: str, times: list[int], ids: list[Any]) -> list[Verdict]:  # noqa: D102
        with self._lock:
            self._settle()
            return self.admission.check(source, times, ids)

    def apply(  # noqa: D102
        self, source: str, event: Mapping[str, Any], ts: int, seq: int, event_id: Any
    ) -> None:
        self.apply_many([(source, event, ts, seq, event_id)])

    def read(self, view: str, keys: Sequence[EntityKey], as_of: int) -> list[dict[str, Any]]:  # noqa: D102
        return self.read_many([(view, keys)], as_of)[0]

    def put_batch_row(  # noqa: D102
        self, group: str, key: EntityKey, valid_from: int, values: tuple[Any, ...]
    ) -> None:
        with self._lock:
            self.batch_rows.put(group, key, valid_from, values)

    def read_batch(  # noqa: D102
        self, group: str, keys: Sequence[EntityKey], as_of: int
    ) -> list[tuple[Any, ...] | None]:
        with self._lock:
            return self.batch_rows.read(group, keys, as_of)

    def applied_seq(self) -> int:
        """The last log position this writer recorded as applied (0: none)."""
        return self.states.marked()

    def checkpoint(self) -> None:
        """Record pending admissions, batch rows and this writer's applied position."""
        with self._lock:
            self._settle()
            self.batch_rows.flush()
            self.admission.flush()
            self.states.mark()

    def close(self) -> None:  # noqa: D102
        with self._lock:
            try:
                self.checkpoint()
            finally:
                self._flusher.stop()
                self.connection.close()

    # ---- applying -----------------------------------------------------------------------

    def apply_many(self, events: Sequence[Applied]) -> None:
        """Apply accepted events, in order, with one round trip for all their entities.

        Durable when this returns, as after as many :meth:`apply` calls; but each entity
        state is read and written once for the whole batch.

        Args:
            events: (source, event, time, position, id) per event.

        Raises:
            RedisUnavailableError: Redis cannot be reached (the events are kept, and
                applied again before this store's next operation).
        """
        with self._lock:
            try:
                self._settle()
                self._apply(list(events))
            except RedisStoreError:
                self._in_doubt.extend(events)
                raise

    def _apply(self, batch: list[Applied]) -> None:
        groups: dict[tuple[str, EntityKey], tuple[ViewState, list[Applied]]] = {}
        for applied in batch:
            for view in self.scratch.by_source(applied[0]):
                target = (view.plan.view.name, view.key_of(applied[1]))
                groups.setdefault(target, (view, []))[1].append(applied)
        watermarks = dict(self.admission.watermarks)

        def change(view: ViewState, key: EntityKey, stored: StoredState) -> bool:
            changed = False
            for _, event, ts, seq, event_id in groups[(view.plan.view.name, key)][1]:
                ident = f"{self.writer}:{seq}" if event_id is None else event_id
                changed = entities.fold(view, key, stored, event, ts, seq, ident) or changed
            source = view.plan.view.source
            cutoff = entities.eviction_cutoff(
                view, watermarks.get(source.name), source.allowed_lateness_ms
            )
            if changed and cutoff is not None:
                # in batches, so rewriting a state stays amortised: an entity keeps at
                # most twice the events its windows need, plus evict_batch
                least = max(self.evict_batch, (len(stored.state.ts) + 1) // 2)
                entities.evict(view, key, stored, cutoff, least)
            return changed

        targets = [(view, key) for (_, key), (view, _) in groups.items()]
        self.states.update(targets, change, "applying events")
        for source, _, ts, seq, event_id in batch:
            self.admission.add(source, ts, event_id)
            self.states.applied = max(self.states.applied, seq)
        self._flusher.poke()

    def _settle(self) -> None:
        """Apply again what failed before (applying is idempotent)."""
        if self._in_doubt:
            self._apply(self._in_doubt)
            self._in_doubt = []

    # ---- beyond the protocol ----------------------------------------------------------

    def read_many(
        self, requests: Sequence[tuple[str, Sequence[EntityKey]]], as_of: int
    ) -> list[list[dict[str, Any]]]:
        """Features of several views for several entities, in one round trip.

        Args:
            requests: Pairs of a view name and the entity keys to read in it.
            as_of: Read time, ms.

        Returns:
            Per request, one dict of feature values per key.
        """
        names = [self.states.name(view, key) for view, keys in requests for key in keys]
        blobs = iter(self.connection.mget(names, "reading features"))
        views = self.scratch.views()
        out = []
        for view, keys in requests:
            found = {}
            for key in keys:
                blob = next(blobs)
                if blob is not None:
                    found[key] = decode_state(blob, for_update=False)
            out.append(entities.read(views[view], found, list(keys), as_of))
        return out

    def prepare_backfill(
        self, source: str, columns: Mapping[str, np.ndarray], first_seq: int
    ) -> RedisBackfill:
        """Load what a backfill of these columns needs into a scratch engine.

        Run the columnar backfill on the returned object's ``engine``, then call its
        ``commit()`` to write the states and admissions back.

        Args:
            source: The source's name.
            columns: The batch's validated columns.
            first_seq: The log position the first accepted event will get.

        Returns:
            The backfill.
        """
        with self._lock:
            self._settle()
            self.states.forget()
            return RedisBackfill(self, source, columns, first_seq)

    def next_seq(self, count: int = 1) -> int:
        """Reserve ``count`` consecutive global log positions.

        Args:
            count: How many.

        Returns:
            The first of them (positions start at 1 and never repeat in a namespace).
        """
        with self.connection.guard("reserving log positions"):
            last = int(self.connection.client.incrby(self.keys.seq(), count))
        return last - count + 1

    def watermarks(self) -> dict[str, int | None]:
        """Each source's newest admitted event time (epoch ms), None before its first.

        Returns:
            Source name to watermark.
        """
        with self._lock:
            return self.admission.read_watermarks()

    def maintain(self) -> int:
        """Evict every expired event of every entity now (updates evict lazily anyway).

        Returns:
            How many events were evicted.
        """
        with self._lock:
            return redis_maintenance.evict_all(self)

    def drop(self) -> int:
        """Delete every key of this namespace (this project's state for these definitions).

        Returns:
            How many keys were deleted.
        """
        with self._lock:
            self.states.forget()
            self.admission.discard_pending()
            return redis_maintenance.delete_keys(self.connection, self.keys.pattern)


def _ttl_ms(idle_ttl: timedelta | None) -> str:
    if idle_ttl is None:
        return ""
    ms = int(idle_ttl.total_seconds() * 1000)
    if ms <= 0:
        msg = f"idle_ttl must be positive, got {idle_ttl}"
        raise RedisStoreError(
            msg, where="RedisStore", fix="pass a positive timedelta, or None to keep entities"
        )
    return str(ms)
