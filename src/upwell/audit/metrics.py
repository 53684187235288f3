"""Model quality metrics on labelled scores, in NumPy (no scikit-learn needed).

Each equals its usual reference: :func:`auc_roc` is ``sklearn.metrics.roc_auc_score``
(ties count one half), :func:`average_precision` is ``average_precision_score`` (the sum of
``(R_n - R_{n-1}) P_n`` over distinct score thresholds), :func:`brier_score` is
``brier_score_loss``, and :func:`calibration` bins like ``calibration_curve`` with uniform
bins. :func:`card_precision_at_k` is the fraud handbook's card precision@k.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "Calibration",
    "CardPrecision",
    "ScoreDistribution",
    "auc_roc",
    "average_precision",
    "brier_score",
    "calibration",
    "card_precision_at_k",
    "score_distribution",
    "stable_descending",
]

Ranking = Callable[[NDArray[np.float64]], NDArray[np.intp]]
"""Positions of scores from highest to lowest (decides ties at the top-k cut-off)."""


def _arrays(labels: ArrayLike, scores: ArrayLike) -> tuple[NDArray[np.float64], ...]:
    return np.asarray(labels, dtype=np.float64), np.asarray(scores, dtype=np.float64)


def auc_roc(labels: ArrayLike, scores: ArrayLike) -> float | None:
    """Area under the ROC curve: P(score of a positive > score of a negative), ties 1/2.

    Args:
        labels: 1 for positive, 0 for negative.
        scores: Higher means more likely positive.

    Returns:
        The area, or None unless both classes are present.

    >>> auc_roc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    0.75
    """
    y, s = _arrays(labels, scores)
    positive = y > 0
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    ranks = pd.Series(s).rank(method="average").to_numpy()
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def average_precision(labels: ArrayLike, scores: ArrayLike) -> float | None:
    """Average precision: ``sum((R_n - R_{n-1}) * P_n)`` over distinct score thresholds.

    Args:
        labels: 1 for positive, 0 for negative.
        scores: Higher means more likely positive.

    Returns:
        The value, or None without positives.

    >>> average_precision([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    0.8333333333333333
    """
    y, s = _arrays(labels, scores)
    if not (y > 0).any():
        return None
    order = np.argsort(-s, kind="stable")
    s, y = s[order], (y[order] > 0).astype(np.float64)
    last_of_threshold = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    tps = np.cumsum(y)[last_of_threshold]
    precision = tps / (last_of_threshold + 1)
    recall = tps / tps[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def brier_score(labels: ArrayLike, scores: ArrayLike) -> float | None:
    """Mean squared difference between score and outcome (None when empty)."""
    y, s = _arrays(labels, scores)
    return float(np.mean((s - y) ** 2)) if len(y) else None


@dataclass(frozen=True)
class Calibration:
    """Reliability of scores as probabilities, over ``bins`` equal-width bins of [0, 1].

    A score ``s`` falls in bin ``i`` when ``edges[i] < s <= edges[i + 1]`` (the first bin
    also holds 0; scores outside [0, 1] are clipped).

    Args:
        edges: Bin edges, ``bins + 1`` of them.
        counts: Scores per bin.
        mean_score: Mean score per bin (NaN for an empty bin).
        positive_rate: Share of positives per bin (NaN for an empty bin).
        ece: Expected calibration error: ``sum(counts / n * |positive_rate - mean_score|)``.
        mce: Maximum calibration error over non-empty bins.
    """

    edges: tuple[float, ...]
    counts: tuple[int, ...]
    mean_score: tuple[float, ...]
    positive_rate: tuple[float, ...]
    ece: float
    mce: float


def calibration(labels: ArrayLike, scores: ArrayLike, bins: int = 10) -> Calibration | None:
    """Reliability bins and calibration errors of probability scores.

    Args:
        labels: 1 for positive, 0 for negative.
        scores: Predicted probabilities of the positive class.
        bins: Number of equal-width bins.

    Returns:
        The calibration, or None when there are no scores.
    """
    y, s = _arrays(labels, scores)
    if len(y) == 0:
        return None
    edges = np.linspace(0.0, 1.0, bins + 1)
    ids = np.searchsorted(edges[1:-1], np.clip(s, 0.0, 1.0))
    counts = np.bincount(ids, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_score = np.bincount(ids, weights=s, minlength=bins) / counts
        rate = np.bincount(ids, weights=(y > 0).astype(float), minlength=bins) / counts
    gaps = np.abs(rate - mean_score)[counts > 0]
    return Calibration(
        edges=tuple(edges.tolist()),
        counts=tuple(int(c) for c in counts),
        mean_score=tuple(mean_score.tolist()),
        positive_rate=tuple(rate.tolist()),
        ece=float(np.sum(counts[counts > 0] / len(y) * gaps)),
        mce=float(gaps.max()),
    )


def stable_descending(scores: NDArray[np.float64]) -> NDArray[np.intp]:
    """Positions from highest to lowest score; equal scores keep their order."""
    return np.argsort(-scores, kind="stable")


@dataclass(frozen=True)
class CardPrecision:
    """Card precision@k: the mean over days, and each day's value.

    Args:
        k: Cards checked per day.
        mean: Mean of the daily values.
        days: The days, ascending.
        daily: The precision of each day.
    """

    k: int
    mean: float
    days: tuple[int, ...]
    daily: tuple[float, ...]


def card_precision_at_k(
    days: ArrayLike,
    cards: Sequence[object] | ArrayLike,
    scores: ArrayLike,
    labels: ArrayLike,
    k: int = 100,
    ranking: Ranking = stable_descending,
) -> CardPrecision | None:
    """The fraud handbook's card precision@k.

    Each day, ascending: drop the cards detected on earlier days; give each card the
    maximum score and label of its transactions; check the ``k`` best-scored cards (cards
    in ascending id order, then ranked by ``ranking``); that day's precision is the number
    of fraudulent ones among them divided by ``k`` (always ``k``); they count as detected.

    Args:
        days: Day number of each transaction (e.g. UTC days since the epoch).
        cards: Card (customer) id of each transaction.
        scores: Score of each transaction.
        labels: 1 for fraud, 0 otherwise.
        k: Cards checked per day.
        ranking: Orders a day's card scores; the default breaks ties by card id. Pass the
            handbook's pandas-1.x order to reproduce its numbers with tied scores.

    Returns:
        The daily values and their mean, or None when there are no transactions.
    """
    frame = pd.DataFrame({"day": days, "card": cards, "score": scores, "label": labels})
    if frame.empty:
        return None
    detected: set[object] = set()
    day_numbers, daily = [], []
    for _, rows in frame.groupby("day", sort=True):
        fresh = rows[~rows["card"].isin(detected)]
        per_card = fresh.groupby("card", sort=True)[["score", "label"]].max()
        top = per_card.iloc[ranking(per_card["score"].to_numpy(dtype=np.float64))[:k]]
        frauds = top.index[top["label"] > 0]
        daily.append(len(frauds) / k)
        day_numbers.append(int(rows["day"].iloc[0]))
        detected.update(frauds.tolist())
    return CardPrecision(k, float(np.mean(daily)), tuple(day_numbers), tuple(daily))


@dataclass(frozen=True)
class ScoreDistribution:
    """Histogram and quantiles of scores.

    Args:
        edges: Histogram bin edges.
        counts: Scores per bin.
        quantiles: ``(q, value)`` pairs.
        mean: Mean score.
        n: Number of scores.
    """

    edges: tuple[float, ...]
    counts: tuple[int, ...]
    quantiles: tuple[tuple[float, float], ...]
    mean: float
    n: int


QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
"""The quantiles a :class:`ScoreDistribution` reports."""


def score_distribution(
    scores: ArrayLike, bins: int = 20, value_range: tuple[float, float] | None = None
) -> ScoreDistribution | None:
    """The histogram and quantiles of scores.

    Args:
        scores: The scores.
        bins: Number of equal-width bins.
        value_range: The histogram's range; default [0, 1] when every score lies there,
            else the scores' minimum and maximum.

    Returns:
        The distribution, or None when there are no scores.
    """
    s = np.asarray(scores, dtype=np.float64)
    if len(s) == 0:
        return None
    if value_range is None:
        inside = s.min() >= 0.0 and s.max() <= 1.0
        value_range = (0.0, 1.0) if inside else (float(s.min()), float(s.max()))
    counts, edges = np.histogram(s, bins=bins, range=value_range)
    values = np.quantile(s, QUANTILES)
    return ScoreDistribution(
        edges=tuple(edges.tolist()),
        counts=tuple(int(c) for c in counts),
        quantiles=tuple(zip(QUANTILES, values.tolist(), strict=True)),
        mean=float(s.mean()),
        n=len(s),
    )
