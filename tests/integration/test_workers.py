"""The pieces of a worker: broker URLs, settings, intake, the partitioned log, the loop.

The loop is driven here through an in-memory broker (a fake with the BrokerSource
contract's behaviour), so a store failing mid-batch can be staged exactly; the real
brokers are covered by the contract suite and the fault tests.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
import typer
from typer.testing import CliRunner

import upwell as uw
from integration.brokers import fresh_stream, servers_for
from integration.worker_fleet import write_project
from upwell.cli.worker import worker as worker_command
from upwell.config import load_definitions
from upwell.engine.admission import Verdict
from upwell.sources.address import Broker, parse_address
from upwell.sources.codec import encode_event
from upwell.sources.errors import SourceAddressError
from upwell.sources.protocol import DeadLetter, DeadLetterReason, Message
from upwell.stores.memory import MemoryStore
from upwell.workers.errors import WorkerError
from upwell.workers.intake import read_messages
from upwell.workers.log_reader import read_log
from upwell.workers.partitioned_log import PartitionedEventLog
from upwell.workers.settings import WorkerKey, load_worker_settings
from upwell.workers.worker import LocalPositions, Worker

T0 = datetime(2024, 3, 1, 23, 30, tzinfo=UTC)
CUSTOMER = uw.Entity(name="customer", keys=("cid",))
TX = uw.EventSource(
    name="tx",
    schema={"tid": int, "cid": int, "amount": float, "ts": datetime},
    timestamp="ts",
    event_id="tid",
    entities=(CUSTOMER,),
    allowed_lateness="1h",
)
SPEND = uw.FeatureView(
    name="spend",
    entity=CUSTOMER,
    source=TX,
    features=(
        uw.Feature(name="n", aggregation=uw.Count()),
        uw.Feature(name="total", aggregation=uw.Sum("amount")),
    ),
)
REGISTRY = uw.validate([SPEND])


def event(tid: int, minutes: int = 0, cid: int = 1, amount: float = 1.0) -> dict[str, Any]:
    return {"tid": tid, "cid": cid, "amount": amount, "ts": T0 + timedelta(minutes=minutes)}


def row(tid: int, minutes: int = 0, cid: int = 1, amount: float = 1.0) -> dict[str, Any]:
    ts = T0 + timedelta(minutes=minutes)
    return {"tid": tid, "cid": cid, "amount": amount, "ts": int(ts.timestamp() * 1000)}


# ---- broker URLs --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "nats://127.0.0.1:4222/ORDERS",
            (Broker.NATS, "127.0.0.1:4222", "ORDERS", "upwell", "ORDERS.dead", "ORDERS.events", 0),
        ),
        (
            "nats://a:1,b:2/ORDERS?subject=shop.orders&dead=shop.bad&group=g",
            (Broker.NATS, "a:1,b:2", "ORDERS", "g", "shop.bad", "shop.orders", 0),
        ),
        (
            "redis://:pw@cache:6379/3/orders",
            (Broker.REDIS, ":pw@cache:6379", "orders", "upwell", "orders:dead", "", 3),
        ),
        (
            "kafka://k:9092/orders.v1?group=features",
            (Broker.KAFKA, "k:9092", "orders.v1", "features", "orders.v1.dead", "", 0),
        ),
    ],
    ids=["nats-defaults", "nats-options", "redis-db", "kafka"],
)
def test_broker_urls_parse(url: str, expected: tuple[Any, ...]) -> None:
    a = parse_address(url)
    assert (a.broker, a.servers, a.stream, a.group, a.dead, a.subject, a.db) == expected
    assert "pw" not in str(a)


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("amqp://h:5672/q", "not a broker"),
        ("nats:///ORDERS", "no server"),
        ("nats://h:4222/", "does not name one valid stream"),
        ("nats://h:4222/A.B", "does not name one valid stream"),
        ("kafka://h:9092/a/b", "does not name one valid stream"),
        ("kafka://h:9092/t?colour=red", "unknown option 'colour'"),
        ("redis://h:6379/s?subject=x", "NATS only"),
        ("nats://h:4222/S?ack_wait_s=never", "ack_wait_s='never'"),
        ("redis://:secret@h:6379/s?bad=1", "***"),
    ],
    ids=[
        "scheme",
        "server",
        "no-stream",
        "nats-dot",
        "two-parts",
        "option",
        "subject",
        "wait",
        "pw",
    ],
)
def test_bad_broker_urls_say_what_is_wrong(url: str, words: str) -> None:
    with pytest.raises(SourceAddressError) as raised:
        parse_address(url)
    assert words in str(raised.value)
    assert "secret" not in str(raised.value)


# ---- settings -------------------------------------------------------------------------


def test_settings_merge_the_table_and_the_options(tmp_path: Path) -> None:
    table = {"source": "nats://h:4222/A", "store": "memory", "log": "wlog", "max_in_flight": 50}
    settings = load_worker_settings(
        table,
        {WorkerKey.SOURCE: "kafka://k:9092/t", WorkerKey.MAX_IN_FLIGHT: None},
        REGISTRY,
        root=tmp_path,
        default_log=tmp_path / "default",
        where="upwell.toml [worker]",
    )
    assert settings.address.broker is Broker.KAFKA
    assert (settings.source, settings.store, settings.log) == (TX, "memory", tmp_path / "wlog")
    assert (settings.max_in_flight, settings.roll_interval_s) == (50, 10.0)


@pytest.mark.parametrize(
    ("table", "words"),
    [
        ({}, "no broker to consume"),
        ({"source": "nats://h:4222/A", "colour": 1}, "unknown keys ['colour']"),
        ({"source": "nats://h:4222/A", "max_in_flight": 0}, "positive number"),
        ({"source": "nats://h:4222/A", "max_in_flight": 2.5}, "whole number"),
        ({"source": "nats://h:4222/A", "event_source": "clicks"}, "unknown event source"),
        ({"source": "nats://h:4222/A", "store": ""}, "non-empty string"),
    ],
    ids=["no-source", "unknown-key", "zero", "fraction", "event-source", "empty-store"],
)
def test_bad_settings_say_what_is_wrong(table: dict[str, Any], words: str, tmp_path: Path) -> None:
    with pytest.raises(WorkerError) as raised:
        load_worker_settings(
            table, {}, REGISTRY, root=tmp_path, default_log=tmp_path, where="upwell.toml [worker]"
        )
    assert words in str(raised.value)
    assert "upwell.toml [worker]" in str(raised.value)


# ---- intake ---------------------------------------------------------------------------


def test_intake_keeps_valid_events_and_dead_letters_the_rest() -> None:
    payloads = [
        encode_event(event(1)),
        b"\xff\xfe",
        encode_event(event(2, amount=2.5)),
        b'"a string"',
        encode_event({**event(3), "amount": None}),
    ]
    messages = [Message(p, i, f"s:{i}") for i, p in enumerate(payloads)]
    intake = read_messages(TX, messages)
    assert intake.rows == [row(1), row(2, amount=2.5)]
    assert intake.positions == ["s:0", "s:2"]
    assert [(x.position, x.reason) for x in intake.letters] == [
        ("s:1", DeadLetterReason.INVALID),
        ("s:3", DeadLetterReason.INVALID),
        ("s:4", DeadLetterReason.INVALID),
    ]
    assert "not JSON" in intake.letters[0].detail
    assert "not a JSON object" in intake.letters[1].detail
    assert "amount" in intake.letters[2].detail
    assert "missing" in intake.letters[2].detail


# ---- the partitioned log ----------------------------------------------------------------


def test_the_log_partitions_by_source_and_date_and_duckdb_reads_it(tmp_path: Path) -> None:
    log = PartitionedEventLog(tmp_path, "w1", REGISTRY.sources)
    log.append(TX, [row(1, 0), row(2, 40), row(3, 50)], [1, 2, 3])  # 23:30, 00:10, 00:20
    log.close()
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.parquet"))
    assert files == [
        "source=tx/date=2024-03-01/part-w1-0000000001.parquet",
        "source=tx/date=2024-03-02/part-w1-0000000001.parquet",
    ]
    rows = duckdb.sql(
        f"SELECT tid, __seq__, source, CAST(date AS VARCHAR) FROM read_parquet("  # noqa: S608
        f"'{tmp_path}/*/*/*.parquet', hive_partitioning = true) ORDER BY tid"
    ).fetchall()
    assert rows == [
        (1, 1, "tx", "2024-03-01"),
        (2, 2, "tx", "2024-03-02"),
        (3, 3, "tx", "2024-03-02"),
    ]


def test_a_roll_cut_short_by_a_crash_is_finished_on_restart(tmp_path: Path) -> None:
    log = PartitionedEventLog(tmp_path / "log", "w1", REGISTRY.sources)
    log.append(TX, [row(1, 0), row(2, 40)], [1, 2])
    wal = tmp_path / "log" / "_wal" / "w1.wal"
    shutil.copy(wal, tmp_path / "wal.copy")
    written = log.roll()
    log.close()
    # the state a crash leaves inside the roll: one file renamed, the other not, and the
    # write-ahead file not yet emptied
    shutil.copy(tmp_path / "wal.copy", wal)
    written[1].unlink()
    reopened = PartitionedEventLog(tmp_path / "log", "w1", REGISTRY.sources)
    reopened.append(TX, [row(3, 45)], [3])
    reopened.roll()
    reopened.append(TX, [row(4, 50)], [4])
    reopened.close()
    table = duckdb.sql(
        f"SELECT tid FROM read_parquet('{tmp_path}/log/*/*/*.parquet') ORDER BY tid"  # noqa: S608
    ).fetchall()
    assert table == [(1,), (2,), (3,), (4,)]


def test_read_log_keeps_one_copy_of_each_event(tmp_path: Path) -> None:
    for name, tids in (("w1", [1, 2, 3]), ("w2", [3, 4])):  # w2 logged 3 again
        log = PartitionedEventLog(tmp_path, name, REGISTRY.sources)
        log.append(TX, [row(t, t) for t in tids], [10 * t + len(name) for t in tids])
        log.close()
    table = read_log(tmp_path, TX)
    assert table["tid"].to_pylist() == [1, 2, 3, 4]
    assert table["__seq__"].to_pylist() == [12, 22, 32, 42]


def test_two_running_workers_cannot_share_a_name(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from pathlib import Path; from upwell.workers.partitioned_log import "
            "PartitionedEventLog as L; log = L(Path(sys.argv[1]), 'w1', {}); print('held', "
            "flush=True); sys.stdin.read()",
            str(tmp_path),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(WorkerError, match="another running worker is named 'w1'"):
            PartitionedEventLog(tmp_path, "w1", REGISTRY.sources)
        PartitionedEventLog(tmp_path, "w2", REGISTRY.sources).close()
    finally:
        holder.communicate("")
    PartitionedEventLog(tmp_path, "w1", REGISTRY.sources).close()  # free once it exited


# ---- the loop, through an in-memory broker ----------------------------------------------


class ListBroker:
    """An in-memory broker: delivers its messages in order, redelivers unacknowledged ones."""

    def __init__(self, payloads: list[bytes]) -> None:
        self.queue = [Message(p, i, f"mem:{i}") for i, p in enumerate(payloads)]
        self.acked: list[int] = []
        self.applied_at_ack: list[int] = []
        self.store: FlakyStore | None = None
        self.letters: list[DeadLetter] = []
        self.fetch_sizes: list[int] = []

    def fetch(self, max_messages: int, timeout_s: float) -> list[Message]:
        batch, self.queue = self.queue[:max_messages], self.queue[max_messages:]
        self.fetch_sizes.append(len(batch))
        return batch

    def ack(self, messages: Sequence[Message]) -> None:
        self.acked.extend(m.handle for m in messages)
        if self.store is not None:
            self.applied_at_ack.append(self.store.applied)

    def dead_letter(self, letters: Sequence[DeadLetter]) -> None:
        self.letters.extend(letters)

    def close(self) -> None:
        return None


class FlakyStore(MemoryStore):
    """A memory store whose n-th apply fails once before reaching the state."""

    def __init__(self, fail_at: int) -> None:
        super().__init__(REGISTRY)
        self.calls = 0
        self.applied = 0
        self.fail_at = fail_at

    def apply(self, source: str, event: Any, ts: int, seq: int, event_id: Any) -> None:
        self.calls += 1
        if self.calls == self.fail_at:
            msg = "lost the connection"
            raise ConnectionError(msg)
        super().apply(source, event, ts, seq, event_id)
        self.applied += 1


def test_a_store_failure_mid_batch_is_retried_and_acks_wait_for_it(tmp_path: Path) -> None:
    events = [event(i, minutes=i, cid=i % 2, amount=float(i)) for i in range(10)]
    late = event(99, minutes=-120)
    payloads = [encode_event(e) for e in [*events, events[4], late]]
    broker = ListBroker(payloads)
    store = FlakyStore(fail_at=7)
    broker.store = store
    worker = Worker(
        source=TX,
        broker=broker,
        store=store,
        log=PartitionedEventLog(tmp_path, "w1", REGISTRY.sources),
        positions=LocalPositions(),
        max_in_flight=4,
    )
    while worker.step(0.0):
        pass
    worker.close()
    assert broker.fetch_sizes == [4, 4, 4, 0]
    assert sorted(broker.acked) == list(range(12))
    assert broker.applied_at_ack == [4, 8, 10]  # each batch acknowledged once applied
    assert [(x.reason, x.position) for x in broker.letters] == [(DeadLetterReason.LATE, "mem:11")]
    assert (worker.stats.accepted, worker.stats.duplicates, worker.stats.late) == (10, 1, 1)
    assert worker.stats.retries == 1
    as_of = int((T0 + timedelta(minutes=10)).timestamp() * 1000)
    for cid in (0, 1):
        mine = [e["amount"] for e in events if e["cid"] == cid]
        got = store.read("spend", [(cid,)], as_of)[0]
        assert (got["n"], got["total"]) == (len(mine), sum(mine))
    assert store.check("tx", [row(4)["ts"]], [4]) == [Verdict.DUPLICATE]
    assert read_log(tmp_path, TX)["tid"].to_pylist() == list(range(10))


def test_a_source_without_event_ids_is_refused(tmp_path: Path) -> None:
    clicks = uw.EventSource(
        name="clicks", schema={"cid": int, "ts": datetime}, timestamp="ts", entities=(CUSTOMER,)
    )
    with pytest.raises(WorkerError, match="no event_id"):
        Worker(
            source=clicks,
            broker=ListBroker([]),
            store=MemoryStore(REGISTRY),
            log=PartitionedEventLog(tmp_path, "w1", REGISTRY.sources),
            positions=LocalPositions(),
        )


# ---- the command ------------------------------------------------------------------------


@pytest.mark.nats
def test_the_worker_command_drains_a_stream(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    app = typer.Typer()
    app.command()(worker_command)
    project = write_project(tmp_path / "project")
    events = [
        {"tid": i, "cid": i % 3, "amount": 1.5, "ts": T0 + timedelta(minutes=2 * i)}
        for i in range(30)
    ]
    with fresh_stream(Broker.NATS, servers_for(Broker.NATS, request), "tid") as stream:
        stream.publisher.publish(events)
        stream.publisher.publish_raw([b"oops"])
        args = ["--source", stream.url, "--store", "memory", "--log", str(tmp_path / "log")]
        args += ["--name", "cli", "--stop-when-idle", "0.5", "-p", str(project)]
        result = CliRunner().invoke(app, args)
        letters = stream.publisher.dead_letters()
    assert result.exit_code == 0, result.output
    assert "accepted 30  duplicates 0  late 0  invalid 1" in result.output
    assert [(x["payload"], x["reason"]) for x in letters] == [(b"oops", DeadLetterReason.INVALID)]
    source = uw.validate(load_definitions(project / "features.py")).sources["tx"]
    assert read_log(tmp_path / "log", source)["tid"].to_pylist() == list(range(30))
    assert Counter(p.parent.name for p in (tmp_path / "log").rglob("*.parquet")) == {
        "date=2024-03-01": 1,
        "date=2024-03-02": 1,
    }
