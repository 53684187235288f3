"""Parquet segment files named by the range of log positions they hold.

A segment is ``part-<first>-<last>.parquet`` (positions zero-padded to 20 digits) and is
published atomically: written under a temporary name, synced, renamed, and its folder
synced. Compaction merges the segments of one folder into one whose range covers them all
and then deletes the merged ones; until they are deleted, :func:`live_segments` hides any
segment whose range lies inside another's, so readers never see a record twice.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

__all__ = [
    "TEMP_SUFFIX",
    "compact_folder",
    "live_segments",
    "publish",
    "remove_covered",
    "segment_name",
    "segment_range",
    "sync_folder",
    "write_temp",
]

TEMP_SUFFIX = ".tmp"
"""Suffix of segments being written; a crash may leave them behind, readers ignore them."""


def segment_name(first: int, last: int) -> str:
    """The file name of the segment holding positions ``first`` to ``last``.

    >>> segment_name(1, 12)
    'part-00000000000000000001-00000000000000000012.parquet'
    """
    return f"part-{first:020d}-{last:020d}.parquet"


def segment_range(path: Path) -> tuple[int, int]:
    """The first and last positions a segment holds, read from its name."""
    _, first, last = path.stem.split("-")
    return int(first), int(last)


def _is_covered(rng: tuple[int, int], others: Iterable[tuple[int, int]]) -> bool:
    return any(o != rng and o[0] <= rng[0] and rng[1] <= o[1] for o in others)


def live_segments(folder: Path) -> list[Path]:
    """The segments of a folder that are not merged into another one, in position order."""
    paths = sorted(folder.glob("part-*.parquet"))
    ranges = [segment_range(p) for p in paths]
    return [p for p, r in zip(paths, ranges, strict=True) if not _is_covered(r, ranges)]


def sync_folder(folder: Path) -> None:
    """Force a folder's entries (created or renamed files) to stable storage."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_temp(folder: Path, table: pa.Table, first: int, last: int) -> tuple[Path, Path]:
    """Write a segment under its temporary name and sync it.

    Args:
        folder: Where the segment goes (created if missing).
        table: Its rows.
        first: Its first position.
        last: Its last position.

    Returns:
        ``(temporary path, final path)``; :func:`publish` renames one to the other.
    """
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / segment_name(first, last)
    temp = final.with_suffix(TEMP_SUFFIX)
    pq.write_table(table, temp)
    with open(temp, "rb") as handle:
        os.fsync(handle.fileno())
    return temp, final


def publish(files: Iterable[tuple[Path, Path]]) -> None:
    """Rename written segments to their final names and sync their folders."""
    folders = set()
    for temp, final in files:
        os.replace(temp, final)
        folders.add(final.parent)
    for folder in folders:
        sync_folder(folder)


def remove_covered(folder: Path) -> int:
    """Delete the segments merged into another (left by a crash during compaction).

    Returns:
        How many files were deleted.
    """
    paths = sorted(folder.glob("part-*.parquet"))
    ranges = [segment_range(p) for p in paths]
    covered = [p for p, r in zip(paths, ranges, strict=True) if _is_covered(r, ranges)]
    for path in covered:
        path.unlink()
    for temp in folder.glob(f"part-*{TEMP_SUFFIX}"):
        temp.unlink()
    if covered:
        sync_folder(folder)
    return len(covered)


def compact_folder(folder: Path, schema: pa.Schema) -> tuple[Path, Path] | None:
    """Write the merge of a folder's live segments (not yet published).

    Args:
        folder: The folder.
        schema: The segments' schema.

    Returns:
        ``(temporary, final)`` of the merged segment, or None if there is at most one
        segment; publish it, then call :func:`remove_covered`.
    """
    paths = live_segments(folder)
    if len(paths) < 2:
        return None
    table = pa.concat_tables([pq.read_table(p, schema=schema) for p in paths])
    table = table.sort_by("seq")
    first, last = segment_range(paths[0])[0], max(segment_range(p)[1] for p in paths)
    return write_temp(folder, table, first, last)
