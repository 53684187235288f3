"""The event log contract every backend implements.

Contract:

- ``append`` stores a batch of accepted events of one source with consecutive log
  positions starting at ``first_seq``; when it returns, the batch survives the
  process being killed (and, with ``Fsync.ALWAYS``, a machine crash).
- ``last_seq`` is the highest position stored (0 when empty); positions never repeat.
- ``replay(after_seq)`` yields every stored event with a higher position, in order.
- ``read_source`` returns every stored event of a source as an Arrow table with the
  schema's fields (timestamps as epoch-ms int64) plus ``__seq__``, ordered by position.
- ``erase`` removes events for good (an erasure request): afterwards neither
  ``replay`` nor ``read_source`` nor the files hold them; ``last_seq`` is unchanged.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping
from typing import Any, Protocol

import pyarrow as pa

from upwell.definitions.source import EventSource

SEQ = "__seq__"


class Fsync(enum.Enum):
    """When the log forces appended events to stable storage (as Redis' appendfsync)."""

    NEVER = "never"
    EVERY_SECOND = "every_second"
    ALWAYS = "always"


LoggedEvent = tuple[str, int, dict[str, Any]]
"""(source name, log position, fields)."""


class EventLog(Protocol):
    """Durable, ordered storage of accepted events."""

    def append(self, source: EventSource, rows: list[dict[str, Any]], first_seq: int) -> None:
        """Store a batch; durable on return."""
        ...

    def append_table(self, source: EventSource, table: pa.Table) -> None:
        """Store many events at once (``__seq__`` column included); durable on return."""
        ...

    def last_seq(self) -> int:
        """The highest stored position, 0 when empty."""
        ...

    def replay(self, after_seq: int) -> Iterator[LoggedEvent]:
        """Every event with a position above ``after_seq``, in order."""
        ...

    def read_source(self, source: EventSource) -> pa.Table:
        """Every event of a source, with ``__seq__``, ordered by position."""
        ...

    def flush(self) -> None:
        """Move buffered events to long-term storage (a no-op where there is none)."""
        ...

    def erase(self, sources: list[EventSource], key: Mapping[str, Any]) -> int:
        """Remove the sources' events whose columns hold the key values; returns how many."""
        ...

    def close(self) -> None:
        """Flush and release resources."""
        ...
