"""The audit of scoring: every prediction into a monitor's log, label events into its labels.

:class:`ScoringAudit` is a scorer sink: for each prediction it builds a
:class:`~upwell.audit.PredictionRecord` and hands it to the prediction log, which only
appends it to a bounded buffer (a full buffer refuses it and counts it as dropped); a
background thread writes it. Nothing on the scoring path waits for I/O.

It is also an ingest listener: the accepted events of a :class:`LabelFeed` source become
labels (key, value, and the event's time: when the label became known). They are stored
in batches; the event log already holds them durably, and
:meth:`ScoringAudit.catch_up_labels` restores any that a crash kept from the label store.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from numbers import Real
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from upwell.audit import AlertEvent, AuditError, Label, Monitor, PredictionRecord
from upwell.definitions.source import EventSource
from upwell.models.registry import ModelRegistry
from upwell.serving.audit_reference import load_references
from upwell.serving.scoring import Prediction

__all__ = ["LabelFeed", "ScoringAudit"]


@dataclass(frozen=True, kw_only=True)
class LabelFeed:
    """Where late labels come from: an event source whose events each label one key.

    Args:
        source: The event source (e.g. ``fraud_labels``).
        key: Its field holding the join key; the value, as a string, is matched with the
            prediction's request id (or with the entity key the monitor joins on).
        field: Its field holding the label (1 for a positive, 0 for a negative).
        time: Its field saying when the label became known; default the source's
            event timestamp.
    """

    source: str
    key: str
    field: str
    time: str | None = None

    def resolved(self, source: EventSource) -> LabelFeed:
        """The feed checked against its source, with ``time`` filled in.

        Args:
            source: The event source named by ``source``.

        Returns:
            The feed.

        Raises:
            AuditError: A field is not in the source's schema.
        """
        time_field = self.time or source.timestamp
        missing = [f for f in (self.key, self.field, time_field) if f not in source.schema]
        if missing:
            msg = f"fields {missing} are not in source {source.name!r}"
            raise AuditError(
                msg, where="LabelFeed", fix=f"use fields of its schema: {sorted(source.schema)}"
            )
        return replace(self, time=time_field)


class ScoringAudit:
    """Records predictions and labels into a monitor.

    Args:
        monitor: The monitor (prediction log, labels, rules, sinks).
        now_ms: The clock of predictions scored "as of now".
        labels: The label feed, resolved (see :meth:`LabelFeed.resolved`); None: no labels.
        models: The model registry, whose versions' training references drift is
            measured against.
        label_batch: Store labels once this many wait (and at every flush).
    """

    def __init__(
        self,
        monitor: Monitor,
        now_ms: Callable[[], int],
        *,
        labels: LabelFeed | None = None,
        models: ModelRegistry | None = None,
        label_batch: int = 1_000,
    ) -> None:
        self.monitor = monitor
        self.labels = labels
        self.invalid = 0
        self.watermark_ms: int | None = None
        self._now_ms = now_ms
        self._models = models
        self._label_batch = label_batch
        self._pending: list[Label] = []
        self._lock = threading.Lock()
        self._references: set[tuple[str, int]] = set()

    # -- the scoring path ---------------------------------------------------------------

    def record(self, predictions: Sequence[Prediction]) -> None:
        """Log a batch of predictions without blocking (a scorer sink).

        A prediction whose record is invalid (a non-finite score) is counted in
        :attr:`invalid`; one the full buffer refuses is counted by the log as dropped.

        Args:
            predictions: One scorer call's predictions (they share a time).
        """
        if not predictions:
            return
        first = predictions[0]
        ts = first.as_of_ms if first.as_of_ms is not None else self._now_ms()
        latency = first.timings_us["total"]
        log = self.monitor.log
        for p in predictions:
            rec = self._record(p, ts, latency)
            if rec is not None:
                log.record(rec)
        if self.watermark_ms is None or ts > self.watermark_ms:
            self.watermark_ms = ts

    def _record(self, p: Prediction, ts: int, latency: float) -> PredictionRecord | None:
        shadow = p.shadow
        try:
            return PredictionRecord(
                request_id=p.request_id,
                model=p.model,
                version=p.version,
                ts_ms=ts,
                score=p.score,
                entity=p.entity,
                features=p.features,
                latency_us=latency,
                explanation=p.contributions or {},
                route=p.route.value,
                shadow_version=None if shadow is None else shadow.version,
                shadow_score=None if shadow is None else shadow.score,
            )
        except AuditError:
            return self._cleaned(p, ts, latency)

    def _cleaned(self, p: Prediction, ts: int, latency: float) -> PredictionRecord | None:
        """The record with non-numeric features (not watched) and odd entity values fixed."""
        shadow = p.shadow
        try:
            return PredictionRecord(
                request_id=p.request_id,
                model=p.model,
                version=p.version,
                ts_ms=ts,
                score=p.score,
                entity={k: _plain(v) for k, v in p.entity.items()},
                features=_numbers(p.features),
                latency_us=latency,
                explanation=p.contributions or {},
                route=p.route.value,
                shadow_version=None if shadow is None else shadow.version,
                shadow_score=None if shadow is None else shadow.score,
            )
        except AuditError:
            self.invalid += 1
            return None

    # -- labels ---------------------------------------------------------------------

    def on_labels(self, rows: list[dict[str, Any]]) -> None:
        """Take the accepted events of the label source (an ingest listener).

        Args:
            rows: Validated events, timestamps in epoch ms.
        """
        feed = self.labels
        if feed is None or feed.time is None:
            return
        fresh = [
            Label(key=str(r[feed.key]), label=float(r[feed.field]), ts_ms=int(r[feed.time]))
            for r in rows
            if _is_label(r.get(feed.field)) and r.get(feed.key) is not None
        ]
        with self._lock:
            self._pending.extend(fresh)
            full = len(self._pending) >= self._label_batch
        if full:
            self.flush_labels()

    def flush_labels(self) -> int:
        """Store the labels waiting in memory; returns how many."""
        with self._lock:
            batch, self._pending = self._pending, []
        return self.monitor.add_labels(batch) if batch else 0

    def catch_up_labels(self, events: pa.Table) -> int:
        """Store the labels of logged label events that the label store lacks.

        A label is missing when its key has no stored label, or only an older one.

        Args:
            events: Every logged event of the label source.

        Returns:
            How many labels were stored.
        """
        feed = self.labels
        if feed is None or feed.time is None or events.num_rows == 0:
            return 0
        logged = pd.DataFrame(
            {
                "key": [None if k is None else str(k) for k in events[feed.key].to_pylist()],
                "label": events[feed.field].to_pandas().astype("float64"),
                "ts": events[feed.time].to_numpy(zero_copy_only=False).astype(np.int64),
            }
        ).dropna()
        stored = self.monitor.labels.read()
        stored_ms = dict(zip(stored["key"], _epoch_ms(stored["ts"]), strict=True))
        newer = [
            Label(key=k, label=float(v), ts_ms=int(t))
            for k, v, t in zip(logged["key"], logged["label"], logged["ts"], strict=True)
            if t > stored_ms.get(k, -(2**62))
        ]
        return self.monitor.add_labels(newer) if newer else 0

    # -- upkeep ---------------------------------------------------------------------

    def sync_references(self) -> int:
        """Load the training references of versions registered since the last call."""
        if self._models is None:
            return 0
        found = load_references(self._models.root, self._references)
        for (model, version), profile in found.items():
            self.monitor.set_reference(model, version, profile)
            self._references.add((model, version))
        return len(found)

    def flush(self, timeout_s: float | None = None) -> bool:
        """Store waiting labels and wait until every logged prediction is written.

        Args:
            timeout_s: The longest wait for the prediction log; None: as long as it takes.

        Returns:
            False if the wait timed out.
        """
        self.flush_labels()
        return self.monitor.log.flush(timeout_s)

    def evaluate(self, now_ms: int | None = None) -> list[AlertEvent]:
        """Apply the alert rules at an instant (see :meth:`Monitor.evaluate_alerts`).

        Args:
            now_ms: The instant; default the event time of the newest prediction (so a
                replay of history alerts as live traffic would), else the clock.

        Returns:
            The alerts that fired or cleared.
        """
        self.flush_labels()
        self.sync_references()
        at = now_ms if now_ms is not None else self.watermark_ms
        return self.monitor.evaluate_alerts(self._now_ms() if at is None else at)

    def close(self) -> None:
        """Store waiting labels, write the log's buffer and close the monitor."""
        self.flush_labels()
        self.monitor.close()


def _is_label(value: object) -> bool:
    return isinstance(value, Real) and math.isfinite(float(value))


def _numbers(values: dict[str, Any]) -> dict[str, float | int | None]:
    return {k: float(v) if isinstance(v, Real) else None for k, v in values.items()}


def _plain(value: object) -> str | int | float | bool | None:
    return value if value is None or isinstance(value, str | int | float | bool) else str(value)


def _epoch_ms(stamps: pd.Series) -> list[int]:
    if stamps.empty:
        return []
    utc = pd.to_datetime(stamps, utc=True)
    return [int(v) for v in utc.dt.as_unit("ms").astype("int64")]
