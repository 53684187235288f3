"""The worker loop: fetch, validate, admit, log, apply, dead-letter, acknowledge.

Each batch goes through the steps in order, and a message is acknowledged only after
its effect is durable: an accepted event logged (write-ahead file) and applied to the
online store, a refused one stored in the broker's dead-letter stream. A worker that
dies anywhere before the acknowledgement has its batch delivered again, to itself after
a restart or to another worker of the group; the online store refuses event ids it
has already applied, so every event takes effect once.

Fetches are sized by the free room under ``max_in_flight`` (back-pressure): the worker
never holds more unacknowledged messages than that, and a slow store slows fetching.
A failure the worker can wait out (the broker or the store briefly unreachable) is
retried with growing pauses, holding the batch; anything else stops the worker, and
its unacknowledged messages go back to the group.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from upwell.definitions.source import EventSource
from upwell.engine.admission import Verdict
from upwell.sources.back_pressure import InFlight
from upwell.sources.errors import BrokerError
from upwell.sources.protocol import BrokerSource, DeadLetter, DeadLetterReason, Message
from upwell.stores.protocol import OnlineStore
from upwell.workers.errors import WorkerError
from upwell.workers.intake import read_messages
from upwell.workers.partitioned_log import PartitionedEventLog

logger = logging.getLogger("upwell.worker")
T = TypeVar("T")
_FIRST_PAUSE_S = 0.05
_LONGEST_PAUSE_S = 2.0


class Positions(Protocol):
    """Hands out log positions; across workers sharing a store, they never repeat."""

    def next_seq(self, count: int = 1) -> int:
        """Reserve ``count`` consecutive positions; returns the first."""
        ...


class LocalPositions:
    """Positions counted in this process (for a store only this worker writes).

    Args:
        after: The last position already used.
    """

    def __init__(self, after: int = 0) -> None:
        self._last = after

    def next_seq(self, count: int = 1) -> int:  # noqa: D102
        first = self._last + 1
        self._last += count
        return first


@dataclass
class WorkerStats:
    """What a worker has done since it started."""

    fetched: int = 0
    accepted: int = 0
    duplicates: int = 0
    late: int = 0
    invalid: int = 0
    batches: int = 0
    retries: int = 0
    largest_fetch: int = 0


class Worker:
    """Consumes one broker stream into one event source.

    Args:
        source: The event source the stream carries (it must declare an ``event_id``).
        broker: The broker consumer.
        store: The online store (shared by every worker of the group).
        log: This worker's writer of the partitioned event log.
        positions: Where log positions come from.
        max_in_flight: The most fetched, unacknowledged messages at once.
        transient: Errors to wait out and retry (besides the broker's).

    Raises:
        WorkerError: The source has no event id.
    """

    def __init__(
        self,
        *,
        source: EventSource,
        broker: BrokerSource,
        store: OnlineStore,
        log: PartitionedEventLog,
        positions: Positions,
        max_in_flight: int = 500,
        transient: tuple[type[BaseException], ...] = (),
    ) -> None:
        if source.event_id is None:
            msg = "has no event_id, so a redelivered event could be applied twice"
            raise WorkerError(
                msg,
                where=f"EventSource {source.name!r}",
                fix="declare event_id=... naming a field that identifies each event",
            )
        self._source = source
        self._id_field: str = source.event_id
        self._broker = broker
        self._store = store
        self._log = log
        self._positions = positions
        self.in_flight = InFlight(max_in_flight)
        self._transient: tuple[type[BaseException], ...] = (
            BrokerError,
            ConnectionError,
            TimeoutError,
            *transient,
        )
        self.stats = WorkerStats()

    def step(self, timeout_s: float) -> int:
        """Fetch one batch (waiting up to ``timeout_s``) and handle it completely.

        Args:
            timeout_s: How long to wait for the first message.

        Returns:
            How many messages the batch held.
        """
        messages = self._retry(lambda: self._broker.fetch(self.in_flight.room(), timeout_s))
        if messages:
            self.in_flight.take(len(messages))
            try:
                self._handle(messages)
            finally:
                self.in_flight.release(len(messages))
        if self._log.is_roll_due():
            self.checkpoint()
        return len(messages)

    def checkpoint(self) -> None:
        """Write the logged events out as Parquet and checkpoint the online store."""
        self._log.roll()
        self._retry(self._store.checkpoint)

    def run(self, should_stop: Callable[[], bool], idle_timeout_s: float = 0.5) -> None:
        """Handle batches until ``should_stop()`` is true (checked between batches).

        Args:
            should_stop: Tells when to stop.
            idle_timeout_s: How long one fetch waits for a message.
        """
        while not should_stop():
            self.step(idle_timeout_s)

    def _handle(self, messages: Sequence[Message]) -> None:
        self.stats.fetched += len(messages)
        self.stats.batches += 1
        self.stats.largest_fetch = max(self.stats.largest_fetch, len(messages))
        intake = read_messages(self._source, messages)
        letters = list(intake.letters)
        self.stats.invalid += len(letters)
        rows = intake.rows
        ts_field, id_field = self._source.timestamp, self._id_field
        times = [row[ts_field] for row in rows]
        ids = [row[id_field] for row in rows]
        verdicts = self._retry(lambda: self._store.check(self._source.name, times, ids))
        accepted = [r for r, v in zip(rows, verdicts, strict=True) if v is Verdict.ACCEPTED]
        for i, verdict in enumerate(verdicts):
            if verdict is Verdict.LATE:
                detail = f"event time {times[i]} ms is later than the allowed lateness allows"
                letters.append(
                    DeadLetter(
                        intake.payloads[i], DeadLetterReason.LATE, detail, intake.positions[i]
                    )
                )
        self.stats.late += verdicts.count(Verdict.LATE)
        self.stats.duplicates += verdicts.count(Verdict.DUPLICATE)
        if accepted:
            first = self._retry(lambda: self._positions.next_seq(len(accepted)))
            seqs = list(range(first, first + len(accepted)))
            self._log.append(self._source, accepted, seqs)
            self._apply(accepted, seqs)
        self._retry(lambda: self._broker.dead_letter(letters))
        self._retry(lambda: self._broker.ack(messages))
        self.stats.accepted += len(accepted)

    def _apply(self, rows: list[dict[str, Any]], seqs: list[int]) -> None:
        name, ts_field, id_field = self._source.name, self._source.timestamp, self._id_field
        batch = [
            (name, row, row[ts_field], seq, row[id_field])
            for row, seq in zip(rows, seqs, strict=True)
        ]
        # One round trip per batch. After a failure some events may be applied already:
        # the store skips an event an entity already holds, so applying again is safe.
        self._retry(lambda: self._store.apply_many(batch))

    def _retry(self, call: Callable[[], T]) -> T:
        attempt = 0
        while True:
            try:
                return call()
            except self._transient as error:
                attempt += 1
                self._pause(error, attempt)

    def _pause(self, error: BaseException, attempt: int) -> None:
        self.stats.retries += 1
        pause = min(_LONGEST_PAUSE_S, _FIRST_PAUSE_S * 2 ** min(attempt - 1, 8))
        logger.warning("%s; retrying in %.2f s", error, pause)
        time.sleep(pause)

    def close(self) -> None:
        """Checkpoint, close the log and the broker connection (the store is the caller's)."""
        try:
            self.checkpoint()
        finally:
            self._log.close()
            self._broker.close()
