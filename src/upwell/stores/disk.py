"""The embedded durable online store: in-memory state plus snapshots on local disk.

A snapshot records the state after log position ``applied_seq``; it is written to a
temporary file, synced and renamed, so a crash leaves the previous snapshot intact.
After a restart the runtime replays the event log after ``applied_seq``: together
they lose no acknowledged event and apply none twice.
"""

from __future__ import annotations

import os
from pathlib import Path

import orjson

from upwell.definitions.registry import Registry
from upwell.stores.memory import MemoryStore
from upwell.stores.protocol import EntityKey
from upwell.stores.snapshot_codec import decode_into, encode


class DiskStore(MemoryStore):
    """A :class:`MemoryStore` that checkpoints to ``directory/snapshot.json``.

    Args:
        registry: The definitions.
        directory: Where the snapshot lives.
    """

    def __init__(self, registry: Registry, directory: Path) -> None:
        super().__init__(registry)
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._path = directory / "snapshot.json"
        self._applied = 0
        if self._path.exists():
            data = orjson.loads(self._path.read_bytes())
            if data.get("fingerprint") == registry.fingerprint:
                decode_into(self.engine, data["state"])
                self._applied = self.engine.last_seq

    def applied_seq(self) -> int:  # noqa: D102
        return self._applied

    def checkpoint(self) -> None:  # noqa: D102
        self.engine.maintain()
        payload = {"fingerprint": self.engine.registry.fingerprint, "state": encode(self.engine)}
        tmp = self._path.with_suffix(".tmp")
        with open(tmp, "wb") as handle:
            handle.write(orjson.dumps(payload))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self._path)
        self._applied = self.engine.last_seq

    def erase(self, entity: str, key: EntityKey) -> int:
        """Remove an entity's state (see :meth:`MemoryStore.erase`), then snapshot at once.

        The new snapshot, without the entity, replaces the old one atomically.

        Args:
            entity: The entity's name.
            key: Its key values.

        Returns:
            How many view states and batch groups held the entity.
        """
        removed = super().erase(entity, key)
        self.checkpoint()
        return removed

    def close(self) -> None:  # noqa: D102
        self.checkpoint()
