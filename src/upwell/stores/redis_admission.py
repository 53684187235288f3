"""Admission shared through Redis: each source's watermark and admitted event ids.

Every process checks events against the same watermark and ids, so several workers
give the verdicts one process would. Recording is one script per source (atomic on the
server). A process records an event's admission *after* its window updates succeeded,
in the next round trip it makes anyway (the next apply, check or checkpoint): an event
is never marked admitted without being applied, and a process that dies in between
leaves an event that a redelivery applies once (the entity states recognise it).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import orjson

from upwell.definitions.registry import Registry
from upwell.engine.admission import SourceAdmission, Verdict
from upwell.stores.redis_client import RedisConnection, Script
from upwell.stores.redis_errors import RedisStoreError
from upwell.stores.redis_keys import Keyspace

_CHUNK = 10_000
FLUSH_IDLE_S = 0.005
"""How long a process may sit idle on admission records before a thread sends them."""
_DUMPS_OPTIONS = orjson.OPT_SERIALIZE_NUMPY


def encode_id(event_id: Any) -> bytes:
    """An event id as stored in Redis (JSON, so ``1`` and ``"1"`` differ).

    Args:
        event_id: The id.

    Returns:
        Its bytes.
    """
    return orjson.dumps(event_id, option=_DUMPS_OPTIONS)


class SharedAdmission:
    """Checks and records admission in Redis; records wait for the next round trip.

    Args:
        connection: The Redis connection.
        keys: The namespace's key names.
        registry: The definitions.
    """

    def __init__(self, connection: RedisConnection, keys: Keyspace, registry: Registry) -> None:
        self._connection = connection
        self._keys = keys
        self._lateness = {n: s.allowed_lateness_ms for n, s in registry.sources.items()}
        self._pending: dict[str, list[Any]] = {}
        self.watermarks: dict[str, int | None] = dict.fromkeys(registry.sources)
        """The newest watermark of each source this process has seen (None: none yet)."""

    def add(self, source: str, ts: int, event_id: Any) -> None:
        """Remember an applied event, to be recorded in the next round trip.

        Args:
            source: The source.
            ts: Event time, ms.
            event_id: The id, or None.
        """
        pending = self._pending.setdefault(source, [])
        pending.append(ts)
        pending.append(b"" if event_id is None else encode_id(event_id))

    def discard_pending(self) -> None:
        """Forget the records not yet sent (their namespace is being deleted)."""
        self._pending.clear()

    def has_pending(self) -> bool:
        """Whether records wait for a round trip."""
        return any(self._pending.values())

    def queue(self, pipe: Any) -> list[tuple[str, int]]:
        """Queue the pending records on a pipeline.

        Args:
            pipe: The pipeline.

        Returns:
            What was queued, to pass to :meth:`recorded` with the replies.
        """
        queued = []
        for source, pending in self._pending.items():
            if pending:
                keys = (self._keys.watermark(source), self._keys.seen(source))
                self._connection.script(pipe, Script.RECORD, keys, self._lateness[source], *pending)
                queued.append((source, len(pending)))
        return queued

    def recorded(self, queued: list[tuple[str, int]], replies: Sequence[Any]) -> None:
        """Forget what was recorded and learn the watermarks from the replies.

        Args:
            queued: What :meth:`queue` returned.
            replies: The replies of the queued scripts, in order.
        """
        for (source, count), reply in zip(queued, replies, strict=True):
            del self._pending[source][:count]
            self._learn(source, reply)

    def _learn(self, source: str, raw: Any) -> None:
        if raw is not None:
            value = int(raw)
            known = self.watermarks.get(source)
            self.watermarks[source] = value if known is None else max(known, value)

    def flush(self) -> None:
        """Record everything pending now."""
        if self.has_pending():
            queued: list[tuple[str, int]] = []

            def fill(pipe: Any) -> None:
                queued[:] = self.queue(pipe)

            self.recorded(queued, self._connection.execute(fill, "recording admitted events"))

    def check(self, source: str, times: list[int], ids: list[Any]) -> list[Verdict]:
        """Decide on a batch against the shared watermark and ids, changing nothing.

        Args:
            source: The source.
            times: Event times, ms.
            ids: Event ids (None where the source has none).

        Returns:
            One verdict per event.
        """
        present = [i for i in ids if i is not None]
        encoded = [encode_id(i) for i in present]
        queued: list[tuple[str, int]] = []

        def fill(pipe: Any) -> None:
            queued[:] = self.queue(pipe)
            pipe.get(self._keys.watermark(source))
            for at in range(0, len(encoded), _CHUNK):
                pipe.zmscore(self._keys.seen(source), encoded[at : at + _CHUNK])

        replies = self._connection.execute(fill, "checking events")
        self.recorded(queued, replies[: len(queued)])
        watermark = replies[len(queued)]
        self._learn(source, watermark)
        scores = [s for chunk in replies[len(queued) + 1 :] for s in chunk]
        admission = SourceAdmission(self._lateness[source])
        admission.watermark = None if watermark is None else int(watermark)
        admission.seen = {i: 0 for i, s in zip(present, scores, strict=True) if s is not None}
        return admission.check_batch(times, ids)

    def record_now(self, source: str, pairs: Sequence[tuple[int, Any]]) -> None:
        """Record many admitted events at once (in scripts of up to 10,000 events).

        Args:
            source: The source.
            pairs: (event time, id or None) per event.
        """
        flat: list[Any] = []
        for ts, event_id in pairs:
            flat.append(ts)
            flat.append(b"" if event_id is None else encode_id(event_id))
        keys = (self._keys.watermark(source), self._keys.seen(source))
        step = 2 * _CHUNK

        def fill(pipe: Any) -> None:
            for at in range(0, len(flat), step):
                args = flat[at : at + step]
                self._connection.script(pipe, Script.RECORD, keys, self._lateness[source], *args)

        for reply in self._connection.execute(fill, "recording admitted events"):
            self._learn(source, reply)

    def load(self, source: str, ids: Sequence[Any], into: SourceAdmission) -> None:
        """Fill an admission state with a source's watermark and admitted ids from Redis.

        Of the admitted ids, those in ``ids`` are enough; when they outnumber what Redis
        holds (the ids within the allowed lateness), all of them are read instead.

        Args:
            source: The source.
            ids: The ids that matter (e.g. of a backfill).
            into: The admission state to fill (the engine's own type).
        """
        self.flush()
        key = self._keys.seen(source)
        with self._connection.guard("reading event ids"):
            held = int(self._connection.client.zcard(key))
            if held <= len(ids):
                pairs = self._connection.client.zrange(key, 0, -1, withscores=True)
                into.seen.update((orjson.loads(i), int(ts)) for i, ts in pairs)
            else:
                wanted = list(ids)
                for event_id, seen in zip(wanted, self._seen(source, wanted), strict=True):
                    if seen is not None:
                        into.seen[event_id] = int(seen)
        into.watermark = self._read_watermark(source)

    def _seen(self, source: str, ids: list[Any]) -> list[Any]:
        encoded = [encode_id(i) for i in ids]

        def fill(pipe: Any) -> None:
            for at in range(0, len(encoded), _CHUNK):
                pipe.zmscore(self._keys.seen(source), encoded[at : at + _CHUNK])

        return [s for chunk in self._connection.execute(fill, "reading event ids") for s in chunk]

    def _read_watermark(self, source: str) -> int | None:
        with self._connection.guard("reading a watermark"):
            raw = self._connection.client.get(self._keys.watermark(source))
        self._learn(source, raw)
        return None if raw is None else int(raw)

    def read_watermarks(self) -> dict[str, int | None]:
        """Every source's watermark in Redis, after recording what is pending.

        Returns:
            Source name to watermark (None before its first event).
        """
        self.flush()
        return {source: self._read_watermark(source) for source in self._lateness}


class IdleFlusher:
    """Sends pending admission records once no apply has come for :data:`FLUSH_IDLE_S`.

    A thread runs only while records are pending, so idle stores cost nothing.

    Args:
        admission: Whose records to send.
        lock: The store's lock, held while sending.
    """

    def __init__(self, admission: SharedAdmission, lock: threading.RLock) -> None:
        self._admission = admission
        self._lock = lock
        self._thread: threading.Thread | None = None
        self._last = 0.0
        self._stopped = False

    def poke(self) -> None:
        """Note an apply (call with the store's lock held)."""
        self._last = time.monotonic()
        if self._stopped:
            return
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(
                target=self._run, name="upwell-redis-admission", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        """Start no more threads, and end the running one (call with the lock held)."""
        self._stopped = True

    def _run(self) -> None:
        while True:
            time.sleep(FLUSH_IDLE_S)
            with self._lock:
                if self._stopped or not self._admission.has_pending():
                    return
                if time.monotonic() - self._last < FLUSH_IDLE_S:
                    continue
                try:
                    self._admission.flush()
                except RedisStoreError:
                    return  # the next operation sends them again, and reports the error
