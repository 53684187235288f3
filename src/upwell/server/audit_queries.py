"""What the audit routes answer: predictions, traffic, quality, drift and alerts as JSON.

Every answer covers a span of event time ``start_ms < ts <= end_ms``. By default the span
ends at the newest prediction (so a replay of history is shown where it happened) and
reaches back ``span`` (``"7d"``, or ``"all"``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from upwell.audit import AlertLog, AuditError, Monitor, Window, windows
from upwell.audit.stats import json_ready
from upwell.audit.tables import ts_ms_of
from upwell.definitions.durations import to_ms
from upwell.definitions.errors import DefinitionError
from upwell.server.audit_wiring import newest_prediction_ms

__all__ = [
    "MAX_WINDOWS",
    "alerts",
    "drift",
    "parse_duration",
    "quality",
    "recent",
    "resolve_span",
    "traffic",
    "versions",
]

MAX_WINDOWS = 2_000
"""The most windows (or traffic buckets) one answer holds."""
MAX_DURATION_MS = 100 * 366 * 86_400_000
"""The longest span, window or step accepted."""
ALL = "all"


def parse_duration(text: str, name: str) -> int:
    """A positive duration in milliseconds from text such as ``"1d"`` or ``"30m"``.

    Raises:
        AuditError: The text is not a positive duration.
    """
    try:
        ms = to_ms(text, definition="", field="")
    except DefinitionError:
        ms = 0
    if not 0 < ms <= MAX_DURATION_MS:
        msg = f"{text!r} is not a positive duration of at most 100 years"
        raise AuditError(msg, where=f"query parameter {name}", fix="write e.g. 1h, 1d or 7d")
    return ms


def resolve_span(
    monitor: Monitor,
    start_ms: int | None,
    end_ms: int | None,
    span: str,
    default_end_ms: int | None = None,
) -> Window:
    """The span of event time an answer covers.

    Args:
        monitor: The monitor whose log is read.
        start_ms: Exclusive start; default ``end - span``.
        end_ms: Inclusive end; default the newest prediction's time, else
            ``default_end_ms``, else 0.
        span: How far back from the end (a duration, or ``all``).
        default_end_ms: The end when the log is empty.

    Returns:
        The window.

    Raises:
        AuditError: The span is not a duration, or the end lies before the start.
    """
    end = end_ms if end_ms is not None else newest_prediction_ms(monitor)
    if end is None:
        end = default_end_ms or 0
    if start_ms is not None:
        start = start_ms
    elif span == ALL:
        first = monitor.log.query("SELECT min(ts) AS ts FROM predictions").column("ts")[0]
        value = first.as_py()
        start = end - 1 if value is None else int(value.timestamp() * 1000) - 1
    else:
        start = end - parse_duration(span, "span")
    if end < start:
        msg = f"end_ms {end} lies before start_ms {start}"
        raise AuditError(msg, where="query parameters", fix="pass start_ms < end_ms")
    return Window(start, end)


def _windows(span: Window, window_ms: int, name: str, step_ms: int | None = None) -> list[Window]:
    if (span.end_ms - span.start_ms) / (step_ms or window_ms) > MAX_WINDOWS:
        msg = f"{name} splits the span into more than {MAX_WINDOWS} windows"
        raise AuditError(msg, where=f"query parameter {name}", fix="use a longer one")
    return windows(span.start_ms, span.end_ms, window_ms, step_ms)


def versions(monitor: Monitor) -> list[dict[str, Any]]:
    """Every (model, version) in the log with its prediction count and time range."""
    table = monitor.log.query(
        "SELECT model, version, count(*) AS predictions, min(ts) AS first_ts, "
        "max(ts) AS last_ts FROM predictions GROUP BY model, version ORDER BY model, version"
    )
    return [
        {
            "model": row["model"],
            "version": int(row["version"]),
            "predictions": int(row["predictions"]),
            "first_ms": int(row["first_ts"].timestamp() * 1000),
            "last_ms": int(row["last_ts"].timestamp() * 1000),
        }
        for row in table.to_pylist()
    ]


def _read(monitor: Monitor, model: str | None, version: int | None, span: Window) -> pd.DataFrame:
    return monitor.log.read(
        model=model, version=version, start_ms=span.start_ms, end_ms=span.end_ms
    )


def recent(
    monitor: Monitor, model: str | None, version: int | None, span: Window, limit: int
) -> list[dict[str, Any]]:
    """The newest predictions of the span, newest first, with features and explanations."""
    frame = _read(monitor, model, version, span).tail(limit).iloc[::-1]
    ts = ts_ms_of(frame)
    columns = ("request_id", "model", "version", "score", "decision", "latency_us", "route")
    rows = []
    for i, (_, row) in enumerate(frame.iterrows()):
        item = {c: row[c] for c in columns}
        item.update(
            ts_ms=int(ts[i]),
            version=int(row["version"]),
            entity=row["entity"],
            features=row["features"],
            explanation=row["explanation"],
        )
        rows.append(json_ready(item))
    return rows


def traffic(
    monitor: Monitor, model: str | None, version: int | None, span: Window, bucket_ms: int
) -> list[dict[str, Any]]:
    """Predictions and latency (p50, p99) per bucket of event time, per version."""
    buckets = _windows(span, bucket_ms, "bucket")
    frame = _read(monitor, model, version, span)
    ends = np.array([w.end_ms for w in buckets], dtype=np.int64)
    series = []
    for (name, number), part in frame.groupby(["model", "version"], sort=True):
        slot = np.searchsorted(ends, ts_ms_of(part), side="left")
        latency = part["latency_us"].to_numpy(dtype=np.float64)
        points = []
        for i, w in enumerate(buckets):
            mine = latency[slot == i]
            points.append(
                {
                    "end_ms": w.end_ms,
                    "predictions": len(mine),
                    "latency_p50_us": float(np.quantile(mine, 0.5)) if len(mine) else None,
                    "latency_p99_us": float(np.quantile(mine, 0.99)) if len(mine) else None,
                }
            )
        series.append({"model": str(name), "version": int(str(number)), "points": points})
    return series


def model_versions(monitor: Monitor, model: str, version: int | None) -> list[int]:
    """The versions of a model the log holds (just ``version`` when one is asked for)."""
    if version is not None:
        return [version]
    return [v["version"] for v in versions(monitor) if v["model"] == model]


def quality(
    monitor: Monitor,
    model: str,
    numbers: Sequence[int],
    span: Window,
    window_ms: int,
    step_ms: int | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """Live quality per version: per window, and over the whole span (labels known now).

    Windows end every ``step_ms`` (default ``window_ms``: tumbling; shorter: sliding).
    """
    _windows(span, window_ms, "window", step_ms)
    reports: list[dict[str, Any]] = []
    overall: list[dict[str, Any]] = []
    for number in numbers:
        reports.extend(
            r.as_dict()
            for r in monitor.quality(
                model,
                number,
                start_ms=span.start_ms,
                end_ms=span.end_ms,
                window_ms=window_ms,
                step_ms=step_ms,
            )
        )
        whole = monitor.quality(model, number, start_ms=span.start_ms, end_ms=span.end_ms)
        overall.extend(r.as_dict() for r in whole)
    return {"reports": reports, "overall": overall}


def drift(
    monitor: Monitor,
    model: str,
    numbers: Sequence[int],
    span: Window,
    window_ms: int,
    step_ms: int | None = None,
) -> dict[str, Any]:
    """Drift per version, window and column; versions without a reference are listed.

    Windows end every ``step_ms`` (default ``window_ms``: tumbling; shorter: sliding).
    """
    _windows(span, window_ms, "window", step_ms)
    reports: list[dict[str, Any]] = []
    missing = []
    for number in numbers:
        try:
            found = monitor.drift(
                model,
                number,
                start_ms=span.start_ms,
                end_ms=span.end_ms,
                window_ms=window_ms,
                step_ms=step_ms,
            )
        except AuditError:  # no training reference for this version
            missing.append(number)
            continue
        reports.extend(r.as_dict() for r in found)
    return {"reports": reports, "without_reference": missing}


def alerts(
    alert_log: AlertLog | None, firing: Sequence[tuple[str, str, int, str | None]] = ()
) -> dict[str, Any]:
    """Every logged alert event, newest first, and the alerts firing now.

    Args:
        alert_log: The alert log (None: no events).
        firing: ``(rule, model, version, column)`` of the alerts firing now.

    Returns:
        ``events`` and ``firing``.
    """
    events: list[dict[str, Any]] = []
    if alert_log is not None:
        frame = alert_log.read()
        stamps = ts_ms_of(frame)
        for i, row in enumerate(frame.drop(columns="ts").to_dict("records")):
            events.append(json_ready({**row, "ts_ms": int(stamps[i])}))
    now = [{"rule": r, "model": m, "version": v, "column": c} for r, m, v, c in firing]
    return {"events": events[::-1], "firing": now}
