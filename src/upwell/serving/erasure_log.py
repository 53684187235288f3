"""The erasure log: a record of every erasure, without the personal data it removed.

Each record says when, which entity, how many records each store removed, and a keyed
digest (HMAC-SHA256) of the subject key under a secret salt, so an erasure can be proven
later by whoever holds the key, while the log alone does not reveal it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson


@dataclass(frozen=True)
class ErasureRecord:
    """The record an erasure leaves: what was removed, without the personal data.

    Args:
        erasure_id: A random identifier.
        at_ms: When the erasure was done (epoch ms).
        entity: The entity's name.
        subject_digest: HMAC-SHA256 of the subject key under the log's secret salt.
        removed: Per store, how many records were removed.
    """

    erasure_id: str
    at_ms: int
    entity: str
    subject_digest: str
    removed: Mapping[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The record as JSON values."""
        return {
            "erasure_id": self.erasure_id,
            "at_ms": self.at_ms,
            "entity": self.entity,
            "subject_digest": self.subject_digest,
            "removed": dict(self.removed),
        }


class ErasureLog:
    """Erasure records, appended to ``erasures.jsonl`` in a directory (or kept in memory).

    The salt of the digests is made once and kept in ``erasure.salt`` (readable by the
    owner only): a digest can be checked by whoever holds the key and the salt, and
    the log alone does not reveal the key.

    Args:
        directory: Where the log and salt live, or None for memory.
        salt: The digests' salt, where it is shared with other processes (e.g. in Redis);
            default the directory's own (or a random one in memory).
    """

    def __init__(self, directory: Path | None, *, salt: bytes | None = None) -> None:
        self.directory = directory
        self._memory: list[ErasureRecord] = []
        self._lock = threading.Lock()
        if salt is None:
            salt = secrets.token_bytes(32) if directory is None else _salt(directory)
        elif directory is not None:
            directory.mkdir(parents=True, exist_ok=True)
        self.salt = salt

    def digest(self, subject: str) -> str:
        """The keyed digest of a subject key.

        Args:
            subject: The subject key (``customer:42``).

        Returns:
            Hex HMAC-SHA256.
        """
        return hmac.new(self.salt, subject.encode(), hashlib.sha256).hexdigest()

    def append(self, record: ErasureRecord) -> None:
        """Record an erasure (durable on return).

        Args:
            record: The record.
        """
        with self._lock:
            if self.directory is None:
                self._memory.append(record)
                return
            fd = os.open(self.directory / "erasures.jsonl", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
            try:
                os.write(fd, orjson.dumps(record.to_json()) + b"\n")
                os.fsync(fd)
            finally:
                os.close(fd)

    def find(self, subject: str) -> list[ErasureRecord]:
        """The erasures of a subject, oldest first.

        Args:
            subject: The subject key.

        Returns:
            Its records.
        """
        digest = self.digest(subject)
        return [r for r in self.records() if r.subject_digest == digest]

    def records(self) -> list[ErasureRecord]:
        """Every erasure record, oldest first."""
        if self.directory is None:
            return list(self._memory)
        path = self.directory / "erasures.jsonl"
        lines = path.read_bytes().splitlines() if path.exists() else []
        return [ErasureRecord(**orjson.loads(line)) for line in lines if line]


def _salt(directory: Path) -> bytes:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "erasure.salt"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, secrets.token_bytes(32))
            os.fsync(fd)
        finally:
            os.close(fd)
    return path.read_bytes()
