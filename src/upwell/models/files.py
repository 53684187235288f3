"""File plumbing of the registry: a lock shared between processes, atomic JSON writes."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson


class LockedDirectory:
    """An exclusive lock on a directory, held briefly around each change.

    ``flock`` on a descriptor opened per acquisition excludes other processes and other
    threads of this one alike; the system drops it if the holder dies.

    Args:
        directory: The directory; the lock file is ``.lock`` inside it.
    """

    def __init__(self, directory: Path) -> None:
        self.path = directory / ".lock"

    @contextmanager
    def held(self) -> Iterator[None]:
        """Hold the lock for the duration of a ``with`` block."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)


def write_json_atomic(path: Path, value: Any) -> None:
    """Write JSON to a temporary file, sync it and rename it over ``path``.

    Readers see the old content or the new, never a torn file.

    Args:
        path: The destination.
        value: A JSON-serialisable value.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as handle:
        handle.write(orjson.dumps(value, option=orjson.OPT_INDENT_2))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
