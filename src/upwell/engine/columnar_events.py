"""Events of one view in columnar form, sorted by (entity, event time, log position).

Prefix arrays are *inclusive and per entity*: ``totals[i]`` is the sum of the kept
values of the entity's events up to and including ``i``, accumulated one by one from
the entity's first event, exactly as the per-event path accumulates them, so both
paths produce bit-identical window sums.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_SHORT_GROUP = 4096


@dataclass(frozen=True)
class ColumnarChannel:
    """One channel's columns over the sorted events."""

    included: np.ndarray
    values: np.ndarray
    kept: np.ndarray
    counts: np.ndarray
    totals: np.ndarray | None
    shifted: np.ndarray | None
    shifted_sq: np.ndarray | None


@dataclass(frozen=True)
class ColumnarEvents:
    """Sorted events of one view: times, log positions, group offsets and channels."""

    ts: np.ndarray
    seq: np.ndarray
    starts: np.ndarray
    lengths: np.ndarray
    channels: tuple[ColumnarChannel, ...]


def segmented_cumsum(values: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Inclusive cumulative sums restarting at each group, added strictly one by one.

    Sequential order matters: a Python loop ``total += v`` per group gives the same bits.

    Args:
        values: The values, groups contiguous.
        starts: Each group's first index.
        lengths: Each group's length.

    Returns:
        The per-group inclusive cumulative sums.

    >>> segmented_cumsum(np.array([1.0, 2.0, 3.0, 4.0]), np.array([0, 2]), np.array([2, 2]))
    array([1., 3., 3., 7.])
    """
    out = np.array(values, dtype=values.dtype, copy=True)
    if out.size == 0:
        return out
    long_groups = np.flatnonzero(lengths > _SHORT_GROUP)
    for g in long_groups:
        s, n = int(starts[g]), int(lengths[g])
        out[s : s + n] = np.cumsum(values[s : s + n])
    short = lengths <= _SHORT_GROUP
    order = np.argsort(-lengths[short], kind="stable")
    short_starts = starts[short][order]
    short_lengths = lengths[short][order]
    max_len = int(short_lengths[0]) if short_lengths.size else 0
    # step j adds element j of every group longer than j, keeping per-group sequential order
    active = short_lengths.size
    for j in range(1, max_len):
        while active and short_lengths[active - 1] <= j:
            active -= 1
        idx = short_starts[:active] + j
        out[idx] = out[idx - 1] + values[idx]
    return out


def segmented_count(included: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Inclusive per-group running counts of True values (integers: exact in any order).

    Args:
        included: Booleans, groups contiguous.
        starts: Each group's first index.
        lengths: Each group's length.

    Returns:
        int64 running counts.
    """
    total = np.cumsum(included, dtype=np.int64)
    before = np.repeat(np.where(starts > 0, total[np.maximum(starts - 1, 0)], 0), lengths)
    before[np.repeat(starts, lengths) == 0] = 0
    return np.asarray(total - before, dtype=np.int64)


def window_diff(
    prefix: np.ndarray, a: np.ndarray, b: np.ndarray, group_start: np.ndarray, zero: float | int
) -> np.ndarray:
    """Sum over events ``[a, b)`` from an inclusive per-group prefix.

    Mirrors the per-event path's ``prefix[b] - prefix[a]`` operation for operation.

    Args:
        prefix: Inclusive per-group prefix array.
        a: First event index per query.
        b: One past the last event index per query.
        group_start: The queried entity's first event index (any value where a == b).
        zero: The prefix before a group's first event (0 or 0.0).

    Returns:
        One value per query.
    """
    if prefix.size == 0:
        return np.full(a.shape, zero, dtype=np.asarray(zero).dtype)
    upper = np.where(b > group_start, prefix[np.maximum(b - 1, 0)], zero)
    lower = np.where(a > group_start, prefix[np.maximum(a - 1, 0)], zero)
    return upper - lower
