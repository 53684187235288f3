"""Backfill into the Redis store: the columnar path in memory, then one bulk write.

A backfill runs the embedded engine's columnar backfill on a scratch engine that holds
what the batch needs from Redis: the source's watermark, which of the batch's ids were
admitted, and the current state of every entity the batch touches. The states it
produces are written back with compare-and-set in pipelines; an entity some other
writer changed meanwhile gets this batch's events again through the per-event path.
An event whose identity an entity already holds (a backfill re-run after a crash) counts
as a duplicate, so a backfill is applied once.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from upwell.engine.admission import SourceAdmission, Verdict
from upwell.engine.feature_engine import FeatureEngine
from upwell.engine.view_state import EntityKey, ViewState
from upwell.stores.redis_codec import StoredState, decode_state, encode_state

if TYPE_CHECKING:
    from upwell.stores.redis import RedisStore

_CHUNK = 5_000


@dataclass
class _Touched:
    """A view's entities touched by the batch, with what was loaded for them."""

    view: ViewState
    keys: list[EntityKey]
    names: list[str]
    versions: dict[EntityKey, bytes]


class _RecordingAdmission(SourceAdmission):
    """A source's admission that remembers the verdicts of its last batch check."""

    def __init__(self, allowed_lateness_ms: int) -> None:
        super().__init__(allowed_lateness_ms)
        self.verdicts: list[Verdict] = []

    def check_batch(self, times: list[int], ids: list[Any]) -> list[Verdict]:
        self.verdicts = super().check_batch(times, ids)
        return self.verdicts


class RedisBackfill:
    """One backfill of one source: prepare, run the columnar backfill on ``engine``, commit.

    Args:
        store: The Redis store.
        source: The source's name.
        columns: The batch's validated columns.
        first_seq: The log position the first accepted event will get.
    """

    def __init__(
        self, store: RedisStore, source: str, columns: Mapping[str, np.ndarray], first_seq: int
    ) -> None:
        self._store = store
        self._source = store.registry.sources[source]
        self.engine = FeatureEngine(store.registry)
        spec = self._source
        order = np.argsort(columns[spec.timestamp], kind="stable")
        self._columns = {name: col[order] for name, col in columns.items()}
        self._ids = self._columns[spec.event_id].tolist() if spec.event_id else []
        self._admission = _RecordingAdmission(spec.allowed_lateness_ms)
        store.admission.load(source, self._ids, self._admission)
        self.engine.admission[source] = self._admission
        self._held: dict[int, tuple[int, Any]] = {}
        self._touched = [self._load(view) for view in self.engine.by_source[source]]
        self._first = first_seq

    @property
    def _accepted(self) -> np.ndarray:
        """Positions (in time order) of the accepted events, as the backfill decided."""
        verdicts = self._admission.verdicts
        return np.flatnonzero(np.fromiter((v is Verdict.ACCEPTED for v in verdicts), bool))

    def _load(self, view: ViewState) -> _Touched:
        columns = [self._columns[k].tolist() for k in view.plan.keys]
        row_keys = list(zip(*columns, strict=True))
        keys = list(dict.fromkeys(row_keys))
        name = view.plan.view.name
        entity = view.plan.view.entity.name
        names = [self._store.keys.state(name, entity, key) for key in keys]
        versions = {}
        for at in range(0, len(names), _CHUNK):
            blobs = self._store.connection.mget(names[at : at + _CHUNK], "loading entities")
            for key, blob in zip(keys[at : at + _CHUNK], blobs, strict=True):
                if blob is not None:
                    stored = decode_state(blob)
                    versions[key] = stored.version
                    view.entities[key] = self._hold(stored)
                    self._known(stored.idents, stored.state.ts)
        self._known_evicted(view, row_keys)
        return _Touched(view, keys, names, versions)

    def _known(self, idents: list[Any], times: list[int]) -> None:
        """Events an entity holds are not new (a re-run after a crash, before admission)."""
        if self._source.event_id:
            seen = self.engine.admission[self._source.name].seen
            for ident, ts in zip(idents, times, strict=True):
                seen.setdefault(ident, ts)

    def _known_evicted(self, view: ViewState, row_keys: list[EntityKey]) -> None:
        """Nor are events older than what their entity evicted: folding them in is wrong."""
        evicted = {k: s.evicted_until for k, s in view.entities.items() if s.evicted_until}
        if not self._source.event_id or not evicted:
            return
        times = self._columns[self._source.timestamp].tolist()
        ids = self._columns[self._source.event_id].tolist()
        seen = self.engine.admission[self._source.name].seen
        for key, ts, event_id in zip(row_keys, times, ids, strict=True):
            until = evicted.get(key)
            if until is not None and ts <= until:
                seen.setdefault(event_id, ts)

    def _hold(self, stored: StoredState) -> Any:
        """Give loaded events negative positions, unique in the batch, remembering both."""
        state = stored.state
        for j, (seq, ident) in enumerate(zip(state.seq, stored.idents, strict=True)):
            placeholder = -1 - len(self._held)
            self._held[placeholder] = (seq, ident)
            state.seq[j] = placeholder
        return state

    def commit(self) -> None:
        """Write the states, then the admission of the accepted events."""
        accepted = self._accepted
        if not accepted.size:
            return
        changed = [
            (touched.view, key)
            for touched in self._touched
            for chunk in _chunks(touched)
            for key in self._write(touched, chunk, accepted)
        ]
        for view, key in changed:
            self._reapply(view, key, accepted)
        admission = self.engine.admission[self._source.name]
        pairs: list[tuple[int, Any]] = [(ts, i) for i, ts in admission.seen.items()]
        if admission.watermark is not None:
            pairs.append((admission.watermark, None))
        self._store.admission.record_now(self._source.name, pairs)
        states = self._store.states
        states.applied = max(states.applied, self._first + int(accepted.size) - 1)

    def _identity(self, seq: int, accepted: np.ndarray) -> Any:
        if seq < 0:
            return self._held[seq][1]
        if not self._source.event_id:
            return f"{self._store.writer}:{seq}"
        return self._ids[int(accepted[seq - self._first])]

    def _write(self, touched: _Touched, chunk: list[int], accepted: np.ndarray) -> list[EntityKey]:
        writes = []
        for i in chunk:
            key = touched.keys[i]
            state = touched.view.entities.get(key)
            if state is None:
                continue
            idents = [self._identity(s, accepted) for s in state.seq]
            state.seq = [self._held[s][0] if s < 0 else s for s in state.seq]
            numeric = [c.numeric for c in touched.view.plan.channels]
            blob = encode_state(StoredState(b"", state, idents), os.urandom(8), numeric)
            writes.append((key, touched.names[i], touched.versions.get(key, b""), blob))
        replies = self._store.states.compare_and_set(
            [(n, v, b) for _, n, v, b in writes], "backfill"
        )
        return [key for (key, *_), ok in zip(writes, replies, strict=True) if not ok]

    def _reapply(self, view: ViewState, key: EntityKey, accepted: np.ndarray) -> None:
        """Apply this batch's events of an entity another writer changed meanwhile."""
        spec = self._source
        events = []
        for position, i in enumerate(accepted.tolist()):
            row = {name: _item(col[i]) for name, col in self._columns.items()}
            if view.key_of(row) == key:
                seq = self._first + position
                event_id = self._identity(seq, accepted) if spec.event_id else None
                events.append((spec.name, row, int(row[spec.timestamp]), seq, event_id))
        self._store.apply_many(events)


def _chunks(touched: _Touched) -> Iterator[list[int]]:
    for at in range(0, len(touched.keys), _CHUNK):
        yield list(range(at, min(at + _CHUNK, len(touched.keys))))


def _item(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value
