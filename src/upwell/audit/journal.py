"""The prediction log's write-ahead file: length- and CRC-framed records.

Each frame is ``length (u32) | crc32 (u32) | payload``. Reading stops at the first frame
that is incomplete or fails its checksum (a write torn by a crash); a writer truncates
the file there when it opens it.
"""

from __future__ import annotations

import enum
import os
import struct
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

from upwell.audit.errors import AuditError

__all__ = ["Journal", "SyncPolicy", "read_frames", "sync_policy"]

_HEADER = struct.Struct("<II")


class SyncPolicy(enum.Enum):
    """When journal writes are forced to stable storage (as Redis' ``appendfsync``).

    ``NEVER`` survives the process being killed (written data is in the operating
    system); ``EVERY_SECOND`` and ``ALWAYS`` extend that to a machine crash, losing at
    most about one second, or nothing, of what the journal acknowledged.
    """

    NEVER = "never"
    EVERY_SECOND = "every_second"
    ALWAYS = "always"


def sync_policy(value: object) -> SyncPolicy:
    """A :class:`SyncPolicy` from itself, its value, or any enum with the same values.

    Args:
        value: ``"never"``, ``"every_second"``, ``"always"``, or an enum of them (such as
            the event log's ``Fsync``).

    Returns:
        The policy.

    Raises:
        AuditError: If the value names no policy.
    """
    raw = value.value if isinstance(value, enum.Enum) else value
    try:
        return SyncPolicy(raw)
    except ValueError:
        msg = f"unknown fsync policy {value!r}"
        raise AuditError(
            msg,
            where="fsync",
            fix=f"use one of {[p.value for p in SyncPolicy]}",
        ) from None


def read_frames(path: Path) -> Iterator[bytes]:
    """The payload of every intact frame of a journal, in order.

    Args:
        path: The journal file (missing means empty).

    Returns:
        An iterator of payloads; it ends at the first torn frame.
    """
    data = path.read_bytes() if path.exists() else b""
    pos = 0
    while pos + _HEADER.size <= len(data):
        length, crc = _HEADER.unpack_from(data, pos)
        payload = data[pos + _HEADER.size : pos + _HEADER.size + length]
        if len(payload) != length or zlib.crc32(payload) != crc:
            return
        yield payload
        pos += _HEADER.size + length


class Journal:
    """An append-only file of framed records, torn tail dropped on open.

    Args:
        path: The file (created with its folder if missing).
        sync: When writes are forced to stable storage.
    """

    def __init__(self, path: Path, sync: SyncPolicy = SyncPolicy.NEVER) -> None:
        self.path = path
        self._sync = sync
        self._last_sync = time.monotonic()
        path.parent.mkdir(parents=True, exist_ok=True)
        valid = sum(_HEADER.size + len(p) for p in read_frames(path))
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        if os.fstat(self._fd).st_size > valid:
            os.ftruncate(self._fd, valid)

    def append(self, payload: bytes) -> None:
        """Append one frame; it has reached the operating system on return.

        Args:
            payload: The frame's bytes.
        """
        data = _HEADER.pack(len(payload), zlib.crc32(payload)) + payload
        written = os.write(self._fd, data)
        while written < len(data):
            written += os.write(self._fd, data[written:])
        if self._sync is SyncPolicy.ALWAYS:
            os.fsync(self._fd)
        elif self._sync is SyncPolicy.EVERY_SECOND:
            now = time.monotonic()
            if now - self._last_sync >= 1.0:
                os.fsync(self._fd)
                self._last_sync = now

    def reset(self) -> None:
        """Empty the file, once its records are stored elsewhere."""
        os.ftruncate(self._fd, 0)
        os.fsync(self._fd)

    def size(self) -> int:
        """The file's size in bytes."""
        return os.fstat(self._fd).st_size

    def close(self) -> None:
        """Sync and close the file."""
        os.fsync(self._fd)
        os.close(self._fd)
