"""Comparisons of online reads, columnar training sets and the oracle.

Online and columnar values must be *identical* (bit for bit; None and NaN both mean
null). Against the oracle, exact aggregations must be equal, floating-point ones
within a relative 1e-9 of the value or of the entity's value scale (the engine sums
through per-entity prefix sums, whose rounding grows with the history, not with the
window), and sketches within their stated error bounds.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from tests import oracle
from tests.unit.engine.feature_streams import (
    APPROXIMATE,
    SOURCE,
    FeatureCase,
    Replay,
    Row,
    to_datetime,
)

import upwell as uw

RTOL = 1e-9
Read = tuple[int, int]
"""A time-anchored read: (uid, as-of time in ms)."""


def is_null(value: Any) -> bool:
    """None or NaN."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def same(a: Any, b: Any) -> bool:
    """Identical values: exact float equality, lists elementwise, None == NaN (null)."""
    if is_null(a) or is_null(b):
        return is_null(a) and is_null(b)
    if isinstance(a, list | tuple | np.ndarray) or isinstance(b, list | tuple | np.ndarray):
        return isinstance(a, list | tuple | np.ndarray) and list(a) == list(b)
    return bool(a == b)


def agrees(case: FeatureCase, got: Any, want: Any, scale: float) -> bool:
    """Whether an engine value agrees with the oracle's (see the module docstring)."""
    kind = case.agg.kind
    if kind in APPROXIMATE:
        return oracle.within_sketch_bound(case.agg, None if is_null(got) else got, want)
    if want is None or is_null(got):
        return want is None and is_null(got)
    close = _FLOAT_TOLERANCE.get(kind)
    return same(got, want) if close is None else close(got, want, scale)


def _close(got: float, want: float, scale: float) -> bool:
    return abs(got - want) <= RTOL * max(abs(want), scale)


_FLOAT_TOLERANCE: dict[str, Callable[[float, float, float], bool]] = {
    "sum": _close,
    "mean": _close,
    "ratio_of_sums": _close,
    "variance": lambda got, want, scale: _close(got, want, scale * scale),
    "stddev": lambda got, want, scale: _close(got * got, want * want, scale * scale),
}
"""Kinds computed in floating point; the others must equal the oracle exactly."""


class OracleReads:
    """The oracle's values of many features over one event log, window by window.

    Args:
        cases: The features.
        logged: The logged rows, in log order.
        seqs: Their log positions.
    """

    def __init__(self, cases: Sequence[FeatureCase], logged: Sequence[Row], seqs: Sequence[int]):
        self.groups: dict[tuple[str, oracle.WindowSpec], list[FeatureCase]] = defaultdict(list)
        for case in cases:
            self.groups[(case.column, case.window)].append(case)
        self.events = {
            column: [
                oracle.Event(
                    ts=r.ts, seq=s, key=r.uid, value=getattr(r, column), flag=r.flag, weight=r.w
                )
                for r, s in zip(logged, seqs, strict=True)
            ]
            for column, _ in self.groups
        }
        self.scales: dict[tuple[str, int], float] = {}
        for column in self.events:
            for r in logged:
                key = (column, r.uid)
                self.scales[key] = max(self.scales.get(key, 1.0), abs(float(getattr(r, column))))

    def check(
        self, values: dict[str, Any], uid: int, as_of: int, upto_seq: int | None, what: str
    ) -> None:
        """Assert that one row of engine values agrees with the oracle."""
        for (column, window), cases in self.groups.items():
            events = oracle.window_events(self.events[column], uid, window, as_of, upto_seq)
            scale = self.scales.get((column, uid), 1.0)
            for case in cases:
                want = oracle.aggregate(case.agg, events)
                got = values[case.ref]
                assert agrees(case, got, want, scale), (
                    f"{case.ref} of {what}: engine {got!r}, oracle {want!r}"
                )


def logged_seqs(store: uw.FeatureStore, done: Replay) -> list[int]:
    """Check the log holds exactly the admitted events in order, and late ones are dead.

    Returns:
        The log position of each logged row.
    """
    table = store.events(SOURCE).to_pandas().sort_values("__seq__")
    assert table["eid"].tolist() == [r.eid for r in done.logged]
    letters = store.dead_letters.read()
    assert [(d["reason"], d["event"]["eid"]) for d in letters] == [
        ("late", r.eid) for r in done.late
    ]
    return [int(s) for s in table["__seq__"]]


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A DataFrame's rows as dicts (fast to index, unlike ``iloc``)."""
    return frame.to_dict("records")


def check_event_anchored(
    store: uw.FeatureStore, cases: Sequence[FeatureCase], done: Replay
) -> None:
    """Every logged event: online read after its push == its training row == the oracle."""
    seqs = logged_seqs(store, done)
    refs = [c.ref for c in cases]
    rows = {int(r["eid"]): r for r in records(store.event_training_set(refs, SOURCE))}
    assert sorted(rows) == sorted(r.eid for r in done.logged)
    for eid, online in done.online.items():
        for ref in refs:
            assert same(online[ref], rows[eid][ref]), (
                f"{ref} of event {eid}: online {online[ref]!r} != columnar {rows[eid][ref]!r}"
            )
    reads = OracleReads(cases, done.logged, seqs)
    for row, seq in zip(done.logged, seqs, strict=True):
        reads.check(rows[row.eid], row.uid, row.ts, seq, f"event {row.eid} (seq {seq})")


def check_time_anchored(
    store: uw.FeatureStore, cases: Sequence[FeatureCase], done: Replay, reads: Sequence[Read]
) -> None:
    """Reads ``(uid, t)``: training set == online as of t (after every push) == oracle."""
    refs = [c.ref for c in cases]
    entity_df = pd.DataFrame(
        {
            "uid": [u for u, _ in reads],
            "timestamp": pd.to_datetime([t for _, t in reads], unit="ms", utc=True),
        }
    )
    rows = records(store.training_set(refs, entity_df))
    for (uid, t), row in zip(reads, rows, strict=True):
        online = store.get_features(refs, {"uid": uid}, as_of=to_datetime(t))
        for ref in refs:
            assert same(online[ref], row[ref]), (
                f"{ref} of uid {uid} as of {t}: online {online[ref]!r} != training {row[ref]!r}"
            )
    truth = OracleReads(cases, done.logged, range(len(done.logged)))
    for (uid, t), row in zip(reads, rows, strict=True):
        truth.check(row, uid, t, None, f"uid {uid} as of {t}")


def check_online(
    store: uw.FeatureStore,
    cases: Sequence[FeatureCase],
    logged: Sequence[Row],
    reads: Sequence[Read],
) -> None:
    """Online reads ``(uid, t)`` agree with the oracle over every logged event with ts <= t."""
    refs = [c.ref for c in cases]
    truth = OracleReads(cases, logged, range(len(logged)))  # log order: enough for ts <= t
    for uid, t in reads:
        online = store.get_features(refs, {"uid": uid}, as_of=to_datetime(t))
        truth.check(online, uid, t, None, f"uid {uid} as of {t} (online)")


def edge_times(cases: Sequence[FeatureCase], times: Iterable[int]) -> list[int]:
    """Read times that put event times exactly on (and one ms beside) window edges."""
    out: set[int] = set()
    specs = {c.window for c in cases}
    for ts in set(times):
        out.update((ts - 1, ts, ts + 1))
        for spec in specs:
            d = spec.offset_ms
            out.update((ts + d - 1, ts + d))  # ts == t - offset: the newest edge
            if spec.kind == "sliding":
                out.update((ts + d + spec.size_ms - 1, ts + d + spec.size_ms))
            if spec.kind == "hopping":
                for end in (ts, ts + spec.size_ms):
                    grid = -(-end // spec.hop_ms) * spec.hop_ms  # first hop boundary >= end
                    out.update((grid + d - 1, grid + d, grid + d + 1))
    return sorted(out)
