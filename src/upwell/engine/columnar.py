"""The columnar path: every feature of a view for many anchor rows at once.

Events are sorted by (entity, event time, log position); each anchor's window becomes
an index range found by one merge-sort, and each aggregation computes all ranges with
NumPy. Per-entity prefix sums are accumulated in the same order as the per-event path,
so both paths give bit-identical values.

Anchors are *time-anchored* (``anchor_seq`` is None: every event with ``ts <= t``
counts) or *event-anchored* (each anchor is a logged event: only events logged up to
and including it count, as the per-event path saw them). Event-anchored rows of an
entity whose events were logged out of time order are computed exactly, one anchor at
a time, on the events logged before it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from upwell.engine.aggregations import ColumnarQuery, implementation
from upwell.engine.columnar_events import (
    ColumnarChannel,
    ColumnarEvents,
    segmented_count,
    segmented_cumsum,
)
from upwell.engine.plan import Channel, ViewPlan
from upwell.engine.replay import replay_entity
from upwell.engine.windows import window_bounds_array

_MAX = np.iinfo(np.int64).max


@dataclass(frozen=True)
class Anchors:
    """The rows to compute features for: entity keys, read times and optional log positions."""

    keys: Sequence[np.ndarray]
    ts: np.ndarray
    seq: np.ndarray | None = None


def compute_view(
    plan: ViewPlan,
    events: Mapping[str, np.ndarray],
    ts: np.ndarray,
    seq: np.ndarray,
    anchors: Anchors,
) -> dict[str, np.ndarray]:
    """Every feature of a view for every anchor row.

    Args:
        plan: The compiled view.
        events: The source's event columns (all of one length).
        ts: The events' times, int64 ms.
        seq: The events' log positions, int64.
        anchors: The rows to compute.

    Returns:
        Feature name to an array with one value per anchor row.
    """
    codes, anchor_codes = _entity_codes([events[k] for k in plan.keys], anchors.keys)
    order = np.lexsort((seq, ts, codes))
    sorted_codes = codes[order]
    sorted_events = _sorted_columns(plan, events, ts[order], seq[order], sorted_codes, order)
    # queries in (entity, time) order make every searchsorted walk the events once: the
    # same order holds for every window's bounds, which are monotone in the read time
    tie = anchors.seq if anchors.seq is not None else np.zeros(anchor_codes.size, np.int64)
    q_order = np.lexsort((tie, anchors.ts, anchor_codes))
    ordered = Anchors(
        keys=anchors.keys,
        ts=anchors.ts[q_order],
        seq=None if anchors.seq is None else anchors.seq[q_order],
    )
    computed = _compute_sorted(plan, sorted_events, sorted_codes, anchor_codes[q_order], ordered)
    out = {}
    for name, column in computed.items():
        restored = np.empty_like(column)
        restored[q_order] = column
        out[name] = restored
    if anchors.seq is not None:
        _recompute_out_of_order(plan, events, ts, seq, codes, anchor_codes, anchors, out)
    return out


def sorted_view_events(
    plan: ViewPlan, events: Mapping[str, np.ndarray], ts: np.ndarray, seq: np.ndarray
) -> tuple[ColumnarEvents, np.ndarray]:
    """A view's events sorted by (entity, time, position), with channels and prefix sums.

    Args:
        plan: The compiled view.
        events: The source's event columns.
        ts: Event times, int64 ms.
        seq: Log positions, int64.

    Returns:
        The sorted events, and the permutation that sorted them.
    """
    codes, _ = _entity_codes([events[k] for k in plan.keys], [np.empty(0) for _ in plan.keys])
    order = np.lexsort((seq, ts, codes))
    return _sorted_columns(plan, events, ts[order], seq[order], codes[order], order), order


def _entity_codes(
    event_keys: Sequence[np.ndarray], anchor_keys: Sequence[np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    n = len(event_keys[0]) if event_keys else 0
    arrays = [
        np.concatenate([np.asarray(e, dtype=object), np.asarray(a, dtype=object)])
        for e, a in zip(event_keys, anchor_keys, strict=True)
    ]
    if len(arrays) == 1:
        codes = pd.factorize(arrays[0])[0]
    else:
        codes = pd.MultiIndex.from_arrays(arrays).factorize()[0]
    codes = codes.astype(np.int64)
    return codes[:n], codes[n:]


def _sorted_columns(
    plan: ViewPlan,
    events: Mapping[str, np.ndarray],
    ts: np.ndarray,
    seq: np.ndarray,
    codes: np.ndarray,
    order: np.ndarray,
) -> ColumnarEvents:
    _, starts, lengths = np.unique(codes, return_index=True, return_counts=True)
    group_of = np.repeat(np.arange(starts.size), lengths)
    sorted_cols = {name: np.asarray(col)[order] for name, col in events.items()}
    channels = tuple(
        _channel(c, sorted_cols, len(ts), seq, starts, lengths, group_of) for c in plan.channels
    )
    return ColumnarEvents(ts=ts, seq=seq, starts=starts, lengths=lengths, channels=channels)


def _channel(
    channel: Channel,
    cols: Mapping[str, np.ndarray],
    n: int,
    seq: np.ndarray,
    starts: np.ndarray,
    lengths: np.ndarray,
    group_of: np.ndarray,
) -> ColumnarChannel:
    included = (
        np.ones(n, dtype=bool)
        if channel.where is None
        else np.asarray(channel.where.evaluate_columns(cols), dtype=bool)
    )
    if channel.value is None:
        values: np.ndarray = np.ones(n)
    else:
        raw = np.asarray(channel.value.evaluate_columns(cols))
        values = raw.astype(np.float64) if channel.numeric else raw.astype(object)
    counts = segmented_count(included, starts, lengths)
    totals = shifted = squares = None
    if channel.numeric:
        totals = segmented_cumsum(np.where(included, values, 0.0), starts, lengths)
        if channel.squares:
            delta = np.where(included, values - _first_by_seq(values, included, seq, group_of), 0.0)
            shifted = segmented_cumsum(delta, starts, lengths)
            squares = segmented_cumsum(delta * delta, starts, lengths)
    return ColumnarChannel(
        included=included,
        values=values,
        kept=np.flatnonzero(included),
        counts=counts,
        totals=totals,
        shifted=shifted,
        shifted_sq=squares,
    )


def _first_by_seq(
    values: np.ndarray, included: np.ndarray, seq: np.ndarray, group_of: np.ndarray
) -> np.ndarray:
    """Per event, the first kept value of its entity in log order (the variance shift)."""
    kept = np.flatnonzero(included)
    first = np.zeros(int(group_of.max()) + 1 if group_of.size else 0)
    if kept.size:
        order = kept[np.lexsort((seq[kept], group_of[kept]))]
        groups, first_idx = np.unique(group_of[order], return_index=True)
        first[groups] = values[order[first_idx]]
    return np.asarray(first[group_of])


def _positions(
    codes: np.ndarray,
    ts: np.ndarray,
    seq: np.ndarray,
    q_codes: np.ndarray,
    q_ts: np.ndarray,
    q_seq: np.ndarray,
) -> np.ndarray:
    """For each query, how many sorted events have (code, ts, seq) <= the query's key."""
    composite = _composite_keys(codes, ts, q_codes, q_ts)
    if composite is None:
        return _merge_positions(codes, ts, seq, q_codes, q_ts, q_seq)
    keys, q_keys = composite
    left = np.searchsorted(keys, q_keys, "left")
    right = np.searchsorted(keys, q_keys, "right")
    result = right.copy()
    tied = np.flatnonzero((right > left) & (q_seq < _MAX))
    if tied.size:
        # within a run of equal (entity, time) events positions follow seq; number the
        # runs so that (run, seq) is one increasing key
        run = np.concatenate([[0], np.cumsum(keys[1:] != keys[:-1])])
        stride = int(max(seq.max(), q_seq[tied].max())) + 2
        run_keys = run * stride + seq
        result[tied] = np.searchsorted(run_keys, run[left[tied]] * stride + q_seq[tied], "right")
    return result


def _composite_keys(
    codes: np.ndarray, ts: np.ndarray, q_codes: np.ndarray, q_ts: np.ndarray
) -> tuple[np.ndarray, np.ndarray] | None:
    """One int64 key ``code * span + time`` per event and query, when it cannot overflow."""
    if ts.size == 0:
        return None
    t_min, t_max = int(ts.min()), int(ts.max())
    span = t_max - t_min + 3
    n_codes = int(max(codes.max(initial=0), q_codes.max(initial=0))) + 1
    if n_codes * span >= _MAX // 2:
        return None
    clipped = np.clip(q_ts, t_min - 1, t_max + 1) - t_min + 1
    return codes * span + (ts - t_min + 1), q_codes * span + clipped


def _merge_positions(
    codes: np.ndarray,
    ts: np.ndarray,
    seq: np.ndarray,
    q_codes: np.ndarray,
    q_ts: np.ndarray,
    q_seq: np.ndarray,
) -> np.ndarray:
    n = codes.size
    all_codes = np.concatenate([codes, q_codes])
    all_ts = np.concatenate([ts, q_ts])
    all_seq = np.concatenate([seq, q_seq])
    flag = np.concatenate([np.zeros(n, np.int8), np.ones(q_codes.size, np.int8)])
    order = np.lexsort((flag, all_seq, all_ts, all_codes))
    is_query = flag[order] == 1
    events_before = np.cumsum(~is_query)
    result = np.empty(q_codes.size, dtype=np.int64)
    result[order[is_query] - n] = events_before[is_query]
    return result


def _compute_sorted(
    plan: ViewPlan,
    events: ColumnarEvents,
    codes: np.ndarray,
    anchor_codes: np.ndarray,
    anchors: Anchors,
) -> dict[str, np.ndarray]:
    n_q = anchor_codes.size
    hi_seq = anchors.seq if anchors.seq is not None else np.full(n_q, _MAX)
    group_start = _positions(
        codes,
        events.ts,
        events.seq,
        anchor_codes,
        np.full(n_q, np.iinfo(np.int64).min),
        np.zeros(n_q, np.int64),
    )
    ranges = []
    for window, offset in plan.bounds:
        lo, hi = window_bounds_array(window, offset, anchors.ts)
        b = _positions(codes, events.ts, events.seq, anchor_codes, hi, hi_seq)
        if window.span_ms is None:
            a = np.minimum(group_start, b)
        else:
            a = np.minimum(
                _positions(codes, events.ts, events.seq, anchor_codes, lo, np.full(n_q, _MAX)), b
            )
        ranges.append((a, b, window.span_ms is None))
    out = {}
    for feature in plan.features:
        a, b, lifetime = ranges[feature.bounds_key]
        query = ColumnarQuery(events=events, a=a, b=b, group_start=group_start, lifetime=lifetime)
        out[feature.name] = implementation(feature.aggregation).columnar(query, feature)
    return out


def _recompute_out_of_order(
    plan: ViewPlan,
    events: Mapping[str, np.ndarray],
    ts: np.ndarray,
    seq: np.ndarray,
    codes: np.ndarray,
    anchor_codes: np.ndarray,
    anchors: Anchors,
    out: dict[str, np.ndarray],
) -> None:
    """Recompute, by a replay in log order, entities whose log is out of time order."""
    assert anchors.seq is not None  # noqa: S101 (event-anchored only)
    all_codes = np.concatenate([codes, anchor_codes])
    all_ts = np.concatenate([ts, anchors.ts])
    all_seq = np.concatenate([seq, anchors.seq])
    order = np.lexsort((all_seq, all_codes))
    same = all_codes[order][1:] == all_codes[order][:-1]
    backwards = same & (np.diff(all_ts[order]) < 0)
    if not backwards.any():
        return
    bad_codes = np.unique(all_codes[order][1:][backwards])
    for code in bad_codes.tolist():
        mine = np.flatnonzero(codes == code)
        rows = np.flatnonzero(anchor_codes == code)
        if mine.size == 0 or rows.size == 0:
            continue
        sub = {name: np.asarray(col)[mine] for name, col in events.items()}
        values = replay_entity(plan, sub, ts[mine], seq[mine], anchors.ts[rows], anchors.seq[rows])
        for i, features in zip(rows.tolist(), values, strict=True):
            for name, value in features.items():
                column = out[name]
                column[i] = np.nan if value is None and column.dtype.kind == "f" else value
