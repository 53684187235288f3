"""The fraud handbook's train/test protocol and its three metrics.

Written from ``shared/fraud-handbook.md`` section 3 (chapter 3.4 of the book): one week of
training, one week of delay (dropped: its labels are not known in time), one week of test
from which the cards already known to be compromised are removed day by day. The metrics
are AUC ROC, average precision and card precision@k, the last one computed per day on the
cards not yet detected and always divided by k.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypedDict

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

from upwell.errors import UpwellError
from upwell.examples.fraud._handbook_sort import descending_order

__all__ = [
    "FEATURES",
    "Assessment",
    "EvaluationError",
    "assess",
    "card_precision_at_k",
    "split_train_test",
]

FEATURES = (
    "TX_AMOUNT",
    "TX_DURING_WEEKEND",
    "TX_DURING_NIGHT",
    "CUSTOMER_ID_NB_TX_1DAY_WINDOW",
    "CUSTOMER_ID_AVG_AMOUNT_1DAY_WINDOW",
    "CUSTOMER_ID_NB_TX_7DAY_WINDOW",
    "CUSTOMER_ID_AVG_AMOUNT_7DAY_WINDOW",
    "CUSTOMER_ID_NB_TX_30DAY_WINDOW",
    "CUSTOMER_ID_AVG_AMOUNT_30DAY_WINDOW",
    "TERMINAL_ID_NB_TX_1DAY_WINDOW",
    "TERMINAL_ID_RISK_1DAY_WINDOW",
    "TERMINAL_ID_NB_TX_7DAY_WINDOW",
    "TERMINAL_ID_RISK_7DAY_WINDOW",
    "TERMINAL_ID_NB_TX_30DAY_WINDOW",
    "TERMINAL_ID_RISK_30DAY_WINDOW",
)
"""The 15 model inputs of the handbook, in its order."""

_DAY = pd.Timedelta(days=1)


class EvaluationError(UpwellError, ValueError):
    """The data cannot be split or assessed; the message says what is missing and the fix."""


class Assessment(TypedDict):
    """The three handbook metrics of one scored set, plus the daily card precisions."""

    auc_roc: float
    average_precision: float
    card_precision_at_100: float
    daily_card_precision_at_100: list[float]


def _require(df: pd.DataFrame, columns: Iterable[str], where: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        what = f"missing column(s) {missing}"
        raise EvaluationError(what, where=where, fix="pass the handbook's transaction columns.")


def _as_of_data(start: str | pd.Timestamp, datetimes: pd.Series) -> pd.Timestamp:
    """``start`` in the time zone of ``datetimes`` (naive, or UTC for aware data)."""
    stamp = pd.Timestamp(start)
    zone = getattr(datetimes.dt, "tz", None)
    if zone is None:
        return stamp.tz_localize(None) if stamp.tzinfo is not None else stamp
    return stamp.tz_localize(zone) if stamp.tzinfo is None else stamp.tz_convert(zone)


def _fraudulent_customers(df: pd.DataFrame) -> set[int]:
    return set(df.loc[df["TX_FRAUD"] == 1, "CUSTOMER_ID"].tolist())


def split_train_test(
    df: pd.DataFrame,
    start: str | pd.Timestamp = "2018-07-25",
    delta_train: int = 7,
    delta_delay: int = 7,
    delta_test: int = 7,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split transactions into the handbook's training and test sets.

    Training holds the ``delta_train`` days from ``start``; the next ``delta_delay`` days are
    dropped; the test set holds the ``delta_test`` days after them (in ``TX_TIME_DAYS``). From
    test day k, the transactions of cards known to be compromised are removed: known are the
    customers with a fraud in training plus those with a fraud on day
    ``first_training_day + delta_train + k - 1`` or earlier (labels arrive after the delay).

    Args:
        df: Transactions with ``TX_DATETIME`` (naive, or aware UTC), ``TX_TIME_DAYS``,
            ``CUSTOMER_ID``, ``TX_FRAUD`` and ``TRANSACTION_ID``, covering the three periods.
        start: First instant of training (a date, read in the time zone of the data).
        delta_train: Training days.
        delta_delay: Days between training and test, left out.
        delta_test: Test days.

    Returns:
        ``(train, test)``, both ordered by ``TRANSACTION_ID`` with a fresh index.

    Raises:
        EvaluationError: If a column is missing or no transaction falls in the training period.
    """
    needed = ("TRANSACTION_ID", "TX_DATETIME", "TX_TIME_DAYS", "CUSTOMER_ID", "TX_FRAUD")
    _require(df, needed, "split_train_test")
    begin = _as_of_data(start, df["TX_DATETIME"])
    in_train = (df["TX_DATETIME"] >= begin) & (df["TX_DATETIME"] < begin + delta_train * _DAY)
    train = df[in_train].sort_values("TRANSACTION_ID")
    if train.empty:
        what = f"no transaction in the training period starting {begin}"
        raise EvaluationError(what, where="split_train_test", fix="pass a start inside the data.")
    first_day = int(train["TX_TIME_DAYS"].min())
    known = _fraudulent_customers(train)
    days = df["TX_TIME_DAYS"]
    test_days = []
    for k in range(delta_test):
        known |= _fraudulent_customers(df[days == first_day + delta_train + k - 1])
        day = df[days == first_day + delta_train + delta_delay + k]
        test_days.append(day[~day["CUSTOMER_ID"].isin(known)])
    test = pd.concat(test_days).sort_values("TRANSACTION_ID") if test_days else df.iloc[:0]
    return train.reset_index(drop=True), test.reset_index(drop=True)


def _top_cards(day: pd.DataFrame, score_column: str, k: int) -> pd.DataFrame:
    """The k cards of one day with the highest maximum score, with their maximum label.

    Cards are ranked in ``CUSTOMER_ID`` order by the handbook's unstable sort, replayed
    exactly (``descending_order``): ties at the cut-off decide which cards are checked.
    """
    cards = day.groupby("CUSTOMER_ID", sort=True)[[score_column, "TX_FRAUD"]].max()
    order = descending_order(cards[score_column].to_numpy(dtype=np.float64))
    return cards.iloc[order[:k]]


def card_precision_at_k(
    df_scored: pd.DataFrame, k: int = 100, score_column: str = "predictions"
) -> tuple[float, list[float]]:
    """Card precision@k per day and its mean (handbook chapter 4, section 3.3 of the spec).

    Each day, in ascending ``TX_TIME_DAYS``: the cards detected on earlier days are dropped;
    each card gets the maximum score and label of its transactions; the k best-scored cards
    are checked and the share of fraudulent ones among k (always k, even on a day with fewer
    cards) is that day's precision; those fraudulent cards count as detected from then on.

    Args:
        df_scored: Transactions with ``CUSTOMER_ID``, ``TX_TIME_DAYS``, ``TX_FRAUD`` and
            ``score_column``.
        k: Number of cards checked per day.
        score_column: Column holding the scores.

    Returns:
        ``(mean over days, [precision of each day])``.

    Raises:
        EvaluationError: If a column is missing, ``k`` < 1 or there are no transactions.
    """
    _require(df_scored, ("CUSTOMER_ID", "TX_TIME_DAYS", "TX_FRAUD", score_column), "card_precision")
    if df_scored[score_column].isna().any():
        what = f"column {score_column!r} holds NaN scores"
        raise EvaluationError(what, where="card_precision_at_k", fix="score every transaction.")
    if k < 1 or df_scored.empty:
        what = f"needs k >= 1 and at least one transaction (k={k}, rows={len(df_scored)})"
        raise EvaluationError(what, where="card_precision_at_k", fix="pass scored transactions.")
    detected: set[int] = set()
    daily = []
    for _, day in df_scored.groupby("TX_TIME_DAYS", sort=True):
        top = _top_cards(day[~day["CUSTOMER_ID"].isin(detected)], score_column, k)
        frauds = top.index[top["TX_FRAUD"] == 1]
        daily.append(len(frauds) / k)
        detected.update(frauds.tolist())
    return float(np.mean(daily)), daily


def assess(df_scored: pd.DataFrame, score_column: str = "predictions") -> Assessment:
    """AUC ROC, average precision and card precision@100 of scored transactions.

    Args:
        df_scored: Transactions with ``TX_FRAUD``, ``CUSTOMER_ID``, ``TX_TIME_DAYS`` and the
            scores; AUC ROC and average precision need both classes present.
        score_column: Column holding the scores.

    Returns:
        The metrics, unrounded, and the daily card precisions.

    Raises:
        EvaluationError: If a column is missing or the set is empty.
    """
    mean_cp, daily = card_precision_at_k(df_scored, 100, score_column)
    labels = df_scored["TX_FRAUD"].to_numpy()
    scores = df_scored[score_column].to_numpy()
    return Assessment(
        auc_roc=float(roc_auc_score(labels, scores)),
        average_precision=float(average_precision_score(labels, scores)),
        card_precision_at_100=mean_cp,
        daily_card_precision_at_100=daily,
    )
