"""The on-disk layout of the embedded prediction log: day folders and the journal.

``<root>/date=YYYY-MM-DD/part-<first>-<last>.parquet`` hold rolled predictions by the UTC
day of their event time; ``<root>/wal.log`` holds batches not yet rolled, each a framed
JSON object ``{"q": first position, "r": [row, ...]}``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from upwell.audit.journal import read_frames
from upwell.audit.segments import live_segments, segment_range, write_temp
from upwell.audit.tables import dumps, rows_to_table
from upwell.audit.time_filter import DAY_MS, day_of

__all__ = ["DayFolders"]


def _day_name(day: int) -> str:
    return f"date={np.datetime64(day, 'D')}"


class DayFolders:
    """Reads and writes the prediction log's files under ``root``.

    Args:
        root: The ``predictions`` folder.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.wal = root / "wal.log"

    def folders(self, start_ms: int | None = None, end_ms: int | None = None) -> list[Path]:
        """The day folders that may hold records with ``start_ms < ts <= end_ms``."""
        folders = sorted(p for p in self.root.glob("date=*") if p.is_dir())
        if start_ms is not None:
            folders = [f for f in folders if f.name >= _day_name(day_of(start_ms))]
        if end_ms is not None:
            folders = [f for f in folders if f.name <= _day_name(day_of(end_ms))]
        return folders

    def files(self, start_ms: int | None = None, end_ms: int | None = None) -> list[Path]:
        """The live segments of those folders."""
        return [p for f in self.folders(start_ms, end_ms) for p in live_segments(f)]

    @staticmethod
    def journal_payload(first: int, rows: list[tuple[object, ...]]) -> bytes:
        """The journal frame of a batch of rows with positions from ``first``."""
        return dumps({"q": first, "r": rows})

    def journal_rows(self) -> tuple[list[int], list[list[object]]]:
        """Positions and rows of every intact batch in ``wal.log``."""
        seqs: list[int] = []
        rows: list[list[object]] = []
        for payload in read_frames(self.wal):
            batch = orjson.loads(payload)
            seqs.extend(range(batch["q"], batch["q"] + len(batch["r"])))
            rows.extend(batch["r"])
        return seqs, rows

    @staticmethod
    def _stored_seqs(files: list[Path], low: int, high: int) -> set[int]:
        present: set[int] = set()
        for path in files:
            first, last = segment_range(path)
            if first <= high and last >= low:
                present.update(pq.read_table(path, columns=["seq"])["seq"].to_pylist())
        return present

    def unrolled(
        self, seqs: list[int], rows: list[list[object]], files: list[Path]
    ) -> pa.Table | None:
        """The journal records that none of ``files`` holds, as a table (None if none).

        Args:
            seqs: Positions read from the journal.
            rows: Their rows.
            files: The segments listed *after* the journal was read.

        Returns:
            The missing records.
        """
        if not seqs:
            return None
        stored = self._stored_seqs(files, seqs[0], seqs[-1])
        keep = [i for i, s in enumerate(seqs) if s not in stored]
        if not keep:
            return None
        return rows_to_table([seqs[i] for i in keep], [tuple(rows[i]) for i in keep])

    def write_days(self, table: pa.Table) -> list[tuple[Path, Path]]:
        """Write a table as one segment per event day (not yet published).

        Args:
            table: Rows of the prediction schema.

        Returns:
            ``(temporary, final)`` paths to publish.
        """
        days = pc.divide(table["ts"].cast(pa.int64()), DAY_MS).to_numpy()
        files = []
        for day in np.unique(days):
            part = table.filter(pa.array(days == day))
            seqs = part["seq"].to_numpy()
            folder = self.root / _day_name(int(day))
            files.append(write_temp(folder, part, int(seqs.min()), int(seqs.max())))
        return files
