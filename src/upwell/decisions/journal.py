"""Durable embedded state: a JSON snapshot plus an append-only log of JSON lines.

Files, for a journal named ``n`` in a directory:

- ``n.snapshot.json``: ``{"generation": g, "data": ...}``, replaced atomically
  (written to a temporary file, flushed, renamed);
- ``n.<g>.jsonl``: the records appended since that snapshot, one write per record, so
  an acknowledged record survives the process being killed (``fsync=True`` extends
  that to a machine crash);
- ``n.lock``: held by the process that has the journal open.

Compaction writes a new snapshot with generation ``g + 1`` and starts log ``g + 1``; a
crash between the two leaves the new snapshot and an ignored old log, never the old
log replayed on the new snapshot. That is what makes an erasure final: the data of an
erased entity is in neither the new snapshot nor the new log.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from upwell.decisions.errors import DecisionStateError

_OPEN: set[Path] = set()
_OPEN_LOCK = threading.Lock()


class Journal:
    """A snapshot and a log of records in one directory, open in one place at a time.

    Args:
        directory: The directory (created if missing).
        name: The journal's name; several journals may share a directory.
        fsync: Force every record to stable storage before returning.

    Raises:
        DecisionStateError: The journal is open elsewhere, or its files are corrupt.
    """

    def __init__(self, directory: Path, name: str, *, fsync: bool = False) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.name = name
        self.fsync = fsync
        self.lines = 0
        self._lock_path = (directory / f"{name}.lock").resolve()
        self._lock_fd = _lock(self._lock_path)
        self._snapshot_path = directory / f"{name}.snapshot.json"
        self.generation, self.snapshot = self._read_snapshot()
        self._fd = -1

    def records(self) -> Iterator[Any]:
        """The records appended since the snapshot, oldest first (a torn last one skipped).

        Yields:
            Each record.

        Raises:
            DecisionStateError: A record before the last is not valid JSON.
        """
        path = self._log_path(self.generation)
        lines = path.read_bytes().split(b"\n") if path.exists() else []
        for number, line in enumerate(lines, 1):
            if not line:
                continue
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError:
                if number == len(lines):  # a write cut short by a crash; never acknowledged
                    continue
                msg = f"line {number} is not valid JSON"
                raise DecisionStateError(
                    msg, where=str(path), fix="restore the directory from a backup"
                ) from None
            self.lines += 1
            yield record

    def append(self, record: Any) -> None:
        """Append a record durably.

        Args:
            record: A JSON-serialisable value.
        """
        if self._fd < 0:
            self._fd = self._open_log(self.generation)
        os.write(self._fd, orjson.dumps(record) + b"\n")
        if self.fsync:
            os.fsync(self._fd)
        self.lines += 1

    def rewrite(self, data: Any) -> None:
        """Replace the snapshot with ``data`` and start an empty log.

        Args:
            data: The whole state, JSON-serialisable.
        """
        generation = self.generation + 1
        temporary = self._snapshot_path.with_suffix(".tmp")
        with temporary.open("wb") as file:
            file.write(orjson.dumps({"generation": generation, "data": data}))
            file.flush()
            os.fsync(file.fileno())
        temporary.replace(self._snapshot_path)
        _fsync_directory(self.directory)
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        self._log_path(self.generation).unlink(missing_ok=True)
        self.generation, self.snapshot, self.lines = generation, data, 0

    def close(self) -> None:
        """Close the log and release the lock."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1
            with _OPEN_LOCK:
                _OPEN.discard(self._lock_path)

    def _log_path(self, generation: int) -> Path:
        return self.directory / f"{self.name}.{generation}.jsonl"

    def _open_log(self, generation: int) -> int:
        return os.open(self._log_path(generation), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    def _read_snapshot(self) -> tuple[int, Any]:
        if not self._snapshot_path.exists():
            return 0, None
        try:
            content = orjson.loads(self._snapshot_path.read_bytes())
            generation, data = int(content["generation"]), content["data"]
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            msg = "the snapshot is not a valid journal snapshot"
            raise DecisionStateError(
                msg, where=str(self._snapshot_path), fix="restore the directory from a backup"
            ) from None
        for stale in self.directory.glob(f"{self.name}.*.jsonl"):
            if stale != self._log_path(generation):
                stale.unlink(missing_ok=True)
        return generation, data


def _lock(path: Path) -> int:
    with _OPEN_LOCK:
        if path in _OPEN:
            msg = "is already open in this process"
            raise DecisionStateError(
                msg, where=str(path.parent), fix="share one store object, or use another path"
            )
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            msg = "another process has this directory open"
            raise DecisionStateError(
                msg,
                where=str(path.parent),
                fix="close the other process's store, or use Redis to share state between "
                "processes",
            ) from None
        _OPEN.add(path)
        return fd


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
