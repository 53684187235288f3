"""``upwell worker``: consume a broker stream into the online store and the event log."""

from __future__ import annotations

import logging
import signal
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import typer

from upwell.cli.console import err, out, report_errors
from upwell.cli.errors import CommandError
from upwell.cli.workspace import ProjectOption, load_workspace
from upwell.definitions.registry import Registry
from upwell.eventlog.protocol import Fsync
from upwell.sources.connect import open_source
from upwell.stores.memory import MemoryStore
from upwell.stores.protocol import OnlineStore
from upwell.workers.partitioned_log import PartitionedEventLog
from upwell.workers.settings import MEMORY_STORE, WorkerKey, WorkerSettings, load_worker_settings
from upwell.workers.worker import LocalPositions, Positions, Worker, WorkerStats

_STORE_WAIT_S = 60.0


@report_errors
def worker(
    source: Annotated[
        str | None,
        typer.Option(
            "--source", help="Broker URL: nats://h:4222/STREAM, redis://h:6379/STREAM, kafka://."
        ),
    ] = None,
    event_source: Annotated[
        str | None, typer.Option(help="The event source the stream carries (its definition).")
    ] = None,
    store: Annotated[
        str | None, typer.Option(help="Online store: redis://host:6379/0 (shared) or memory.")
    ] = None,
    store_prefix: Annotated[
        str | None, typer.Option(help="The Redis store's key prefix (default upwell).")
    ] = None,
    log: Annotated[Path | None, typer.Option(help="Event log directory (shared).")] = None,
    name: Annotated[
        str,
        typer.Option(
            envvar="UPWELL_WORKER_NAME",
            help="This worker's name: unique in its group, the same after a restart.",
        ),
    ] = socket.gethostname(),
    max_in_flight: Annotated[
        int | None, typer.Option(min=1, help="Most unacknowledged messages held at once.")
    ] = None,
    stop_when_idle: Annotated[
        float | None,
        typer.Option(help="Exit after this many seconds without a message (replays, jobs)."),
    ] = None,
    project: ProjectOption = Path(),
) -> None:
    """Consume events from NATS JetStream, Redis Streams or Kafka.

    Any number of workers with the same --source share the stream through its consumer
    group. Each event is validated, admitted (duplicates and late events refused),
    logged and applied to the online store before it is acknowledged; refused events go
    to the stream's dead letters with the reason. Settings may also come from
    upwell.toml's [worker] table; options override it. SIGTERM or Ctrl-C finishes the
    batch in hand, writes the log out and exits.
    """
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    workspace = load_workspace(project)
    config = workspace.config
    overrides: dict[WorkerKey, Any] = {
        WorkerKey.SOURCE: source,
        WorkerKey.EVENT_SOURCE: event_source,
        WorkerKey.STORE: store,
        WorkerKey.STORE_PREFIX: store_prefix,
        WorkerKey.LOG: str(log.resolve()) if log is not None else None,
        WorkerKey.MAX_IN_FLIGHT: max_in_flight,
    }
    settings = load_worker_settings(
        config.sections.get("worker", {}),
        overrides,
        workspace.registry,
        root=config.root,
        default_log=config.data / "worker-log",
        where=f"{config.file} [worker]",
    )
    with _stop_signals() as stopping:  # from here on, SIGTERM stops cleanly
        online, positions = _open_store(settings, workspace.registry, name)
        try:
            consumer = _build(settings, online, positions, name, config.fsync)
            stats = _run(
                consumer,
                stopping,
                stop_when_idle,
                f"worker {name} consuming {settings.address} into {settings.source.name!r}",
            )
        finally:
            online.close()
    out.print(
        f"worker {name}: accepted {stats.accepted}  duplicates {stats.duplicates}  "
        f"late {stats.late}  invalid {stats.invalid}  (batches {stats.batches})"
    )


def _run(
    consumer: Worker, stopping: threading.Event, stop_when_idle: float | None, banner: str
) -> WorkerStats:
    err.print(banner)
    last_message = time.monotonic()
    try:
        while not stopping.is_set():
            if consumer.step(0.5):
                last_message = time.monotonic()
            elif _is_idle(last_message, stop_when_idle):
                break
    finally:
        consumer.close()
    return consumer.stats


def _is_idle(last_message: float, stop_when_idle: float | None) -> bool:
    return stop_when_idle is not None and time.monotonic() - last_message >= stop_when_idle


def _build(
    settings: WorkerSettings, online: OnlineStore, positions: Positions, name: str, fsync: Fsync
) -> Worker:
    log = PartitionedEventLog(
        settings.log,
        name,
        {settings.source.name: settings.source},
        fsync=fsync,
        roll_interval_s=settings.roll_interval_s,
    )
    try:
        broker = open_source(settings.address, name, settings.max_in_flight)
    except BaseException:
        log.close()
        raise
    return Worker(
        source=settings.source,
        broker=broker,
        store=online,
        log=log,
        positions=positions,
        max_in_flight=settings.max_in_flight,
        transient=_store_transient_errors(settings.store),
    )


@contextmanager
def _stop_signals() -> Iterator[threading.Event]:
    """An event set by SIGTERM or SIGINT (checked between batches); handlers restored after."""
    stopping = threading.Event()

    def stop(_signum: int, _frame: FrameType | None) -> None:
        stopping.set()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stopping
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _open_store(
    settings: WorkerSettings, registry: Registry, name: str
) -> tuple[OnlineStore, Positions]:
    url = settings.store
    if url == MEMORY_STORE:
        return MemoryStore(registry), LocalPositions()
    if not url.startswith(("redis://", "rediss://", "unix://")):
        msg = f"{url!r} is not an online store upwell workers can share"
        raise CommandError(
            msg, where="--store", fix="use redis://host:6379/0 (or memory, for one worker)"
        )
    from upwell.stores.redis import RedisStore  # noqa: PLC0415 (optional extra)
    from upwell.stores.redis_errors import RedisUnavailableError  # noqa: PLC0415

    deadline = time.monotonic() + _STORE_WAIT_S
    while True:  # a worker started while Redis restarts waits for it
        try:
            redis_store = RedisStore(registry, url, prefix=settings.store_prefix, writer=name)
            return redis_store, redis_store
        except RedisUnavailableError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def _store_transient_errors(url: str) -> tuple[type[BaseException], ...]:
    if url == MEMORY_STORE:
        return ()
    from upwell.stores.redis_errors import (  # noqa: PLC0415
        RedisUnavailableError,
        StateConflictError,
    )

    return (RedisUnavailableError, StateConflictError)


__all__ = ["worker"]
