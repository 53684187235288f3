"""Independent oracle for the fraud handbook's 14 derived features, in plain pandas.

Written from ``shared/fraud-handbook.md`` section 2: the handbook's own method, a pandas
time-offset ``rolling`` window (right-closed) over each entity's transactions on a
``DatetimeIndex``. It does not use upwell's engine, so tests can compare the two.

Tie order: transactions of one entity with the same timestamp are ordered by
``TRANSACTION_ID`` (the handbook used an unstable sort; see section 4.4 of the handbook).
"""

from __future__ import annotations

import pandas as pd

WINDOWS_DAYS = (1, 7, 30)
DELAY_DAYS = 7

DERIVED_FEATURES = (
    "TX_DURING_WEEKEND",
    "TX_DURING_NIGHT",
    *(
        name
        for w in WINDOWS_DAYS
        for name in (f"CUSTOMER_ID_NB_TX_{w}DAY_WINDOW", f"CUSTOMER_ID_AVG_AMOUNT_{w}DAY_WINDOW")
    ),
    *(
        name
        for w in WINDOWS_DAYS
        for name in (f"TERMINAL_ID_NB_TX_{w}DAY_WINDOW", f"TERMINAL_ID_RISK_{w}DAY_WINDOW")
    ),
)


def _rolling(df: pd.DataFrame, key: str, column: str, days: int) -> tuple[pd.Series, pd.Series]:
    """Rolling (t - days, t] sum and count of ``column`` per ``key``, aligned on ``df.index``."""
    ordered = df.sort_values([key, "TX_DATETIME", "TRANSACTION_ID"], kind="stable")
    window = ordered.groupby(key, sort=True).rolling(f"{days}D", on="TX_DATETIME")[column]
    # Groups come out in key order and rows in time order within each: the order of
    # ``ordered``, so the results align with it by position.
    total = pd.Series(window.sum().to_numpy(), index=ordered.index).reindex(df.index)
    count = pd.Series(window.count().to_numpy(), index=ordered.index).reindex(df.index)
    return total, count


def time_features(df: pd.DataFrame) -> pd.DataFrame:
    """Weekend (Saturday or Sunday) and night (hour <= 6) flags, as int64."""
    return pd.DataFrame(
        {
            "TX_DURING_WEEKEND": (df["TX_DATETIME"].dt.day_of_week >= 5).astype("int64"),
            "TX_DURING_NIGHT": (df["TX_DATETIME"].dt.hour <= 6).astype("int64"),
        },
        index=df.index,
    )


def customer_features(df: pd.DataFrame) -> pd.DataFrame:
    """Count and mean amount of the customer's transactions in (t - w, t], current one included."""
    out = {}
    for w in WINDOWS_DAYS:
        total, count = _rolling(df, "CUSTOMER_ID", "TX_AMOUNT", w)
        out[f"CUSTOMER_ID_NB_TX_{w}DAY_WINDOW"] = count
        out[f"CUSTOMER_ID_AVG_AMOUNT_{w}DAY_WINDOW"] = total / count
    return pd.DataFrame(out, index=df.index)


def terminal_features(df: pd.DataFrame) -> pd.DataFrame:
    """Count and fraud share of the terminal's transactions in (t - 7 - w, t - 7] days.

    Computed as the book does: a (7 + w)-day window minus the 7-day window, both ending at
    the current transaction; an empty window has risk 0.
    """
    delay_frauds, delay_count = _rolling(df, "TERMINAL_ID", "TX_FRAUD", DELAY_DAYS)
    out = {}
    for w in WINDOWS_DAYS:
        frauds, count = _rolling(df, "TERMINAL_ID", "TX_FRAUD", DELAY_DAYS + w)
        nb_tx = count - delay_count
        risk = (frauds - delay_frauds) / nb_tx
        out[f"TERMINAL_ID_NB_TX_{w}DAY_WINDOW"] = nb_tx
        out[f"TERMINAL_ID_RISK_{w}DAY_WINDOW"] = risk.fillna(0.0)
    return pd.DataFrame(out, index=df.index)


def add_features(df: pd.DataFrame) -> pd.DataFrame:
    """Return ``df`` (raw handbook columns) with the 14 derived features appended.

    Args:
        df: Transactions with ``TRANSACTION_ID``, ``TX_DATETIME``, ``CUSTOMER_ID``,
            ``TERMINAL_ID``, ``TX_AMOUNT`` and ``TX_FRAUD``; features of a row depend only on
            the rows of ``df`` before it, so ``df`` must hold enough history (30 days for the
            customer windows, 37 for the terminal ones).

    Returns:
        A copy of ``df`` with the columns of ``DERIVED_FEATURES`` added (float64 except the
        two flags).
    """
    parts = [df, time_features(df), customer_features(df), terminal_features(df)]
    return pd.concat(parts, axis=1)
