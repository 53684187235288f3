"""Batch feature rows in Redis: one hash per entity and group, one field per ``valid_from``.

Putting a row is ``HSET`` (a row with the same key and ``valid_from`` replaces the
old one, so loading a table twice changes nothing). Puts are sent in pipelines of up to
10,000 rows, and always before this process next reads batch rows or checkpoints.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from upwell.definitions.registry import Registry
from upwell.engine.view_state import EntityKey
from upwell.stores.redis_client import RedisConnection
from upwell.stores.redis_codec import decode_row, encode_row
from upwell.stores.redis_keys import Keyspace

_FLUSH_ROWS = 10_000


class BatchRows:
    """Batch rows of every group, read as of a time.

    Args:
        connection: The Redis connection.
        keys: The namespace's key names.
        registry: The definitions.
    """

    def __init__(self, connection: RedisConnection, keys: Keyspace, registry: Registry) -> None:
        self._connection = connection
        self._keys = keys
        self._entity = {name: group.entity.name for name, group in registry.batches.items()}
        self._pending: list[tuple[str, int, bytes]] = []

    def put(self, group: str, key: EntityKey, valid_from: int, values: tuple[Any, ...]) -> None:
        """Queue a row; it is written with the next flush.

        Args:
            group: The group.
            key: The entity key.
            valid_from: When the row starts to hold, ms.
            values: Column values in schema order.
        """
        name = self._keys.batch(group, self._entity[group], key)
        self._pending.append((name, int(valid_from), encode_row(values)))
        if len(self._pending) >= _FLUSH_ROWS:
            self.flush()

    def queue(self, pipe: Any) -> int:
        """Queue the pending rows on a pipeline.

        Args:
            pipe: The pipeline.

        Returns:
            How many rows were queued, to pass to :meth:`written`.
        """
        for name, valid_from, row in self._pending:
            pipe.hset(name, str(valid_from), row)
        return len(self._pending)

    def written(self, count: int) -> None:
        """Forget rows that were written.

        Args:
            count: What :meth:`queue` returned.
        """
        del self._pending[:count]

    def flush(self) -> None:
        """Write the pending rows now."""
        if self._pending:
            count = [0]

            def fill(pipe: Any) -> None:
                count[0] = self.queue(pipe)

            self._connection.execute(fill, "writing batch rows")
            self.written(count[0])

    def read(
        self, group: str, keys: Sequence[EntityKey], as_of: int
    ) -> list[tuple[Any, ...] | None]:
        """The row in force at a time (greatest ``valid_from <= as_of``) per entity.

        Args:
            group: The group.
            keys: The entity keys.
            as_of: Read time, ms.

        Returns:
            One row (or None) per key.
        """
        names = [self._keys.batch(group, self._entity[group], key) for key in keys]
        count = [0]

        def fill(pipe: Any) -> None:
            count[0] = self.queue(pipe)
            for name in names:
                pipe.hgetall(name)

        replies = self._connection.execute(fill, "reading batch rows")
        self.written(count[0])
        return [_in_force(rows, as_of) for rows in replies[count[0] :]]


def _in_force(rows: dict[bytes, bytes], as_of: int) -> tuple[Any, ...] | None:
    best: int | None = None
    for field in rows:
        valid_from = int(field)
        if valid_from <= as_of and (best is None or valid_from > best):
            best = valid_from
    return None if best is None else decode_row(rows[str(best).encode()])
