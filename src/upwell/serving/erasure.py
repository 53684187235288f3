"""Erasing a data subject everywhere a feature store keeps it, and recording that it was.

:func:`erase_subject` removes one entity's data from the online store (its window state
and batch rows), the event log (every event of a source that carries the entity, also
those still in the write-ahead file), the dead letters, the batch tables, the prediction
log and the labels joined to the erased predictions, and the decision state, consent and
decision log. It then appends an :class:`ErasureRecord` to the erasure log: when, which
entity, how much was removed, and a keyed digest of the subject (never the key itself),
so the erasure can be proven later by whoever holds the key.

Other entities' aggregates keep what the subject's events had contributed (a terminal's
transaction count): their values do not change, but a training set built from the log
after the erasure no longer counts the erased events. The steps are idempotent; an
erasure interrupted by a crash is completed by running it again.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa

from upwell.audit.erasure import entity_matches, erase_labels, erase_predictions
from upwell.audit.labels import REQUEST_ID
from upwell.definitions.entity import Entity
from upwell.definitions.registry import Registry
from upwell.definitions.source import EventSource
from upwell.eventlog.erase import matching, rewrite_parquet, without
from upwell.eventlog.protocol import EventLog
from upwell.ingest.dead_letters import DeadLetterSink, FileDeadLetters, MemoryDeadLetters
from upwell.serving.decisions_service import DecisionService
from upwell.serving.erasure_log import ErasureLog, ErasureRecord
from upwell.stores.memory import MemoryStore
from upwell.stores.redis import RedisStore
from upwell.stores.redis_erase import erase_entity


@dataclass(frozen=True)
class ErasureTarget:
    """Everything a feature store keeps about entities.

    Args:
        registry: The definitions.
        online: The online store.
        log: The event log.
        dead_letters: The dead-letter sink.
        decisions: The decision service.
        erasures: The erasure log.
        batch_directory: Where batch tables are kept as Parquet, if on disk.
        batch_memory: Batch tables kept in memory, by group (erased in place).
        audit: The audit monitor (prediction log, labels), if auditing is on.
    """

    registry: Registry
    online: MemoryStore | RedisStore
    log: EventLog
    dead_letters: DeadLetterSink
    decisions: DecisionService
    erasures: ErasureLog
    batch_directory: Path | None = None
    batch_memory: dict[str, list[pa.Table]] | None = None
    audit: Any = None


def erase_subject(
    target: ErasureTarget, entity: Entity, key: Mapping[str, Any], *, at_ms: int
) -> ErasureRecord:
    """Erase an entity's data from every store of a feature store, then record it.

    Args:
        target: The stores.
        entity: The entity.
        key: Key column to value (typed as the sources declare them).
        at_ms: The erasure time.

    Returns:
        The erasure record (also appended to the erasure log).
    """
    registry = target.registry
    values = tuple(key[k] for k in entity.keys)
    online = target.online
    removed = {
        "online_states": (
            erase_entity(online, entity.name, values)
            if isinstance(online, RedisStore)
            else online.erase(entity.name, values)
        ),
    }
    sources = [s for s in registry.sources.values() if entity in s.entities]
    label_keys = _fed_label_keys(target, sources, key)
    removed["events"] = target.log.erase(sources, key)
    removed["dead_letters"] = _erase_dead_letters(
        target.dead_letters, {s.name for s in sources}, key
    )
    groups = [g.name for g in registry.batches.values() if g.entity == entity]
    removed["batch_rows"] = _erase_batches(target, groups, key)
    removed.update(_erase_audit(target.audit, key, label_keys))
    subject = target.decisions.subject(entity, key)
    report, logged = target.decisions.erase(subject, at_ms=at_ms)
    removed["decision_states"] = report.states
    removed["idempotency_records"] = report.idempotency_records
    removed["consent_records"] = report.consent.consent_records
    removed["logged_decisions"] = logged
    record = ErasureRecord(
        uuid.uuid4().hex, at_ms, entity.name, target.erasures.digest(subject), removed
    )
    target.erasures.append(record)
    return record


def _erase_dead_letters(sink: DeadLetterSink, sources: set[str], key: Mapping[str, Any]) -> int:
    def keep(letter: Mapping[str, Any]) -> bool:
        event = letter.get("event", {})
        return letter.get("source") not in sources or not entity_matches(event, key)

    if isinstance(sink, MemoryDeadLetters):
        before = len(sink._letters)
        sink._letters[:] = [x for x in sink._letters if keep(x)]
        return before - len(sink._letters)
    if isinstance(sink, FileDeadLetters) and sink.path.exists():
        lines = [line for line in sink.path.read_bytes().splitlines() if line]
        kept = [line for line in lines if not _parses(line) or keep(orjson.loads(line))]
        if len(kept) != len(lines):
            _replace_lines(sink.path, kept)
        return len(lines) - len(kept)
    return 0


def _parses(line: bytes) -> bool:
    try:
        orjson.loads(line)
    except orjson.JSONDecodeError:
        return False
    return True


def _replace_lines(path: Path, lines: list[bytes]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(b"".join(line + b"\n" for line in lines))
    with open(tmp, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _erase_batches(target: ErasureTarget, groups: list[str], key: Mapping[str, Any]) -> int:
    removed = 0
    for group in groups:
        if target.batch_memory is not None and group in target.batch_memory:
            tables = target.batch_memory[group]
            results = [without(t, key) for t in tables]
            tables[:] = [t for t, _ in results]
            removed += sum(n for _, n in results)
        if target.batch_directory is not None:
            folder = target.batch_directory / group
            removed += sum(rewrite_parquet(p, key) for p in sorted(folder.glob("part-*.parquet")))
    return removed


def _fed_label_keys(
    target: ErasureTarget, sources: list[EventSource], key: Mapping[str, Any]
) -> set[str]:
    """The label keys of the subject's logged label events (when labels come from events)."""
    feed = getattr(target.audit, "labels", None)
    names = {s.name: s for s in sources}
    if feed is None or getattr(feed, "source", None) not in names:
        return set()
    flush = getattr(target.audit, "flush_labels", None)
    if callable(flush):
        flush()
    table = target.log.read_source(names[feed.source])
    return {str(v) for v in table.filter(matching(table, key))[feed.key].to_pylist()}


def _erase_audit(audit: Any, key: Mapping[str, Any], fed: set[str]) -> dict[str, int]:
    monitor = getattr(audit, "monitor", audit)
    log = getattr(monitor, "log", None)
    if log is None:
        return {}
    erased = erase_predictions(log, key)
    label_keys: set[str] = set(erased.request_ids) | fed
    join = getattr(getattr(monitor, "config", None), "label_key", REQUEST_ID)
    if isinstance(join, str) and join != REQUEST_ID and join in key:
        label_keys.add(str(key[join]))
    labels = getattr(monitor, "labels", None)
    count = 0 if labels is None else erase_labels(labels, label_keys)
    return {"predictions": erased.count, "labels": count}
