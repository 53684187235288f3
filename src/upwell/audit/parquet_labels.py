"""Late labels on local disk: one Parquet segment per ``add``, merged now and then.

Layout: ``<directory>/labels/part-<first>-<last>.parquet`` (positions of the labels it
holds) and ``.writer.lock``. ``add`` writes a segment (temporary name, sync, rename,
folder sync) before it returns. Once ``compact_at`` segments exist they are merged into
one; a crash during the merge leaves both, and readers skip the merged ones.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterable
from pathlib import Path

import pandas as pd
import pyarrow as pa

from upwell.audit.errors import AuditClosedError
from upwell.audit.labels import read_latest
from upwell.audit.records import LABEL_SCHEMA, Label
from upwell.audit.segments import (
    compact_folder,
    live_segments,
    publish,
    remove_covered,
    segment_range,
    write_temp,
)
from upwell.audit.sql_views import TableSource, run_sql
from upwell.audit.store_lock import WriterLock
from upwell.audit.tables import labels_to_table

__all__ = ["ParquetLabelStore"]


class ParquetLabelStore:
    """Durable label storage in Parquet files.

    Args:
        directory: The audit folder; labels go to ``<directory>/labels``.
        compact_at: Merge the segments once there are this many.
        read_only: Open for reading only (another process may be writing).

    Raises:
        AuditError: If another writer holds the folder.
    """

    def __init__(
        self, directory: Path | str, *, compact_at: int = 64, read_only: bool = False
    ) -> None:
        self.directory = Path(directory)
        self._root = self.directory / "labels"
        self._compact_at = compact_at
        self._mutex = threading.Lock()
        self._lock: WriterLock | None = None
        if read_only:
            return
        self._lock = WriterLock(self._root / ".writer.lock")
        remove_covered(self._root)

    def _next_seq(self) -> int:
        return 1 + max((segment_range(p)[1] for p in live_segments(self._root)), default=0)

    def add(self, labels: Iterable[Label]) -> int:
        """Store labels; they are on disk when this returns.

        Args:
            labels: The labels.

        Returns:
            How many were stored.

        Raises:
            AuditClosedError: If the store is read-only or closed.
        """
        if self._lock is None:
            msg = "the label store is read-only or closed"
            raise AuditClosedError(msg, where=str(self._root), fix="open it with read_only=False.")
        batch = list(labels)
        if not batch:
            return 0
        with self._mutex:
            first = self._next_seq()
            last = first + len(batch) - 1
            table = labels_to_table(range(first, last + 1), batch)
            publish([write_temp(self._root, table, first, last)])
            if len(live_segments(self._root)) >= self._compact_at:
                self._compact()
        return len(batch)

    def _compact(self) -> None:
        merged = compact_folder(self._root, LABEL_SCHEMA)
        if merged is not None:
            publish([merged])
            remove_covered(self._root)

    def _source(self) -> TableSource:
        files = live_segments(self._root) if self._root.exists() else []
        return TableSource(LABEL_SCHEMA, files, None)

    def read(
        self, keys: Collection[str] | None = None, *, as_of_ms: int | None = None
    ) -> pd.DataFrame:
        """The latest label of each key known at ``as_of_ms``.

        Args:
            keys: Only these keys (None: all).
            as_of_ms: Only labels with ``ts <= as_of_ms`` (None: all).

        Returns:
            Columns ``key``, ``label``, ``ts`` (UTC datetime), one row per key.
        """
        return read_latest(self._source(), keys, as_of_ms, "ParquetLabelStore.read")

    def query(self, sql: str) -> pa.Table:
        """Run DuckDB SQL in which ``labels`` holds every stored label.

        Args:
            sql: The query.

        Returns:
            The result.

        Raises:
            AuditQueryError: If the query fails.
        """
        return run_sql({"labels": self._source()}, sql, where="ParquetLabelStore.query")

    def close(self) -> None:
        """Release the folder (idempotent)."""
        if self._lock is not None:
            self._lock.release()
            self._lock = None
