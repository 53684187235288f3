"""Embedded consent store: in memory, durable in a directory if given.

Every change is appended to a journal before :meth:`MemoryConsentStore.record`
returns. An erasure rewrites the snapshot without the entity (so its consent history
leaves the disk too) and keeps only the :class:`~upwell.decisions.consent.Erasure`
tombstone.
"""

from __future__ import annotations

import threading
import uuid
from pathlib import Path
from typing import Any

from upwell.decisions.consent import (
    ConsentChange,
    ConsentRecord,
    ConsentStatus,
    Erasure,
    check_change,
    latest,
    subject_digest,
)
from upwell.decisions.journal import Journal


class MemoryConsentStore:
    """Consent in this process, optionally journaled to a directory.

    Args:
        path: A directory for durable consent, or None to keep it in memory only.
        fsync: Force each change to stable storage (survives a machine crash).
        salt: A secret for the tombstones' subject digests (see ``subject_digest``).

    Raises:
        DecisionStateError: The directory is open elsewhere or its files are corrupt.
    """

    def __init__(
        self, path: str | Path | None = None, *, fsync: bool = False, salt: bytes = b""
    ) -> None:
        self.salt = salt
        self._changes: dict[str, dict[str, ConsentChange]] = {}
        self._erasures: dict[str, list[Erasure]] = {}
        self._lock = threading.Lock()
        self._journal = None if path is None else Journal(Path(path), "consent", fsync=fsync)
        if self._journal is not None:
            self._restore(self._journal)

    def record(self, entity_key: str, change: ConsentChange) -> ConsentRecord:  # noqa: D102
        check_change(entity_key, change)
        with self._lock:
            changes = self._changes.setdefault(entity_key, {})
            changes[change.purpose] = latest(changes.get(change.purpose), change)
            if self._journal is not None:
                self._journal.append([entity_key, *_change_json(change)])
            return ConsentRecord(entity_key, dict(changes))

    def get(self, entity_key: str) -> ConsentRecord:  # noqa: D102
        return ConsentRecord(entity_key, dict(self._changes.get(entity_key, {})))

    def erase(self, entity_key: str, *, at_ms: int) -> Erasure:  # noqa: D102
        with self._lock:
            removed = self._changes.pop(entity_key, {})
            digest = subject_digest(entity_key, self.salt)
            tombstone = Erasure(uuid.uuid4().hex, at_ms, digest, len(removed))
            self._erasures.setdefault(digest, []).append(tombstone)
            if self._journal is not None:
                self._journal.rewrite(self._dump())
        return tombstone

    def erasures(self, entity_key: str) -> tuple[Erasure, ...]:  # noqa: D102
        return tuple(self._erasures.get(subject_digest(entity_key, self.salt), ()))

    def close(self) -> None:
        """Write a last snapshot and release the directory."""
        with self._lock:
            if self._journal is not None:
                self._journal.rewrite(self._dump())
                self._journal.close()
                self._journal = None

    def _dump(self) -> dict[str, Any]:
        return {
            "changes": [
                [entity, *_change_json(change)]
                for entity, changes in self._changes.items()
                for change in changes.values()
            ],
            "erasures": [
                [e.erasure_id, e.at_ms, e.subject_digest, e.consent_records]
                for tombstones in self._erasures.values()
                for e in tombstones
            ],
        }

    def _restore(self, journal: Journal) -> None:
        data = journal.snapshot or {"changes": [], "erasures": []}
        for erasure_id, at_ms, digest, removed in data["erasures"]:
            self._erasures.setdefault(digest, []).append(
                Erasure(erasure_id, at_ms, digest, removed)
            )
        for entity, purpose, status, at_ms, source in [*data["changes"], *journal.records()]:
            change = ConsentChange(purpose, ConsentStatus(status), at_ms, source)
            changes = self._changes.setdefault(entity, {})
            changes[purpose] = latest(changes.get(purpose), change)


def _change_json(change: ConsentChange) -> list[Any]:
    return [change.purpose, change.status.value, change.at_ms, change.source]
