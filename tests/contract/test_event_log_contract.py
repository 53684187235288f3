"""The EventLog contract, run against every implementation.

Every backend is reached through the ``log_backend`` fixture; durable ones also through
``durable_log_backend`` (reopening keeps everything) and file-backed ones through
``file_log_backend`` (torn writes). A new backend (e.g. Redis Streams) adds a factory to
``BACKENDS`` with its marker, and every test here runs against it.

The expected contents come from a plain Python model: a list of
``(source, position, row)`` in append order.
"""

from __future__ import annotations

import random
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

import upwell as uw
from upwell.eventlog.arrow_rows import arrow_schema
from upwell.eventlog.memory import MemoryEventLog
from upwell.eventlog.parquet import ParquetEventLog
from upwell.eventlog.protocol import SEQ, EventLog, Fsync

CUSTOMER = uw.Entity(name="customer", keys=("cid",))
TX = uw.EventSource(
    name="tx",
    schema={
        "tid": int,
        "cid": int,
        "amount": float,
        "note": str,
        "flag": bool,
        "emb": uw.Vector(2),
        "ts": datetime,
    },
    timestamp="ts",
    event_id="tid",
    entities=(CUSTOMER,),
)
CLICKS = uw.EventSource(
    name="clicks",
    schema={"cid": int, "page": str, "ts": datetime},
    timestamp="ts",
    entities=(CUSTOMER,),
)
SOURCES = {"tx": TX, "clicks": CLICKS}

Model = list[tuple[str, int, dict[str, Any]]]


@dataclass
class LogBackend:
    """How to open (and reopen) one implementation of the log."""

    name: str
    open: Callable[[], EventLog]
    directory: Path | None = None

    @property
    def wal(self) -> Path:
        assert self.directory is not None
        return self.directory / "wal.log"


def _memory(_: Path) -> LogBackend:
    log = MemoryEventLog()
    return LogBackend("memory", lambda: log)


def _parquet(**kwargs: Any) -> Callable[[Path], LogBackend]:
    def make(directory: Path) -> LogBackend:
        return LogBackend(
            "parquet", lambda: ParquetEventLog(directory, SOURCES, **kwargs), directory
        )

    return make


BACKENDS: dict[str, Callable[[Path], LogBackend]] = {
    "memory": _memory,
    "parquet": _parquet(),
    "parquet-flush-every-3": _parquet(flush_events=3),
    "parquet-fsync-always": _parquet(fsync=Fsync.ALWAYS),
}
DURABLE = [name for name in BACKENDS if name != "memory"]
FILE_BACKED = ["parquet", "parquet-fsync-always"]  # they keep records in the write-ahead file


@pytest.fixture(params=list(BACKENDS))
def log_backend(request: pytest.FixtureRequest, tmp_path: Path) -> LogBackend:
    return BACKENDS[request.param](tmp_path / "log")


@pytest.fixture(params=DURABLE)
def durable_log_backend(request: pytest.FixtureRequest, tmp_path: Path) -> LogBackend:
    return BACKENDS[request.param](tmp_path / "log")


@pytest.fixture(params=FILE_BACKED)
def file_log_backend(request: pytest.FixtureRequest, tmp_path: Path) -> LogBackend:
    return BACKENDS[request.param](tmp_path / "log")


def tx_row(i: int) -> dict[str, Any]:
    return {
        "tid": i,
        "cid": i % 3,
        "amount": round(i * 1.25 + 0.1, 2),
        "note": f"n{i}é",
        "flag": i % 2 == 0,
        "emb": [float(i), -0.5 * i],
        "ts": 1_700_000_000_000 + 1_000 * i,
    }


def click_row(i: int) -> dict[str, Any]:
    return {"cid": i % 4, "page": ["home", "cart"][i % 2], "ts": 1_700_000_000_000 + 700 * i}


def row_of(source: str, i: int) -> dict[str, Any]:
    return tx_row(i) if source == "tx" else click_row(i)


def append(log: EventLog, model: Model, source: str, rows: list[dict[str, Any]]) -> None:
    first = log.last_seq() + 1
    log.append(SOURCES[source], rows, first)
    model.extend((source, first + i, row) for i, row in enumerate(rows))


def append_table(log: EventLog, model: Model, source: str, rows: list[dict[str, Any]]) -> None:
    first = log.last_seq() + 1
    seqs = list(range(first, first + len(rows)))
    columns: dict[str, Any] = {SEQ: seqs}
    columns.update({name: [row[name] for row in rows] for name in SOURCES[source].schema})
    schema = arrow_schema(SOURCES[source])
    log.append_table(SOURCES[source], pa.table(columns, schema=schema))
    model.extend((source, seq, row) for seq, row in zip(seqs, rows, strict=True))


def assert_holds(log: EventLog, model: Model) -> None:
    """Everything the model says, through every read method of the contract."""
    assert log.last_seq() == (model[-1][1] if model else 0)
    assert list(log.replay(0)) == model
    for source, spec in SOURCES.items():
        expected = [{SEQ: seq, **row} for name, seq, row in model if name == source]
        table = log.read_source(spec)
        assert table.column_names == [SEQ, *spec.schema]
        assert table.to_pylist() == expected


def fill(log: EventLog, model: Model) -> None:
    """Interleaved single events and batches of both sources."""
    append(log, model, "tx", [tx_row(1)])
    append(log, model, "clicks", [click_row(1), click_row(2)])
    append(log, model, "tx", [tx_row(2), tx_row(3), tx_row(4)])
    append(log, model, "clicks", [click_row(3)])


# ---- every backend ---------------------------------------------------------------


def test_empty_log_holds_nothing(log_backend: LogBackend) -> None:
    log = log_backend.open()
    assert_holds(log, [])
    assert log.read_source(TX).schema.field("ts").type == pa.int64()


def test_append_then_read_in_position_order(log_backend: LogBackend) -> None:
    log, model = log_backend.open(), []
    fill(log, model)
    assert [seq for _, seq, _ in model] == [1, 2, 3, 4, 5, 6, 7]
    assert_holds(log, model)


def test_replay_after_a_position_yields_only_later_events(log_backend: LogBackend) -> None:
    log, model = log_backend.open(), []
    fill(log, model)
    log.flush()
    append(log, model, "tx", [tx_row(5)])
    for after in range(len(model) + 2):
        assert list(log.replay(after)) == [e for e in model if e[1] > after]


def test_flush_keeps_content_and_order(log_backend: LogBackend) -> None:
    log, model = log_backend.open(), []
    fill(log, model)
    log.flush()
    assert_holds(log, model)
    append(log, model, "clicks", [click_row(9)])
    log.flush()
    log.flush()  # a second flush with nothing new changes nothing
    assert_holds(log, model)


def test_append_table_interleaves_with_appends(log_backend: LogBackend) -> None:
    log, model = log_backend.open(), []
    append(log, model, "tx", [tx_row(1)])
    append_table(log, model, "tx", [tx_row(i) for i in range(2, 6)])
    append(log, model, "clicks", [click_row(1)])
    append_table(log, model, "clicks", [click_row(i) for i in range(2, 4)])
    append(log, model, "tx", [tx_row(6)])
    assert_holds(log, model)
    log.flush()
    assert_holds(log, model)


def test_empty_append_table_changes_nothing(log_backend: LogBackend) -> None:
    log, model = log_backend.open(), []
    fill(log, model)
    log.append_table(TX, log.read_source(TX).slice(0, 0))
    assert_holds(log, model)


@pytest.mark.parametrize("seed", range(3))
def test_random_operations_match_a_list_model(log_backend: LogBackend, seed: int) -> None:
    rng = random.Random(seed)
    log, model = log_backend.open(), []
    for step in range(30):
        source = rng.choice(list(SOURCES))
        rows = [row_of(source, 100 * step + k) for k in range(rng.randint(1, 5))]
        roll = rng.random()
        if roll < 0.15:
            log.flush()
        elif roll < 0.3:
            append_table(log, model, source, rows)
        else:
            append(log, model, source, rows)
    assert_holds(log, model)
    positions = [seq for _, seq, _ in log.replay(0)]
    assert positions == sorted(set(positions)), "positions repeat or go backwards"


# ---- durable backends -------------------------------------------------------------


def test_reopen_without_close_keeps_every_appended_event(durable_log_backend: LogBackend) -> None:
    # The first object is abandoned, not closed: what a killed process leaves behind.
    log, model = durable_log_backend.open(), []
    fill(log, model)
    assert_holds(durable_log_backend.open(), model)


def test_reopen_keeps_events_in_segments_and_write_ahead_file(
    durable_log_backend: LogBackend,
) -> None:
    log, model = durable_log_backend.open(), []
    fill(log, model)
    log.flush()
    append_table(log, model, "tx", [tx_row(i) for i in range(10, 13)])
    append(log, model, "clicks", [click_row(7)])
    reopened = durable_log_backend.open()
    assert_holds(reopened, model)
    append(reopened, model, "tx", [tx_row(20)])  # positions continue after a reopen
    assert model[-1][1] == 12
    reopened.close()
    assert_holds(durable_log_backend.open(), model)


def test_reopen_after_close_keeps_everything(durable_log_backend: LogBackend) -> None:
    log, model = durable_log_backend.open(), []
    fill(log, model)
    log.close()
    assert_holds(durable_log_backend.open(), model)


# ---- file-backed backends: torn writes and crashes inside flush ---------------------


def _records_end(log_backend: LogBackend) -> Iterator[int]:
    """Where each write-ahead record ends, in bytes: length-prefixed frames."""
    data, pos = log_backend.wal.read_bytes(), 0
    while pos < len(data):
        pos += 8 + int.from_bytes(data[pos : pos + 4], "little")
        yield pos


@pytest.mark.parametrize("cut", [1, 5, 8, 20, -1], ids=lambda c: f"cut-{c}")
def test_torn_final_record_is_dropped_and_earlier_ones_survive(
    file_log_backend: LogBackend, cut: int
) -> None:
    log, model = file_log_backend.open(), []
    append(log, model, "tx", [tx_row(1)])
    append(log, model, "clicks", [click_row(1), click_row(2)])
    ends = list(_records_end(file_log_backend))
    append(log, model, "tx", [tx_row(2), tx_row(3)])
    last = list(_records_end(file_log_backend))[-1]
    start = ends[-1]
    size = start + cut if cut > 0 else last + cut  # keep part of the header or payload
    with open(file_log_backend.wal, "r+b") as handle:
        handle.truncate(size)
    del model[-2:]
    reopened = file_log_backend.open()
    assert_holds(reopened, model)
    append(reopened, model, "tx", [tx_row(5)])  # the new record is not hidden by the torn one
    assert_holds(file_log_backend.open(), model)


@pytest.mark.parametrize(
    "garbage",
    [b"\x00", b"\xff" * 7, b"\x10\x00\x00\x00\x00\x00\x00\x00{", bytes(range(256)) * 3],
    ids=["one-zero", "short-header", "bad-crc", "long-noise"],
)
def test_garbage_after_the_last_record_is_dropped(
    file_log_backend: LogBackend, garbage: bytes
) -> None:
    log, model = file_log_backend.open(), []
    fill(log, model)
    with open(file_log_backend.wal, "ab") as handle:
        handle.write(garbage)
    reopened = file_log_backend.open()
    assert_holds(reopened, model)
    append(reopened, model, "clicks", [click_row(8)])
    assert_holds(file_log_backend.open(), model)


def test_crash_between_two_sources_segments_loses_nothing(file_log_backend: LogBackend) -> None:
    """flush() writes one segment per source, then empties the write-ahead file.

    Simulate a kill after the first source's segment was renamed into place but before
    the second one's was: the write-ahead file still holds every record, one source's
    segment exists, the other's does not. Records interleave (clicks 1-2, tx 3-4,
    clicks 5), so clicks' segment covers positions beyond tx's records.
    """
    log, model = file_log_backend.open(), []
    append(log, model, "clicks", [click_row(1), click_row(2)])
    append(log, model, "tx", [tx_row(1), tx_row(2)])
    append(log, model, "clicks", [click_row(3)])
    assert file_log_backend.directory is not None
    saved_wal = file_log_backend.directory / "wal.saved"
    shutil.copyfile(file_log_backend.wal, saved_wal)
    log.flush()
    tx_segments = file_log_backend.directory / "events" / "source=tx"
    shutil.rmtree(tx_segments)
    shutil.copyfile(saved_wal, file_log_backend.wal)
    saved_wal.unlink()
    reopened = file_log_backend.open()
    assert_holds(reopened, model)
    reopened.flush()  # completing the interrupted flush keeps everything once
    assert_holds(reopened, model)
    assert_holds(file_log_backend.open(), model)
