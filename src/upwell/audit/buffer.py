"""A bounded buffer drained by a background thread: the scorer never waits for I/O.

``offer`` appends under a lock and returns at once; when the buffer holds ``capacity``
items it refuses the item and counts it as dropped. The writer thread wakes every
``flush_interval_s`` (or as soon as the buffer is half full), takes everything buffered
and hands it, in order, to the backend's ``write`` function in one batch.
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from upwell.audit.errors import AuditClosedError, AuditError

__all__ = ["BufferCounts", "RecordBuffer"]

T = TypeVar("T")


@dataclass(frozen=True)
class BufferCounts:
    """What a :class:`RecordBuffer` has done (see :class:`~upwell.audit.LogStats`)."""

    accepted: int
    dropped: int
    buffered: int
    written: int
    failed: int
    last_error: str | None


class RecordBuffer(Generic[T]):
    """A bounded in-memory queue with one writer thread.

    Args:
        write: Stores a batch durably; called on the writer thread, in acceptance order.
            If it raises, the batch counts as failed and the error is kept.
        capacity: The most items buffered at once.
        flush_interval_s: How long the writer sleeps between batches.
        name: The writer thread's name.
        tick: Called on the writer thread after every wake-up (periodic maintenance).

    Raises:
        AuditError: If ``capacity`` < 1 or ``flush_interval_s`` <= 0.
    """

    def __init__(
        self,
        write: Callable[[list[T]], None],
        *,
        capacity: int,
        flush_interval_s: float,
        name: str,
        tick: Callable[[], None] | None = None,
    ) -> None:
        if capacity < 1 or flush_interval_s <= 0:
            msg = f"capacity={capacity}, flush_interval_s={flush_interval_s}"
            raise AuditError(
                msg,
                where=name,
                fix="use a capacity of at least 1 and a positive flush interval.",
            )
        self.capacity = capacity
        self.flush_interval_s = flush_interval_s
        self._write = write
        self._tick = tick
        self._pending: list[T] = []
        self._lock = threading.Lock()
        self._done = threading.Condition()
        self._wake = threading.Event()
        self._high_water = max(1, capacity // 2)
        self._accepted = self._dropped = self._written = self._failed = 0
        self._last_error: str | None = None
        self._closing = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()
        atexit.register(self.close)

    def offer(self, item: T) -> bool:
        """Buffer an item without blocking.

        Args:
            item: The item.

        Returns:
            True if buffered; False if the buffer was full (the item is counted as dropped).

        Raises:
            AuditClosedError: If the buffer was closed.
        """
        with self._lock:
            if self._closing:
                msg = "the log is closed"
                raise AuditClosedError(msg, where=self._thread.name, fix="open a new log.")
            if len(self._pending) >= self.capacity:
                self._dropped += 1
                return False
            self._pending.append(item)
            self._accepted += 1
            size = len(self._pending)
        if size >= self._high_water and not self._wake.is_set():
            self._wake.set()
        return True

    def counts(self) -> BufferCounts:
        """The buffer's counters now."""
        with self._lock:
            accepted, dropped, buffered = self._accepted, self._dropped, len(self._pending)
        with self._done:
            return BufferCounts(
                accepted, dropped, buffered, self._written, self._failed, self._last_error
            )

    def flush(self, timeout_s: float | None = None) -> bool:
        """Wait until every item accepted before the call is written or failed.

        Args:
            timeout_s: The longest wait; None waits as long as it takes.

        Returns:
            False if the wait timed out.
        """
        with self._lock:
            target = self._accepted
        self._wake.set()
        with self._done:
            return self._done.wait_for(lambda: self._written + self._failed >= target, timeout_s)

    def _take(self) -> list[T]:
        with self._lock:
            batch, self._pending = self._pending, []
        return batch

    def _note(self, written: int, failed: int, error: BaseException | None) -> None:
        with self._done:
            self._written += written
            self._failed += failed
            if error is not None:
                self._last_error = f"{type(error).__name__}: {error}"
            self._done.notify_all()

    def _run(self) -> None:
        while True:
            self._wake.wait(self.flush_interval_s)
            self._wake.clear()
            closing = self._closing
            batch = self._take()
            if batch:
                try:
                    self._write(batch)
                except Exception as error:
                    self._note(0, len(batch), error)
                else:
                    self._note(len(batch), 0, None)
            if self._tick is not None:
                try:
                    self._tick()
                except Exception as error:
                    self._note(0, 0, error)
            if closing:
                return

    def close(self, timeout_s: float | None = None) -> None:
        """Write what is buffered, then stop the writer thread (idempotent).

        Args:
            timeout_s: The longest wait for the last batch.
        """
        atexit.unregister(self.close)
        with self._lock:
            self._closing = True
        self._wake.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout_s)
