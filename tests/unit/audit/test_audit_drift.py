"""Drift measures against SciPy and an independent pandas PSI; data-quality rates by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from upwell.audit import (
    PSI_EPSILON,
    AuditError,
    ColumnReference,
    ReferenceProfile,
    Window,
    drift_over_windows,
    jensen_shannon,
    ks_2samp,
    psi,
)
from upwell.audit.drift import (
    bin_shares,
    freshness_ms,
    kolmogorov_sf,
    missing_rate,
    out_of_range_rate,
)


def pandas_psi(reference: np.ndarray, current: np.ndarray, bins: int = 10) -> float:
    """PSI written independently: pandas.cut on the reference deciles, left-closed bins."""
    inner = np.unique(np.quantile(reference, np.arange(1, bins) / bins))
    cuts = [-np.inf, *inner, np.inf]
    p = pd.Series(pd.cut(reference, cuts, right=False)).value_counts(normalize=True, sort=False)
    q = pd.Series(pd.cut(current, cuts, right=False)).value_counts(normalize=True, sort=False)
    p, q = p.clip(lower=PSI_EPSILON).to_numpy(), q.clip(lower=PSI_EPSILON).to_numpy()
    return float(((q - p) * np.log(q / p)).sum())


SAMPLES = {
    "same": (lambda rng: rng.normal(0, 1, 5_000), lambda rng: rng.normal(0, 1, 2_000)),
    "shifted": (lambda rng: rng.normal(0, 1, 5_000), lambda rng: rng.normal(0.5, 1.2, 800)),
    "discrete": (lambda rng: rng.integers(0, 3, 4_000), lambda rng: rng.integers(0, 5, 900)),
    "flags": (lambda rng: rng.random(3_000) < 0.2, lambda rng: rng.random(700) < 0.6),
    "outside": (lambda rng: rng.uniform(0, 1, 1_000), lambda rng: rng.uniform(2, 3, 50)),
}


@pytest.mark.parametrize("case", SAMPLES, ids=list(SAMPLES))
def test_measures_equal_their_references(case: str) -> None:
    rng = np.random.default_rng(len(case))
    make_ref, make_cur = SAMPLES[case]
    reference = make_ref(rng).astype(float)
    current = make_cur(rng).astype(float)
    ref = ColumnReference.from_values("x", reference)
    shares = bin_shares(ref.edges, current)
    assert psi(ref.shares, shares) == pytest.approx(pandas_psi(reference, current), abs=1e-12)
    assert jensen_shannon(ref.shares, shares) == pytest.approx(
        jensenshannon(ref.shares, shares), abs=1e-12
    )
    d, p = ks_2samp(ref.values, current)
    expected = stats.ks_2samp(reference, current)
    assert d == pytest.approx(expected.statistic, abs=1e-12)
    assert p == pytest.approx(expected.pvalue, abs=0.025)


@pytest.mark.parametrize("x", [0.0, 0.05, 0.3, 0.7, 1.0, 1.17, 1.18, 1.36, 2.0, 3.5])
def test_kolmogorov_survival_equals_scipy(x: float) -> None:
    assert kolmogorov_sf(x) == pytest.approx(stats.kstwobign.sf(x), abs=1e-12)


def test_ks_pvalue_uses_the_asymptotic_distribution() -> None:
    rng = np.random.default_rng(3)
    a, b = np.sort(rng.normal(size=400)), rng.normal(0.1, 1, 300)
    d, p = ks_2samp(a, b)
    en = 400 * 300 / 700
    assert p == pytest.approx(stats.kstwobign.sf((np.sqrt(en) + 0.12 + 0.11 / np.sqrt(en)) * d))
    assert np.isnan(ks_2samp(a, [np.nan])[0])


def test_psi_epsilon_replaces_empty_bins() -> None:
    # reference all in bin 0, current all in bin 1: the empty shares become epsilon,
    # so PSI = (e - 1) ln(e / 1) + (1 - e) ln(1 / e) = 2 (1 - e) ln(1 / e)
    e = PSI_EPSILON
    assert psi([1.0, 0.0], [0.0, 1.0]) == pytest.approx(2 * (1 - e) * np.log(1 / e))
    assert psi([1.0, 0.0], [0.0, 1.0], epsilon=0.01) == pytest.approx(2 * 0.99 * np.log(100))


@pytest.mark.parametrize(
    ("values", "missing", "outside"),
    [
        ([1.0, np.nan, 5.0, -1.0], 0.25, 1 / 3),
        ([np.nan, np.nan], 1.0, None),
        ([], None, None),
        ([0.0, 10.0], 0.0, 0.0),
    ],
    ids=["mixed", "all-missing", "empty", "edges-inside"],
)
def test_data_quality_rates(
    values: list[float], missing: float | None, outside: float | None
) -> None:
    assert missing_rate(values) == missing
    assert out_of_range_rate(values, 0.0, 10.0) == outside


def test_freshness_is_the_age_of_the_newest_value() -> None:
    ts = [100, 200, 300, 400]
    values = [1.0, 2.0, np.nan, 4.0]
    assert freshness_ms(ts, values, 350) == 150  # the value at 300 is missing, 400 is later
    assert freshness_ms(ts, values, 400) == 0
    assert freshness_ms(ts, values, 50) is None


def test_reference_profile_from_frame() -> None:
    frame = pd.DataFrame({"a": [1.0, 2.0, np.nan, 4.0], "b": [1, 1, 2, 2], "s": ["x"] * 4})
    profile = ReferenceProfile.from_frame(frame, valid={"b": (0.0, 3.0)})
    assert list(profile.columns) == ["a", "b"]
    a = profile.columns["a"]
    assert a.values.tolist() == [1.0, 2.0, 4.0]
    assert (a.low, a.high) == (1.0, 4.0)
    assert (profile.columns["b"].low, profile.columns["b"].high) == (0.0, 3.0)
    assert sum(a.shares) == pytest.approx(1.0)
    with pytest.raises(AuditError, match="not in the reference"):
        ReferenceProfile.from_frame(frame, ["zz"])
    with pytest.raises(AuditError, match="non-missing"):
        ColumnReference.from_values("e", [np.nan])


def test_drift_over_windows_equals_per_window_computation() -> None:
    rng = np.random.default_rng(11)
    reference = pd.DataFrame({"amount": rng.normal(50, 10, 3_000), "score": rng.random(3_000)})
    profile = ReferenceProfile.from_frame(reference)
    n = 1_500
    ts = np.sort(rng.integers(0, 3_000, n))
    amount = rng.normal(50, 10, n) + (ts > 2_000) * 15  # drifts in the last window
    amount[rng.random(n) < 0.1] = np.nan
    score = rng.random(n)
    spans = [Window(0, 1_000), Window(1_000, 2_000), Window(2_000, 3_000)]
    reports = drift_over_windows("m", 1, profile, spans, ts, {"amount": amount, "score": score})
    assert [(r.window, r.column) for r in reports] == [
        (w, c) for w in spans for c in ("amount", "score")
    ]
    for report in reports:
        w = report.window
        inside = (ts > w.start_ms) & (ts <= w.end_ms)
        live = (amount if report.column == "amount" else score)[inside]
        present = live[~np.isnan(live)]
        ref = reference[report.column].to_numpy()
        assert report.rows == inside.sum()
        assert report.n == len(present)
        assert report.missing_rate == pytest.approx(np.isnan(live).mean())
        assert report.psi == pytest.approx(pandas_psi(ref, present), abs=1e-12)
        assert report.ks_statistic == pytest.approx(stats.ks_2samp(ref, present).statistic)
        below, above = (present < ref.min()).sum(), (present > ref.max()).sum()
        assert report.out_of_range_rate == pytest.approx((below + above) / len(present))
    psis = {(r.window.end_ms, r.column): r.psi for r in reports}
    assert psis[(3_000, "amount")] > 0.5 > psis[(2_000, "amount")]
