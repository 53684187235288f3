"""Event streams, feature tables and their replay, shared by the engine's property tests.

A stream is a list of deliveries (one ``push`` each) of transaction events. The
harness replays it into a :class:`upwell.FeatureStore`, predicts independently which
events are admitted (lateness against the watermark, duplicate ids), reads features
online right after each push; :mod:`feature_checks` then compares three computations of
every feature: the online read, the columnar training set and :mod:`tests.oracle`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from tests.oracle import AggSpec, WindowSpec

import upwell as uw

SOURCE = "tx"
VIEW = "f"
T0_MS = 1_704_067_200_000
"""2024-01-01T00:00:00Z: on every second, minute, hour and day grid."""

USER = uw.Entity(name="user", keys=("uid",))
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_datetime(ms: int) -> datetime:
    """The aware UTC datetime of epoch milliseconds."""
    return _EPOCH + timedelta(milliseconds=ms)


def source(lateness_ms: int) -> uw.EventSource:
    """The transaction source: float ``v``, int ``n``, weight ``w`` and filter ``flag``."""
    return uw.EventSource(
        name=SOURCE,
        schema={
            "eid": int,
            "uid": int,
            "ts": datetime,
            "v": float,
            "n": int,
            "w": float,
            "flag": bool,
        },
        timestamp="ts",
        event_id="eid",
        entities=(USER,),
        allowed_lateness=lateness_ms,
    )


# ---- features ---------------------------------------------------------------------


@dataclass(frozen=True)
class AggCase:
    """One aggregation kind: its upwell spec built from a column, and the oracle's."""

    label: str
    build: Callable[[str], uw.Aggregation]
    spec: AggSpec


AGGREGATIONS: tuple[AggCase, ...] = (
    AggCase("count", lambda c: uw.Count(), AggSpec("count")),
    AggCase("sum", uw.Sum, AggSpec("sum")),
    AggCase("mean", uw.Mean, AggSpec("mean")),
    AggCase("min", uw.Min, AggSpec("min")),
    AggCase("max", uw.Max, AggSpec("max")),
    AggCase("var_pop", lambda c: uw.Variance(c, ddof=0), AggSpec("variance", ddof=0)),
    AggCase("var", lambda c: uw.Variance(c, ddof=1), AggSpec("variance", ddof=1)),
    AggCase("std_pop", lambda c: uw.Stddev(c, ddof=0), AggSpec("stddev", ddof=0)),
    AggCase("std", lambda c: uw.Stddev(c, ddof=1), AggSpec("stddev", ddof=1)),
    AggCase("first", uw.First, AggSpec("first")),
    AggCase("last", uw.Last, AggSpec("last")),
    AggCase("last_3", lambda c: uw.LastK(c, k=3), AggSpec("last_k", k=3)),
    AggCase("distinct", uw.DistinctCount, AggSpec("distinct_count")),
    AggCase("ratio", uw.RatioOfSums, AggSpec("ratio_of_sums")),
    AggCase(
        "ratio_w",
        lambda c: uw.RatioOfSums(c, "w", default=None),
        AggSpec("ratio_of_sums", with_denominator=True, default=None),
    ),
    AggCase("hll", uw.ApproxDistinctCount, AggSpec("approx_distinct_count")),
    AggCase("p50", lambda c: uw.ApproxPercentile(c, q=0.5), AggSpec("approx_percentile", q=0.5)),
    AggCase("p90", lambda c: uw.ApproxPercentile(c, q=0.9), AggSpec("approx_percentile", q=0.9)),
)
APPROXIMATE = frozenset({"approx_distinct_count", "approx_percentile"})


@dataclass(frozen=True)
class WindowChoice:
    """A window and offset as upwell takes them, and the oracle's description."""

    window: uw.Sliding | uw.Lifetime | uw.Hopping
    offset_ms: int | None
    spec: WindowSpec


def sliding(size_ms: int, offset_ms: int | None = None) -> WindowChoice:
    """A sliding window, optionally offset."""
    spec = WindowSpec("sliding", size_ms=size_ms, offset_ms=offset_ms or 0)
    return WindowChoice(uw.Sliding(size_ms), offset_ms, spec)


def lifetime(offset_ms: int | None = None) -> WindowChoice:
    """A lifetime window, optionally offset."""
    return WindowChoice(uw.Lifetime(), offset_ms, WindowSpec("lifetime", offset_ms=offset_ms or 0))


def hopping(size_ms: int, hop_ms: int, offset_ms: int | None = None) -> WindowChoice:
    """A hopping window (tumbling when ``hop_ms == size_ms``), optionally offset."""
    window = uw.Tumbling(size_ms) if hop_ms == size_ms else uw.Hopping(size_ms, hop_ms)
    spec = WindowSpec("hopping", size_ms=size_ms, hop_ms=hop_ms, offset_ms=offset_ms or 0)
    return WindowChoice(window, offset_ms, spec)


@dataclass(frozen=True)
class FeatureCase:
    """One feature of the view under test, with what the oracle needs to check it."""

    name: str
    feature: uw.Feature
    column: str
    window: WindowSpec
    agg: AggSpec

    @property
    def ref(self) -> str:
        """The qualified name."""
        return f"{VIEW}.{self.name}"


def feature_cases(
    windows: Sequence[tuple[str, WindowChoice]],
    aggregations: Sequence[AggCase] = AGGREGATIONS,
    columns: Sequence[str] = ("v",),
) -> list[FeatureCase]:
    """Every aggregation over every window and column, with and without ``where=flag``."""
    cases = []
    for window_id, choice in windows:
        for column in columns:
            for agg in aggregations:
                for filtered in (False, True):
                    name = f"{window_id}_{column}_{agg.label}{'_where' if filtered else ''}"
                    feature = uw.Feature(
                        name=name,
                        aggregation=agg.build(column),
                        window=choice.window,
                        offset=choice.offset_ms,
                        where=uw.col("flag") if filtered else None,
                    )
                    spec = AggSpec(**{**agg.spec.__dict__, "filtered": filtered})
                    cases.append(FeatureCase(name, feature, column, choice.spec, spec))
    return cases


def definitions(cases: Sequence[FeatureCase], lateness_ms: int) -> list[Any]:
    """The entity, source and one view holding every feature case."""
    view = uw.FeatureView(
        name=VIEW, entity=USER, source=source(lateness_ms), features=[c.feature for c in cases]
    )
    return [USER, view.source, view]


# ---- streams and admission --------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One transaction event."""

    eid: int
    uid: int
    ts: int
    v: float
    n: int
    w: float
    flag: bool

    def event(self) -> dict[str, Any]:
        """The event as pushed."""
        return {**self.__dict__, "ts": to_datetime(self.ts)}


Delivery = tuple[Row, ...]


def admit(deliveries: Sequence[Delivery], lateness_ms: int) -> list[list[str]]:
    """Which events the source admits, predicted from DESIGN.md's rules.

    Events are judged one by one in delivery order: older than the watermark (the
    latest admitted time) minus the allowed lateness is ``late``; an id already
    admitted is a ``duplicate``; anything else is ``accepted``.
    """
    watermark: int | None = None
    seen: set[int] = set()
    verdicts = []
    for delivery in deliveries:
        out = []
        for row in delivery:
            if watermark is not None and row.ts < watermark - lateness_ms:
                out.append("late")
            elif row.eid in seen:
                out.append("duplicate")
            else:
                out.append("accepted")
                seen.add(row.eid)
                watermark = row.ts if watermark is None else max(watermark, row.ts)
        verdicts.append(out)
    return verdicts


@dataclass
class Replay:
    """What a replay did: the logged rows in log order, online reads, refused rows."""

    logged: list[Row] = field(default_factory=list)
    late: list[Row] = field(default_factory=list)
    online: dict[int, dict[str, Any]] = field(default_factory=dict)


def replay(
    store: uw.FeatureStore,
    deliveries: Sequence[Delivery],
    lateness_ms: int,
    refs: Sequence[str],
    *,
    read_online: bool = True,
    after_push: Callable[[Replay], None] | None = None,
) -> Replay:
    """Push each delivery, check its counts, and read the last admitted event's features.

    The read is as of that event's time, right after the push that logged it: the
    per-event path's ingest-then-read value of the event. ``after_push`` runs after
    every push with what was logged so far.
    """
    out = Replay()
    for delivery, verdicts in zip(deliveries, admit(deliveries, lateness_ms), strict=True):
        result = store.push(SOURCE, [row.event() for row in delivery])
        assert result == uw.PushResult(
            accepted=verdicts.count("accepted"),
            duplicates=verdicts.count("duplicate"),
            late=verdicts.count("late"),
        ), f"push of {delivery} gave {result}, expected verdicts {verdicts}"
        accepted = [r for r, v in zip(delivery, verdicts, strict=True) if v == "accepted"]
        out.logged.extend(accepted)
        out.late.extend(r for r, v in zip(delivery, verdicts, strict=True) if v == "late")
        if accepted and read_online:
            last = accepted[-1]
            out.online[last.eid] = store.get_features(
                list(refs), {"uid": last.uid}, as_of=to_datetime(last.ts)
            )
        if after_push is not None:
            after_push(out)
    return out


def maintain(store: uw.FeatureStore) -> int:
    """Evict what no read can still need, on the embedded or the Redis store."""
    inner: Any = store.store
    return int(inner.engine.maintain() if hasattr(inner, "engine") else inner.maintain())


def seeded_stream(
    seed: int, n_events: int, lateness_ms: int, n_users: int = 4, step_ms: int = 1_000
) -> list[Delivery]:
    """Pushes from a seeded generator: a fifth delayed up to twice the lateness, some twice."""
    rng = np.random.default_rng(seed)
    clock = T0_MS
    out: list[Delivery] = []
    for eid in range(n_events):
        clock += int(rng.choice([0, 1, step_ms, 2 * step_ms, 3 * step_ms]))
        delayed = rng.random() < 0.2
        row = Row(
            eid=eid,
            uid=int(rng.integers(0, n_users)),
            ts=clock - (int(rng.integers(0, 2 * lateness_ms + 1)) if delayed else 0),
            v=float(rng.integers(-10_000, 10_000)) / 100,
            n=int(rng.integers(-3, 4)),
            w=float(rng.integers(0, 4)),
            flag=bool(rng.random() < 0.6),
        )
        out.append((row, row) if rng.random() < 0.05 else (row,))
    return out
