"""Backfill: history loaded through the columnar path into the log and online state.

A backfill behaves exactly as if its events were pushed one by one in event-time
order (ties in the order given): the same events are admitted (duplicates and, with
respect to what was pushed before, late events refused) and the same state results,
but the state of entities with no earlier events is built from columns in one pass.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from upwell.definitions.source import EventSource
from upwell.engine.admission import Verdict
from upwell.engine.columnar import sorted_view_events
from upwell.engine.entity_state import EntityState
from upwell.engine.feature_engine import FeatureEngine
from upwell.engine.view_state import ViewState
from upwell.eventlog.protocol import SEQ, EventLog
from upwell.ingest.columnar_batch import to_table, validate_columns
from upwell.ingest.dead_letters import DeadLetterSink
from upwell.ingest.pusher import PushResult


def backfill(
    engine: FeatureEngine,
    log: EventLog,
    dead_letters: DeadLetterSink,
    source: EventSource,
    data: Any,
) -> PushResult:
    """Load history for one source.

    Args:
        engine: The in-process engine (the embedded store's state).
        log: The event log.
        dead_letters: Where late events go.
        source: The source.
        data: A DataFrame, Arrow table or Parquet path with the source's columns.

    Returns:
        Counts of accepted, duplicate and late events.
    """
    columns = validate_columns(to_table(data), source.schema, f"backfill {source.name!r}")
    ts = columns[source.timestamp]
    order = np.argsort(ts, kind="stable")
    columns = {name: col[order] for name, col in columns.items()}
    ts = columns[source.timestamp]
    ids = columns[source.event_id].tolist() if source.event_id else [None] * len(ts)
    verdicts = engine.check(source.name, ts.tolist(), ids)
    accepted = np.array([v is Verdict.ACCEPTED for v in verdicts], dtype=bool)
    for i in np.flatnonzero(~accepted):
        if verdicts[i] is Verdict.LATE:
            dead_letters.write(source.name, _row(columns, int(i)), Verdict.LATE.value)
    kept = {name: col[accepted] for name, col in columns.items()}
    first = log.last_seq() + 1
    seq = np.arange(first, first + int(accepted.sum()), dtype=np.int64)
    if seq.size:
        log.append_table(source, _table(source, kept, seq))
        _fold(engine, source, kept, seq, [i for i, a in zip(ids, accepted, strict=True) if a])
    return PushResult(
        accepted=int(seq.size),
        duplicates=verdicts.count(Verdict.DUPLICATE),
        late=verdicts.count(Verdict.LATE),
    )


def _row(columns: dict[str, np.ndarray], i: int) -> dict[str, Any]:
    return {
        name: col[i].item() if hasattr(col[i], "item") else col[i] for name, col in columns.items()
    }


def _table(source: EventSource, columns: dict[str, np.ndarray], seq: np.ndarray) -> pa.Table:
    from upwell.eventlog.arrow_rows import arrow_schema  # noqa: PLC0415 (keeps imports light)

    data: dict[str, Any] = {SEQ: seq}
    data.update({name: columns[name] for name in source.schema})
    return pa.table(data, schema=arrow_schema(source))


def _fold(
    engine: FeatureEngine,
    source: EventSource,
    columns: dict[str, np.ndarray],
    seq: np.ndarray,
    ids: list[Any],
) -> None:
    ts = columns[source.timestamp]
    admission = engine.admission[source.name]
    for t, event_id in zip(ts.tolist(), ids, strict=True):
        admission.record(t, event_id)
    for view in engine.by_source[source.name]:
        _fold_view(view, columns, ts, seq)
    engine.last_seq = int(seq[-1])
    engine.maintain()


def _fold_view(
    view: ViewState, columns: dict[str, np.ndarray], ts: np.ndarray, seq: np.ndarray
) -> None:
    keys = list(zip(*(columns[k].tolist() for k in view.plan.keys), strict=True))
    existing = np.array([k in view.entities for k in keys], dtype=bool)
    for i in np.flatnonzero(existing):
        row = {
            name: col[i].item() if hasattr(col[i], "item") else col[i]
            for name, col in columns.items()
        }
        view.apply(row, int(ts[i]), int(seq[i]))
    fresh = ~existing
    if not fresh.any():
        return
    sub = {name: col[fresh] for name, col in columns.items()}
    events, order = sorted_view_events(view.plan, sub, ts[fresh], seq[fresh])
    sorted_keys = [keys[i] for i in np.flatnonzero(fresh)[order]]
    squares = tuple(c.squares for c in view.plan.channels)
    for start, length in zip(events.starts.tolist(), events.lengths.tolist(), strict=True):
        stop = start + length
        state = EntityState(len(view.plan.channels), squares)
        state.ts = events.ts[start:stop].tolist()
        state.seq = events.seq[start:stop].tolist()
        for c, channel in enumerate(events.channels):
            kept = channel.included[start:stop]
            values = channel.values[start:stop]
            state.values[c] = [
                v if k else None for v, k in zip(values.tolist(), kept.tolist(), strict=True)
            ]
            state.count[c] = [0, *channel.counts[start:stop].tolist()]
            totals = channel.totals
            state.total[c] = (
                [0.0, *totals[start:stop].tolist()] if totals is not None else [0.0] * (length + 1)
            )
            if channel.shifted is not None and channel.shifted_sq is not None:
                state.shifted[c] = [0.0, *channel.shifted[start:stop].tolist()]
                state.shifted_sq[c] = [0.0, *channel.shifted_sq[start:stop].tolist()]
                state.shift[c] = _first_kept_by_seq(values, kept, state.seq)
        view.entities[sorted_keys[start]] = state


def _first_kept_by_seq(values: np.ndarray, kept: np.ndarray, seq: list[int]) -> float | None:
    idx = np.flatnonzero(kept)
    if idx.size == 0:
        return None
    return float(values[idx[np.argmin(np.asarray(seq)[idx])]])
