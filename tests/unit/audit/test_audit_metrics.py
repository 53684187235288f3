"""Quality metrics against scikit-learn and the fraud example's card precision."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.calibration import calibration_curve
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from upwell.audit import (
    auc_roc,
    average_precision,
    brier_score,
    calibration,
    card_precision_at_k,
    score_distribution,
)
from upwell.examples.fraud._handbook_sort import descending_order
from upwell.examples.fraud.evaluation import card_precision_at_k as handbook_card_precision


def scored(seed: int, n: int, decimals: int | None) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = (rng.random(n) < 0.2).astype(int)
    scores = np.clip(rng.normal(0.3 + 0.3 * labels, 0.2), 0, 1)
    return labels, scores if decimals is None else np.round(scores, decimals)


@pytest.mark.parametrize(
    ("seed", "n", "decimals"),
    [(0, 500, None), (1, 2_000, 1), (2, 37, 2), (3, 1_000, 0)],
    ids=["continuous", "ties", "small", "heavy-ties"],
)
def test_ranking_metrics_equal_sklearn(seed: int, n: int, decimals: int | None) -> None:
    labels, scores = scored(seed, n, decimals)
    assert auc_roc(labels, scores) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    ap = average_precision_score(labels, scores)
    assert average_precision(labels, scores) == pytest.approx(ap, abs=1e-12)
    assert brier_score(labels, scores) == pytest.approx(brier_score_loss(labels, scores), 1e-12)


@pytest.mark.parametrize(
    ("labels", "auc", "ap"),
    [([0, 0, 0], None, None), ([1, 1, 1], None, 1.0), ([], None, None)],
    ids=["negatives-only", "positives-only", "empty"],
)
def test_undefined_metrics_are_none(labels: list[int], auc: float | None, ap: float | None) -> None:
    scores = np.linspace(0, 1, len(labels))
    assert auc_roc(labels, scores) is auc
    assert average_precision(labels, scores) == ap


@pytest.mark.parametrize("bins", [5, 10, 17])
def test_calibration_bins_equal_sklearn_calibration_curve(bins: int) -> None:
    labels, scores = scored(4, 3_000, None)
    scores[:3] = [0.0, 1.0, 0.5]  # edges
    result = calibration(labels, scores, bins)
    assert result is not None
    prob_true, prob_pred = calibration_curve(labels, scores, n_bins=bins)
    counts = np.array(result.counts)
    np.testing.assert_allclose(np.array(result.positive_rate)[counts > 0], prob_true, rtol=1e-12)
    np.testing.assert_allclose(np.array(result.mean_score)[counts > 0], prob_pred, rtol=1e-12)
    # expected calibration error, from the same bins, in plain Python
    edges = np.linspace(0, 1, bins + 1)
    ece = 0.0
    for i in range(bins):
        low, high = edges[i], edges[i + 1]
        inside = (scores > low) & (scores <= high) if i else (scores >= low) & (scores <= high)
        if inside.any():
            ece += inside.sum() / len(scores) * abs(labels[inside].mean() - scores[inside].mean())
    assert result.ece == pytest.approx(ece, abs=1e-12)
    assert sum(result.counts) == len(scores)


def handbook_frame(seed: int, decimals: int | None) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 4_000
    frame = pd.DataFrame(
        {
            "CUSTOMER_ID": rng.integers(0, 400, n),
            "TX_TIME_DAYS": rng.integers(100, 107, n),
            "TX_FRAUD": (rng.random(n) < 0.05).astype(int),
        }
    )
    scores = np.clip(rng.normal(0.2 + 0.5 * frame["TX_FRAUD"], 0.25), 0, 1)
    frame["predictions"] = scores if decimals is None else np.round(scores, decimals)
    return frame


@pytest.mark.parametrize(("seed", "decimals", "k"), [(0, None, 100), (1, 1, 100), (2, 2, 7)])
def test_card_precision_equals_the_fraud_example(seed: int, decimals: int | None, k: int) -> None:
    frame = handbook_frame(seed, decimals)
    mean, daily = handbook_card_precision(frame, k)
    result = card_precision_at_k(
        frame["TX_TIME_DAYS"],
        frame["CUSTOMER_ID"],
        frame["predictions"],
        frame["TX_FRAUD"],
        k,
        ranking=descending_order,
    )
    assert result is not None
    assert result.daily == tuple(daily)
    assert result.mean == mean
    assert result.days == tuple(range(100, 107))
    if decimals is None:  # without ties, the default ranking picks the same cards
        default = card_precision_at_k(
            frame["TX_TIME_DAYS"], frame["CUSTOMER_ID"], frame["predictions"], frame["TX_FRAUD"], k
        )
        assert default == result


def test_card_precision_by_hand() -> None:
    # day 1: cards a (0.9, fraud), b (0.8), c (0.1, fraud) -> top 2 = a, b -> 1/2; a detected
    # day 2: a (0.95, fraud) is dropped; c (0.7, fraud), b (0.2) -> top 2 = c, b -> 1/2
    days = [1, 1, 1, 1, 2, 2, 2]
    cards = ["a", "b", "c", "b", "a", "c", "b"]
    scores = [0.9, 0.8, 0.1, 0.3, 0.95, 0.7, 0.2]
    labels = [1, 0, 1, 0, 1, 1, 0]
    result = card_precision_at_k(days, cards, scores, labels, k=2)
    assert result is not None
    assert result.daily == (0.5, 0.5)
    assert result.mean == 0.5
    assert card_precision_at_k([], [], [], [], k=2) is None


def test_score_distribution_equals_numpy() -> None:
    _, scores = scored(5, 1_000, None)
    result = score_distribution(scores, bins=10)
    assert result is not None
    counts, edges = np.histogram(scores, bins=10, range=(0, 1))
    assert result.counts == tuple(counts.tolist())
    assert result.edges == pytest.approx(edges.tolist())
    assert dict(result.quantiles)[0.5] == pytest.approx(np.median(scores))
    assert result.mean == pytest.approx(scores.mean())
    wide = score_distribution([-2.0, 3.0, 0.5], bins=5)
    assert wide is not None
    assert (wide.edges[0], wide.edges[-1]) == (-2.0, 3.0)
    assert score_distribution([]) is None
