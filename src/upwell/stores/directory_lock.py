"""One process at a time per embedded store directory.

Two processes appending to one write-ahead file and snapshot would interleave and
corrupt them, so a store directory is locked (a POSIX record lock on ``store.lock``)
while a :class:`~upwell.runtime.FeatureStore` has it open. The operating system drops
the lock when the process ends, so a killed process never leaves it behind. Within one
process the lock is shared (a second ``FeatureStore`` on the same path is allowed).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from upwell.errors import UpwellError


class StoreLockedError(UpwellError):
    """Another process has the store directory open."""


class DirectoryLock:
    """An exclusive, per-process lock on a store directory.

    Args:
        directory: The store directory (created if missing).

    Raises:
        StoreLockedError: Another process holds the lock.
    """

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / "store.lock"
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.lockf(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self._fd)
            msg = "another process has this store open"
            raise StoreLockedError(
                msg,
                where=str(directory),
                fix="close the other process's FeatureStore, or use a separate path; "
                "to share one store between processes, run `upwell serve` or a Redis store",
            ) from None

    def release(self) -> None:
        """Release the lock."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
