"""Quality per window against scikit-learn and the fraud example on each window's rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from upwell.audit import Metric, Window, quality_over_windows, windows
from upwell.audit.quality import traffic_stats
from upwell.examples.fraud.evaluation import card_precision_at_k as handbook_card_precision

DAY = 86_400_000


def stream(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 6_000
    frame = pd.DataFrame(
        {
            "ts": np.sort(rng.integers(10 * DAY, 16 * DAY, n)),
            "card": rng.integers(0, 300, n),
            "label": (rng.random(n) < 0.08).astype(float),
        }
    )
    frame["score"] = np.clip(rng.normal(0.3 + 0.4 * frame["label"], 0.2), 0, 1)
    frame["latency"] = rng.gamma(2.0, 50.0, n)
    unknown = rng.random(n) < 0.3  # labels not known yet
    frame.loc[unknown, "label"] = np.nan
    return frame


@pytest.mark.parametrize(
    ("window_ms", "step_ms"), [(DAY, None), (3 * DAY, DAY)], ids=["daily", "3-day-sliding"]
)
def test_quality_per_window_equals_sklearn(window_ms: int, step_ms: int | None) -> None:
    frame = stream()
    spans = windows(10 * DAY, 16 * DAY, window_ms, step_ms)
    reports = quality_over_windows(
        "fraud", 3, spans, frame["ts"], frame["score"], frame["label"], frame["card"], k=20
    )
    assert [r.window for r in reports] == spans
    for report in reports:
        w = report.window
        inside = frame[(frame["ts"] > w.start_ms) & (frame["ts"] <= w.end_ms)]
        known = inside.dropna(subset=["label"])
        y, s = known["label"].to_numpy(), known["score"].to_numpy()
        assert (report.predictions, report.labelled) == (len(inside), len(known))
        assert report.positives == int(y.sum())
        assert report.auc_roc == pytest.approx(roc_auc_score(y, s), abs=1e-12)
        assert report.average_precision == pytest.approx(average_precision_score(y, s), abs=1e-12)
        assert report.brier == pytest.approx(brier_score_loss(y, s), abs=1e-12)
        handbook = known.rename(
            columns={"card": "CUSTOMER_ID", "label": "TX_FRAUD", "score": "predictions"}
        ).assign(TX_TIME_DAYS=known["ts"] // DAY)
        mean, daily = handbook_card_precision(handbook, 20)
        assert report.card_precision is not None
        assert report.card_precision.mean == pytest.approx(mean, abs=1e-15)
        assert report.card_precision.daily == tuple(daily)
        assert report.scores is not None
        assert report.scores.n == len(inside)
        stats = {s.metric: s for s in report.stats()}
        assert stats[Metric.AUC_ROC].value == report.auc_roc
        assert stats[Metric.CARD_PRECISION].value == mean
        assert stats[Metric.ECE].n == len(known)


def test_a_window_without_labels_reports_none() -> None:
    (report,) = quality_over_windows("m", 1, [Window(0, 10)], [5, 6], [0.1, 0.9], [np.nan] * 2)
    assert (report.predictions, report.labelled) == (2, 0)
    assert report.auc_roc is None
    assert report.brier is None
    assert report.card_precision is None
    assert report.as_dict()["window"] == {"start_ms": 0, "end_ms": 10}


def test_traffic_stats_equal_numpy() -> None:
    frame = stream(1)
    w = Window(11 * DAY, 12 * DAY)
    inside = frame[(frame["ts"] > w.start_ms) & (frame["ts"] <= w.end_ms)]
    got = {
        s.metric: s.value
        for s in traffic_stats("m", 1, w, frame["ts"], frame["score"], frame["latency"])
    }
    assert got[Metric.PREDICTIONS] == len(inside)
    assert got[Metric.SCORE_MEAN] == pytest.approx(inside["score"].mean())
    assert got[Metric.LATENCY_P99_US] == pytest.approx(np.percentile(inside["latency"], 99))
    empty = traffic_stats("m", 1, Window(0, 1), [], [], [])
    assert [s.value for s in empty] == [0.0, None, None]
