"""The push path: validate, admit, log, apply; each step before the next."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from upwell.definitions.registry import Registry
from upwell.definitions.source import EventSource
from upwell.engine.admission import Verdict
from upwell.eventlog.protocol import EventLog
from upwell.ingest.batch import MAX_BATCH_EVENTS, validate
from upwell.ingest.dead_letters import DeadLetterSink
from upwell.ingest.errors import EventError
from upwell.stores.protocol import OnlineStore

AcceptedListener = Callable[[list[dict[str, Any]]], None]
"""Receives the rows of one push that were accepted (validated, timestamps in epoch ms)."""


@dataclass(frozen=True)
class PushResult:
    """What happened to the events of one push."""

    accepted: int
    duplicates: int
    late: int


class Pusher:
    """Pushes events into the log and the online store.

    A push is all-or-nothing on validation: one bad event rejects the batch and
    nothing is stored. Accepted events are logged (durably, per the log's policy)
    before they are applied, so a crash after ``push`` returns loses nothing.

    Args:
        registry: The definitions.
        store: The online store.
        log: The event log.
        dead_letters: Where late events go.
        max_events: The largest batch accepted by one push.
    """

    def __init__(
        self,
        registry: Registry,
        store: OnlineStore,
        log: EventLog,
        dead_letters: DeadLetterSink,
        max_events: int = MAX_BATCH_EVENTS,
    ) -> None:
        self._registry = registry
        self._store = store
        self._log = log
        self._dead_letters = dead_letters
        self._max_events = max_events
        self.lock = threading.RLock()
        self.listeners: dict[str, list[AcceptedListener]] = {}

    def source(self, name: str) -> EventSource:
        """The source of a name.

        Args:
            name: The source's name.

        Returns:
            The source.

        Raises:
            EventError: No source has that name.
        """
        source = self._registry.sources.get(name)
        if source is None:
            msg = f"unknown source {name!r}"
            raise EventError(
                msg,
                where="push",
                fix=f"push to one of {sorted(self._registry.sources)}",
            )
        return source

    def push(self, source_name: str, data: Any) -> PushResult:
        """Validate and ingest events.

        Args:
            source_name: The source.
            data: A dict, list of dicts, pandas/Polars DataFrame or Arrow table.

        Returns:
            Counts of accepted, duplicate and late events.
        """
        source = self.source(source_name)
        batch = validate(source, data, self._max_events)
        return self.ingest_valid(source, batch.rows)

    def ingest_valid(self, source: EventSource, rows: list[dict[str, Any]]) -> PushResult:
        """Ingest already validated rows (timestamps in epoch ms).

        Args:
            source: The source.
            rows: Validated rows.

        Returns:
            Counts of accepted, duplicate and late events.
        """
        ts_field, id_field = source.timestamp, source.event_id
        if len(rows) == 1:
            return self._ingest_one(source, rows[0])
        times = [row[ts_field] for row in rows]
        ids = [row[id_field] for row in rows] if id_field else [None] * len(rows)
        with self.lock:
            verdicts = self._store.check(source.name, times, ids)
            accepted = [r for r, v in zip(rows, verdicts, strict=True) if v is Verdict.ACCEPTED]
            first = self._log.last_seq() + 1
            if accepted:
                self._log.append(source, accepted, first)
            for row, verdict in zip(rows, verdicts, strict=True):
                if verdict is Verdict.LATE:
                    self._dead_letters.write(source.name, row, verdict.value)
            self._store.apply_many(
                [
                    (
                        source.name,
                        row,
                        row[ts_field],
                        first + i,
                        row[id_field] if id_field else None,
                    )
                    for i, row in enumerate(accepted)
                ]
            )
        if accepted:
            self._notify(source.name, accepted)
        return PushResult(
            accepted=len(accepted),
            duplicates=verdicts.count(Verdict.DUPLICATE),
            late=verdicts.count(Verdict.LATE),
        )

    def _ingest_one(self, source: EventSource, row: dict[str, Any]) -> PushResult:
        """One event: the same steps as a batch, without the batch bookkeeping."""
        ts = row[source.timestamp]
        event_id = row[source.event_id] if source.event_id else None
        with self.lock:
            verdict = self._store.check(source.name, [ts], [event_id])[0]
            if verdict is Verdict.ACCEPTED:
                seq = self._log.last_seq() + 1
                self._log.append(source, [row], seq)
                self._store.apply(source.name, row, ts, seq, event_id)
            elif verdict is Verdict.LATE:
                self._dead_letters.write(source.name, row, verdict.value)
                return _ONE_LATE
            else:
                return _ONE_DUPLICATE
        if source.name in self.listeners:
            self._notify(source.name, [row])
        return _ONE_ACCEPTED

    def subscribe(self, source: str, listener: AcceptedListener) -> None:
        """Call ``listener`` with the rows of a source accepted by each push, once durable.

        Args:
            source: The source's name.
            listener: Called after the rows are logged and applied, outside the lock.
        """
        self.source(source)
        self.listeners.setdefault(source, []).append(listener)

    def _notify(self, source: str, rows: list[dict[str, Any]]) -> None:
        for listener in self.listeners.get(source, ()):
            listener(rows)


_ONE_ACCEPTED = PushResult(accepted=1, duplicates=0, late=0)
_ONE_LATE = PushResult(accepted=0, duplicates=0, late=1)
_ONE_DUPLICATE = PushResult(accepted=0, duplicates=1, late=0)
