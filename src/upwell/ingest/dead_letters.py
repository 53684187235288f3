"""Dead-letter sinks: where refused events go (late or failed), never silently dropped."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any, Protocol

import orjson


class DeadLetterSink(Protocol):
    """Receives events that were refused, with the reason."""

    counts: Counter[tuple[str, str]]

    def write(self, source: str, event: dict[str, Any], reason: str) -> None:
        """Record one refused event."""
        ...

    def read(self) -> list[dict[str, Any]]:
        """Every recorded dead letter, oldest first."""
        ...


class MemoryDeadLetters:
    """Keeps dead letters in a list."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str]] = Counter()
        self._letters: list[dict[str, Any]] = []

    def write(self, source: str, event: dict[str, Any], reason: str) -> None:  # noqa: D102
        self.counts[(source, reason)] += 1
        self._letters.append({"source": source, "reason": reason, "event": event})

    def read(self) -> list[dict[str, Any]]:  # noqa: D102
        return list(self._letters)


class FileDeadLetters:
    """Appends dead letters as JSON lines to a file.

    Args:
        path: The file.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.counts: Counter[tuple[str, str]] = Counter()
        path.parent.mkdir(parents=True, exist_ok=True)
        for letter in self.read():
            self.counts[(letter["source"], letter["reason"])] += 1

    def write(self, source: str, event: dict[str, Any], reason: str) -> None:  # noqa: D102
        self.counts[(source, reason)] += 1
        line = orjson.dumps({"source": source, "reason": reason, "event": event}) + b"\n"
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)

    def read(self) -> list[dict[str, Any]]:  # noqa: D102
        if not self.path.exists():
            return []
        letters = []
        for line in self.path.read_bytes().splitlines():
            try:
                letters.append(orjson.loads(line))
            except orjson.JSONDecodeError:
                continue  # a line torn by a crash
        return letters
