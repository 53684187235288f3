"""The bounded buffer: never blocks, counts every drop and failure, writes in order."""

from __future__ import annotations

import threading

import pytest

from upwell.audit import AuditClosedError, AuditError
from upwell.audit.buffer import RecordBuffer


class GatedWriter:
    """A write function that waits until the test opens the gate, then keeps the items."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.items: list[int] = []
        self.fail_next = False

    def __call__(self, batch: list[int]) -> None:
        self.entered.set()
        self.gate.wait()
        if self.fail_next:
            self.fail_next = False
            msg = "disk full"
            raise OSError(msg)
        self.items.extend(batch)


def test_a_full_buffer_drops_and_counts_without_blocking() -> None:
    writer = GatedWriter()
    buffer = RecordBuffer(writer, capacity=4, flush_interval_s=0.001, name="test")
    try:
        assert buffer.offer(0)
        assert writer.entered.wait(5)  # the writer took [0] and is stuck in write()
        results = [buffer.offer(i) for i in range(1, 8)]
        assert results == [True] * 4 + [False] * 3
        counts = buffer.counts()
        assert (counts.accepted, counts.dropped, counts.buffered, counts.written) == (5, 3, 4, 0)
        writer.gate.set()
        assert buffer.flush(5)
        counts = buffer.counts()
        assert (counts.written, counts.buffered, counts.failed) == (5, 0, 0)
        assert writer.items == [0, 1, 2, 3, 4]
    finally:
        writer.gate.set()
        buffer.close()


def test_a_failed_write_is_counted_with_its_error() -> None:
    writer = GatedWriter()
    writer.fail_next = True
    writer.gate.set()
    buffer = RecordBuffer(writer, capacity=10, flush_interval_s=0.001, name="test")
    try:
        for i in range(3):
            buffer.offer(i)
        assert buffer.flush(5)
        buffer.offer(3)
        assert buffer.flush(5)
        counts = buffer.counts()
        assert counts.failed + counts.written == 4
        assert counts.failed >= 1
        assert counts.last_error == "OSError: disk full"
        assert writer.items[-1] == 3
    finally:
        buffer.close()


def test_close_writes_what_is_buffered_and_refuses_more() -> None:
    writer = GatedWriter()
    writer.gate.set()
    buffer = RecordBuffer(writer, capacity=100, flush_interval_s=60.0, name="test")
    for i in range(10):
        buffer.offer(i)
    buffer.close()
    assert writer.items == list(range(10))
    with pytest.raises(AuditClosedError):
        buffer.offer(11)
    buffer.close()  # idempotent


def test_flush_times_out_while_the_writer_is_stuck() -> None:
    writer = GatedWriter()
    buffer = RecordBuffer(writer, capacity=10, flush_interval_s=0.001, name="test")
    try:
        buffer.offer(1)
        assert writer.entered.wait(5)
        assert not buffer.flush(0.01)
    finally:
        writer.gate.set()
        buffer.close()


@pytest.mark.parametrize(("capacity", "interval"), [(0, 1.0), (10, 0.0)])
def test_bad_settings_are_refused(capacity: int, interval: float) -> None:
    with pytest.raises(AuditError, match="capacity"):
        RecordBuffer(GatedWriter(), capacity=capacity, flush_interval_s=interval, name="t")
