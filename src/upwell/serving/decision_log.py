"""The decision log: every decision made, with its reasons, scores and model versions.

Each decision is appended as one JSON line (``Decision.to_dict()`` with its full trail,
plus the feature values it read) to ``decisions.jsonl`` before the answer returns; a
repeated request id is answered from the decision state and not logged again. Without a
directory the log is kept in memory. An erasure rewrites the file without the subject's
decisions (temporary file, sync, rename).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import orjson

from upwell.decisions.decision import Decision

_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


class DecisionLog:
    """Decisions as JSON lines in a file, or in memory.

    Args:
        path: The file, or None to keep the decisions in memory.
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._memory: list[bytes] = []
        self._lock = threading.Lock()
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)

    def append(self, decision: Decision, values: Mapping[str, Any]) -> None:
        """Log a decision and the values it read.

        Args:
            decision: The decision (with its trail).
            values: The feature values and request fields it read.
        """
        line = orjson.dumps({**decision.to_dict(), "values": dict(values)}, option=_OPTIONS)
        with self._lock:
            if self.path is None:
                self._memory.append(line)
                return
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                os.write(fd, line + b"\n")
            finally:
                os.close(fd)

    def read(self, entity_key: str | None = None) -> list[dict[str, Any]]:
        """The logged decisions, oldest first.

        Args:
            entity_key: Only this subject's (e.g. ``"customer:42"``).

        Returns:
            The decisions' JSON forms, with ``values``.
        """
        found = [orjson.loads(line) for line in self._lines()]
        return [d for d in found if entity_key is None or d["entity_key"] == entity_key]

    def erase(self, entity_key: str) -> int:
        """Remove a subject's decisions.

        Args:
            entity_key: The subject key.

        Returns:
            How many decisions were removed.
        """
        with self._lock:
            lines = list(self._lines())
            kept = [line for line in lines if orjson.loads(line)["entity_key"] != entity_key]
            if len(kept) == len(lines):
                return 0
            if self.path is None:
                self._memory = kept
            else:
                tmp = self.path.with_name(self.path.name + ".tmp")
                tmp.write_bytes(b"".join(line + b"\n" for line in kept))
                with open(tmp, "rb") as handle:
                    os.fsync(handle.fileno())
                os.replace(tmp, self.path)
            return len(lines) - len(kept)

    def _lines(self) -> Iterator[bytes]:
        if self.path is None:
            yield from list(self._memory)
            return
        if not self.path.exists():
            return
        for line in self.path.read_bytes().splitlines():
            if line:
                try:
                    orjson.loads(line)
                except orjson.JSONDecodeError:
                    continue  # a line torn by a crash, never acknowledged
                yield line
