"""The write-ahead file: length- and checksum-framed records, torn tails dropped on open."""

from __future__ import annotations

import os
import struct
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

from upwell.eventlog.protocol import Fsync

_HEADER = struct.Struct("<II")


class WriteAheadFile:
    """An append-only file of framed records.

    Each record is ``length, crc32, payload``. Opening the file scans it and truncates
    anything after the last complete, intact record (a write torn by a crash).

    Args:
        path: The file.
        fsync: When to force writes to stable storage.
    """

    def __init__(self, path: Path, fsync: Fsync = Fsync.NEVER) -> None:
        self.path = path
        self._fsync = fsync
        self._last_sync = time.monotonic()
        path.parent.mkdir(parents=True, exist_ok=True)
        valid = self._valid_length()
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        if os.fstat(self._fd).st_size > valid:
            os.ftruncate(self._fd, valid)

    def _valid_length(self) -> int:
        if not self.path.exists():
            return 0
        return sum(len(p) + _HEADER.size for p in self._records())

    def _records(self) -> Iterator[bytes]:
        data = self.path.read_bytes() if self.path.exists() else b""
        pos = 0
        while pos + _HEADER.size <= len(data):
            length, crc = _HEADER.unpack_from(data, pos)
            payload = data[pos + _HEADER.size : pos + _HEADER.size + length]
            if len(payload) != length or zlib.crc32(payload) != crc:
                return
            yield payload
            pos += _HEADER.size + length

    def records(self) -> Iterator[bytes]:
        """The payloads of every intact record, in order.

        Returns:
            An iterator of payloads.
        """
        return self._records()

    def append(self, payload: bytes) -> None:
        """Append one record; it has reached the operating system on return.

        Args:
            payload: The record's bytes.
        """
        data = _HEADER.pack(len(payload), zlib.crc32(payload)) + payload
        written = os.write(self._fd, data)
        while written < len(data):
            written += os.write(self._fd, data[written:])
        if self._fsync is Fsync.ALWAYS:
            os.fsync(self._fd)
        elif self._fsync is Fsync.EVERY_SECOND:
            now = time.monotonic()
            if now - self._last_sync >= 1.0:
                os.fsync(self._fd)
                self._last_sync = now

    def reset(self) -> None:
        """Empty the file (after its records were stored elsewhere)."""
        os.ftruncate(self._fd, 0)
        os.fsync(self._fd)

    def size(self) -> int:
        """The file's size in bytes."""
        return os.fstat(self._fd).st_size

    def close(self) -> None:
        """Sync and close the file."""
        os.fsync(self._fd)
        os.close(self._fd)
