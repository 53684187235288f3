"""One writer per audit folder: an exclusive advisory lock on a file inside it."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from upwell.audit.errors import AuditError

__all__ = ["WriterLock"]


class WriterLock:
    """Hold ``fcntl.flock(LOCK_EX)`` on ``path`` until released or the process ends.

    Args:
        path: The lock file (created if missing).

    Raises:
        AuditError: If another process (or another open log) already holds it.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd: int | None = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            self._fd = None
            msg = "another writer already has this folder open"
            raise AuditError(
                msg,
                where=str(path.parent),
                fix="close the other log or store, or open this one with read_only=True.",
            ) from None

    def release(self) -> None:
        """Release the lock (idempotent)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
