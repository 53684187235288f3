"""A worker's settings: upwell.toml's ``[worker]`` table, overridden by command options.

::

    [worker]
    source = "nats://127.0.0.1:4222/payments"   # broker URL (see docs/sources.md)
    event_source = "payments"                   # the definition the stream carries
    store = "redis://127.0.0.1:6379/0"          # shared online store
    store_prefix = "upwell"                     # its key prefix (the same for servers)
    log = "worker-log"                          # event log directory (relative to the project)
    max_in_flight = 500                         # most unacknowledged messages per worker
    roll_interval_s = 10.0                      # how often logged events become Parquet
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from upwell.definitions.registry import Registry
from upwell.definitions.source import EventSource
from upwell.sources.address import SourceAddress, parse_address
from upwell.workers.errors import WorkerError

MEMORY_STORE = "memory"


class WorkerKey(enum.Enum):
    """The keys of the ``[worker]`` table (and the matching command options)."""

    SOURCE = "source"
    EVENT_SOURCE = "event_source"
    STORE = "store"
    STORE_PREFIX = "store_prefix"
    LOG = "log"
    MAX_IN_FLIGHT = "max_in_flight"
    ROLL_INTERVAL_S = "roll_interval_s"


@dataclass(frozen=True, kw_only=True)
class WorkerSettings:
    """Validated worker settings.

    Args:
        address: The broker stream to consume.
        source: The event source its messages are events of.
        store: The online store's URL (``redis://host:6379/0``) or ``memory``.
        store_prefix: The Redis store's key prefix.
        log: The event log directory.
        max_in_flight: The most fetched, unacknowledged messages at once.
        roll_interval_s: How often logged events are written out as Parquet.
    """

    address: SourceAddress
    source: EventSource
    store: str
    store_prefix: str
    log: Path
    max_in_flight: int
    roll_interval_s: float


def load_worker_settings(
    table: Mapping[str, Any],
    overrides: Mapping[WorkerKey, Any],
    registry: Registry,
    *,
    root: Path,
    default_log: Path,
    where: str,
) -> WorkerSettings:
    """Merge and validate the ``[worker]`` table and command-line overrides.

    Args:
        table: The ``[worker]`` table (empty when absent).
        overrides: Values given on the command line (None values are ignored).
        registry: The project's definitions.
        root: The project directory (relative paths start there).
        default_log: The log directory when none is configured.
        where: Where the table lives, for errors.

    Returns:
        The settings.

    Raises:
        WorkerError: A key is unknown, a value has the wrong type, the broker URL is
            missing, or the event source is unknown or ambiguous.
    """
    known = {k.value for k in WorkerKey}
    unknown = sorted(set(table) - known)
    if unknown:
        msg = f"has unknown keys {unknown}"
        raise WorkerError(msg, where=where, fix=f"use only {sorted(known)}")
    merged: dict[WorkerKey, Any] = {WorkerKey(k): v for k, v in table.items()}
    merged.update({k: v for k, v in overrides.items() if v is not None})
    url = merged.get(WorkerKey.SOURCE)
    if not isinstance(url, str) or not url:
        msg = "no broker to consume"
        raise WorkerError(
            msg, where=where, fix="pass --source nats://host:4222/STREAM (or redis://, kafka://)"
        )
    log = merged.get(WorkerKey.LOG)
    return WorkerSettings(
        address=parse_address(url),
        source=_event_source(registry, merged.get(WorkerKey.EVENT_SOURCE), where),
        store=_text(merged.get(WorkerKey.STORE, MEMORY_STORE), WorkerKey.STORE, where),
        store_prefix=_text(
            merged.get(WorkerKey.STORE_PREFIX, "upwell"), WorkerKey.STORE_PREFIX, where
        ),
        log=root / _text(log, WorkerKey.LOG, where) if log is not None else default_log,
        max_in_flight=_count(merged, WorkerKey.MAX_IN_FLIGHT, 500, where),
        roll_interval_s=_positive(merged, WorkerKey.ROLL_INTERVAL_S, 10.0, where),
    )


def _event_source(registry: Registry, name: Any, where: str) -> EventSource:
    if name is None:
        if len(registry.sources) == 1:
            return next(iter(registry.sources.values()))
        msg = f"the definitions have {len(registry.sources)} event sources; which one is this?"
        raise WorkerError(
            msg, where=where, fix=f"pass --event-source, one of {sorted(registry.sources)}"
        )
    source = registry.sources.get(name)
    if source is None:
        msg = f"unknown event source {name!r}"
        raise WorkerError(msg, where=where, fix=f"use one of {sorted(registry.sources)}")
    return source


def _text(value: Any, key: WorkerKey, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        msg = f"{key.value} must be a non-empty string, got {value!r}"
        raise WorkerError(msg, where=where, fix=f'write {key.value} = "..."')
    return value.strip()


def _positive(merged: Mapping[WorkerKey, Any], key: WorkerKey, default: float, where: str) -> float:
    value = merged.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        msg = f"{key.value} must be a positive number, got {value!r}"
        raise WorkerError(msg, where=where, fix=f"write e.g. {key.value} = {default}")
    return float(value)


def _count(merged: Mapping[WorkerKey, Any], key: WorkerKey, default: int, where: str) -> int:
    value = _positive(merged, key, default, where)
    if value != int(value):
        msg = f"{key.value} must be a whole number, got {value!r}"
        raise WorkerError(msg, where=where, fix=f"write e.g. {key.value} = {default}")
    return int(value)
