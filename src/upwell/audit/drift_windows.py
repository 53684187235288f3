"""Drift and data quality of live values against a training reference, per window (pure)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from upwell.audit.drift import (
    ColumnReference,
    ReferenceProfile,
    bin_shares,
    freshness_ms,
    jensen_shannon,
    ks_2samp,
    missing_rate,
    out_of_range_rate,
    psi,
)
from upwell.audit.stats import Metric, WindowStat, json_ready
from upwell.audit.windows import Window, in_window

__all__ = ["DriftReport", "drift_over_windows", "drift_report"]


@dataclass(frozen=True, kw_only=True)
class DriftReport:
    """Drift of one column of one model version over one window.

    Args:
        model: Model name.
        version: Model version.
        window: The window of event time.
        column: The feature, or ``score``.
        rows: Predictions in the window.
        n: Of those, how many have a value for the column.
        missing_rate: Share without a value (None for an empty window).
        out_of_range_rate: Share of values outside the reference's valid range.
        psi: Population stability index (None without values).
        ks_statistic: Kolmogorov-Smirnov statistic.
        ks_pvalue: Its asymptotic p-value.
        js_distance: Jensen-Shannon distance of the bin shares.
        freshness_ms: Age of the newest value at the window's end (None: no value yet).
    """

    model: str
    version: int
    window: Window
    column: str
    rows: int
    n: int
    missing_rate: float | None
    out_of_range_rate: float | None
    psi: float | None
    ks_statistic: float | None
    ks_pvalue: float | None
    js_distance: float | None
    freshness_ms: int | None

    def stats(self) -> list[WindowStat]:
        """The report's values as window statistics (for alert rules)."""
        values: dict[Metric, tuple[float | int | None, int]] = {
            Metric.PSI: (self.psi, self.n),
            Metric.KS_STATISTIC: (self.ks_statistic, self.n),
            Metric.KS_PVALUE: (self.ks_pvalue, self.n),
            Metric.JS_DISTANCE: (self.js_distance, self.n),
            Metric.MISSING_RATE: (self.missing_rate, self.rows),
            Metric.OUT_OF_RANGE_RATE: (self.out_of_range_rate, self.n),
            Metric.FRESHNESS_MS: (self.freshness_ms, self.n),
        }
        return [
            WindowStat(
                model=self.model,
                version=self.version,
                metric=metric,
                column=self.column,
                value=None if value is None else float(value),
                n=n,
                end_ms=self.window.end_ms,
            )
            for metric, (value, n) in values.items()
        ]

    def as_dict(self) -> dict[str, Any]:
        """The report as strict-JSON-ready values (NaN as None)."""
        return dict(json_ready(dataclasses.asdict(self)))


def drift_report(
    model: str,
    version: int,
    window: Window,
    reference: ColumnReference,
    ts_ms: ArrayLike,
    values: ArrayLike,
) -> DriftReport:
    """Drift of one column over one window.

    Args:
        model: Model name.
        version: Model version.
        window: The window; values with ``start_ms < ts <= end_ms`` are compared.
        reference: The column's training reference.
        ts_ms: Event time of each value, epoch milliseconds (values before the window
            count only for freshness).
        values: The live values, NaN when missing.

    Returns:
        The report.
    """
    ts = np.asarray(ts_ms, dtype=np.int64)
    all_values = np.asarray(values, dtype=np.float64)
    live = all_values[in_window(ts, window)]
    present = live[~np.isnan(live)]
    shares = bin_shares(reference.edges, present) if len(present) else None
    d, p = ks_2samp(reference.values, present) if len(present) else (None, None)
    return DriftReport(
        model=model,
        version=version,
        window=window,
        column=reference.name,
        rows=len(live),
        n=len(present),
        missing_rate=missing_rate(live),
        out_of_range_rate=out_of_range_rate(present, reference.low, reference.high),
        psi=None if shares is None else psi(reference.shares, shares),
        ks_statistic=d,
        ks_pvalue=p,
        js_distance=None if shares is None else jensen_shannon(reference.shares, shares),
        freshness_ms=freshness_ms(ts, all_values, window.end_ms),
    )


def drift_over_windows(
    model: str,
    version: int,
    profile: ReferenceProfile,
    spans: Sequence[Window],
    ts_ms: ArrayLike,
    columns: Mapping[str, ArrayLike],
) -> list[DriftReport]:
    """One :func:`drift_report` per window and reference column.

    Args:
        model: Model name.
        version: Model version.
        profile: The training references; each of its columns is checked (a column absent
            from ``columns`` counts as missing everywhere).
        spans: The windows.
        ts_ms: Event time of each prediction.
        columns: Live values per column, aligned with ``ts_ms``.

    Returns:
        The reports, by window, then column in the profile's order.
    """
    ts = np.asarray(ts_ms, dtype=np.int64)
    absent = np.full(len(ts), np.nan)
    return [
        drift_report(model, version, w, ref, ts, columns.get(name, absent))
        for w in spans
        for name, ref in profile.columns.items()
    ]
