"""Drift measures between a training reference and live values, and data-quality rates (pure).

For one column (a feature, or the score), with the reference's non-missing values ``r``
and the live non-missing values ``c``:

- **Bins** are cut at the reference's deciles (``bins - 1`` inner quantiles, duplicates
  removed), left-closed, the outer ones open: ``(-inf, e1), [e1, e2), ..., [ek, +inf)``.
  ``p_i`` and ``q_i`` are the shares of ``r`` and ``c`` in bin ``i``.
- **PSI** = ``sum((q_i - p_i) * ln(q_i / p_i))``, where a share of 0 is replaced by
  :data:`PSI_EPSILON` (no renormalisation).
- **Jensen-Shannon distance** = ``sqrt((KL(p || m) + KL(q || m)) / 2)``, ``m = (p + q) / 2``,
  natural logarithm (``scipy.spatial.distance.jensenshannon`` of the bin shares).
- **Kolmogorov-Smirnov** statistic ``D = max |F_r(x) - F_c(x)|`` over the empirical CDFs
  (``scipy.stats.ks_2samp``'s statistic); its p-value is the Kolmogorov limit with
  Stephens' correction, ``Q((sqrt(n) + 0.12 + 0.11 / sqrt(n)) * D)``, ``n = n_r n_c / (n_r + n_c)``.
- **Missing rate**: share of NaN/None among all values. **Out-of-range rate**: share of
  non-missing values outside ``[low, high]`` (the reference's min and max unless set).
  **Freshness**: age of the newest non-missing value at a given instant.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from upwell.audit.errors import AuditError

__all__ = [
    "PSI_EPSILON",
    "ColumnReference",
    "ReferenceProfile",
    "bin_shares",
    "freshness_ms",
    "jensen_shannon",
    "kolmogorov_sf",
    "ks_2samp",
    "missing_rate",
    "out_of_range_rate",
    "psi",
]

PSI_EPSILON = 1e-4
"""The share used in PSI for a bin that holds no value (avoids ``ln 0``)."""

_TERMS = np.arange(1, 101, dtype=np.float64)


def _values(values: ArrayLike) -> NDArray[np.float64]:
    array = np.asarray(values, dtype=np.float64)
    return array[~np.isnan(array)]


def bin_shares(edges: NDArray[np.float64], values: NDArray[np.float64]) -> NDArray[np.float64]:
    """Share of ``values`` in each bin cut at the inner ``edges`` (left-closed).

    >>> bin_shares(np.array([1.0, 2.0]), np.array([0.0, 1.0, 1.5, 2.0])).tolist()
    [0.25, 0.5, 0.25]
    """
    counts = np.bincount(np.searchsorted(edges, values, side="right"), minlength=len(edges) + 1)
    return counts / max(len(values), 1)


def psi(reference: ArrayLike, current: ArrayLike, epsilon: float = PSI_EPSILON) -> float:
    """Population stability index of two vectors of bin shares.

    >>> round(psi([0.5, 0.5], [0.25, 0.75]), 6)
    0.274653
    """
    p = np.maximum(np.asarray(reference, dtype=np.float64), epsilon)
    q = np.maximum(np.asarray(current, dtype=np.float64), epsilon)
    return float(np.sum((q - p) * np.log(q / p)))


def jensen_shannon(reference: ArrayLike, current: ArrayLike) -> float:
    """Jensen-Shannon distance (natural log) of two vectors of bin shares."""
    p = np.asarray(reference, dtype=np.float64)
    q = np.asarray(current, dtype=np.float64)
    p, q = p / p.sum(), q / q.sum()
    m = (p + q) / 2

    def _kl(a: NDArray[np.float64]) -> float:
        used = a > 0
        return float(np.sum(a[used] * np.log(a[used] / m[used])))

    return float(np.sqrt(max((_kl(p) + _kl(q)) / 2, 0.0)))


def kolmogorov_sf(x: float) -> float:
    """The Kolmogorov distribution's survival function ``Q(x) = P(K > x)``.

    >>> round(kolmogorov_sf(1.36), 4)
    0.0495
    """
    if x <= 0:
        return 1.0
    if x < 1.18:
        terms = np.exp(-((2 * _TERMS - 1) ** 2) * np.pi**2 / (8 * x * x))
        return float(np.clip(1.0 - np.sqrt(2 * np.pi) / x * terms.sum(), 0.0, 1.0))
    signs = np.where(_TERMS % 2 == 1, 1.0, -1.0)
    return float(np.clip(2 * np.sum(signs * np.exp(-2 * _TERMS**2 * x * x)), 0.0, 1.0))


def ks_2samp(reference_sorted: NDArray[np.float64], current: ArrayLike) -> tuple[float, float]:
    """Two-sample Kolmogorov-Smirnov statistic and (asymptotic) p-value.

    Args:
        reference_sorted: Reference values, sorted, without NaN.
        current: Live values (NaN ignored).

    Returns:
        ``(D, p-value)``; ``(nan, nan)`` when either sample is empty.
    """
    c = np.sort(_values(current))
    n_r, n_c = len(reference_sorted), len(c)
    if n_r == 0 or n_c == 0:
        return float("nan"), float("nan")
    both = np.concatenate([reference_sorted, c])
    cdf_r = np.searchsorted(reference_sorted, both, side="right") / n_r
    cdf_c = np.searchsorted(c, both, side="right") / n_c
    d = float(np.max(np.abs(cdf_r - cdf_c)))
    root = np.sqrt(n_r * n_c / (n_r + n_c))
    return d, kolmogorov_sf((root + 0.12 + 0.11 / root) * d)


def missing_rate(values: ArrayLike) -> float | None:
    """Share of NaN (missing) values; None when there are none at all."""
    array = np.asarray(values, dtype=np.float64)
    return float(np.isnan(array).mean()) if len(array) else None


def out_of_range_rate(values: ArrayLike, low: float, high: float) -> float | None:
    """Share of non-missing values outside ``[low, high]``; None when none is present."""
    present = _values(values)
    return float(((present < low) | (present > high)).mean()) if len(present) else None


def freshness_ms(ts_ms: ArrayLike, values: ArrayLike, now_ms: int) -> int | None:
    """Age at ``now_ms`` of the newest non-missing value with ``ts <= now_ms`` (None: none)."""
    ts = np.asarray(ts_ms, dtype=np.int64)
    present = ~np.isnan(np.asarray(values, dtype=np.float64)) & (ts <= now_ms)
    return int(now_ms - ts[present].max()) if present.any() else None


@dataclass(frozen=True)
class ColumnReference:
    """The training distribution of one column.

    Args:
        name: The column.
        values: Its non-missing values, sorted.
        edges: Inner bin edges (the reference's quantiles, unique).
        shares: Share of the reference in each bin.
        low: Lowest valid value (the reference's minimum unless configured).
        high: Highest valid value.
    """

    name: str
    values: NDArray[np.float64]
    edges: NDArray[np.float64]
    shares: NDArray[np.float64]
    low: float
    high: float

    @classmethod
    def from_values(
        cls, name: str, values: ArrayLike, bins: int = 10, valid: tuple[float, float] | None = None
    ) -> ColumnReference:
        """The reference of a column from its training values.

        Args:
            name: The column.
            values: Training values (NaN ignored).
            bins: Number of quantile bins.
            valid: ``(low, high)`` range of valid values (default: the values' min, max).

        Returns:
            The reference.

        Raises:
            AuditError: If no value is present or ``bins`` < 2.
        """
        present = np.sort(_values(values))
        if len(present) == 0 or bins < 2:
            msg = f"{len(present)} non-missing values, bins={bins}"
            raise AuditError(msg, where=f"reference {name!r}", fix="pass values and bins >= 2.")
        inner = np.quantile(present, np.linspace(0, 1, bins + 1)[1:-1])
        edges = np.unique(inner)
        low, high = valid if valid is not None else (float(present[0]), float(present[-1]))
        return cls(name, present, edges, bin_shares(edges, present), low, high)


@dataclass(frozen=True)
class ReferenceProfile:
    """Training references of the columns of one model version.

    Args:
        columns: Column name -> its reference.
    """

    columns: Mapping[str, ColumnReference]

    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        columns: Sequence[str] | None = None,
        *,
        bins: int = 10,
        valid: Mapping[str, tuple[float, float]] | None = None,
    ) -> ReferenceProfile:
        """References of a training DataFrame's numeric columns.

        Args:
            frame: Training features, and the model's training scores in a ``score`` column
                to watch the score too.
            columns: The columns (default: every numeric column).
            bins: Number of quantile bins.
            valid: Configured ``(low, high)`` per column for out-of-range checks.

        Returns:
            The profile.

        Raises:
            AuditError: If a column is missing or holds no value.
        """
        names = (
            list(columns)
            if columns is not None
            else [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])]
        )
        missing = [c for c in names if c not in frame.columns]
        if missing:
            msg = f"columns {missing} are not in the reference frame"
            raise AuditError(msg, where="ReferenceProfile", fix="pass the training columns.")
        ranges = valid or {}
        return cls(
            {c: ColumnReference.from_values(c, frame[c], bins, ranges.get(c)) for c in names}
        )
