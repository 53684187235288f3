"""The live stream: transactions and their delayed labels, merged in event-time order."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from upwell.examples.fraud.features import LABEL_DELAY

TRANSACTION_FIELDS = ("TRANSACTION_ID", "TX_DATETIME", "CUSTOMER_ID", "TERMINAL_ID", "TX_AMOUNT")
LABEL_FIELDS = ("TRANSACTION_ID", "LABEL_TIME", "CUSTOMER_ID", "TERMINAL_ID", "TX_FRAUD")

Progress = Callable[[str, int, int], None]
"""Called with (phase, done, total) as work advances."""


@dataclass(frozen=True)
class StreamEvent:
    """One event of the live stream: a transaction (with its row index) or a label."""

    source: str
    row: dict[str, Any]
    index: int


def utc_transactions(transactions: pd.DataFrame) -> pd.DataFrame:
    """The transactions with UTC timestamps, in TRANSACTION_ID order.

    The handbook's timestamps are naive; they are read as UTC, which keeps every
    weekday and hour (and so every feature) unchanged.

    Args:
        transactions: The simulator's (or the published) transactions.

    Returns:
        A copy with ``TX_DATETIME`` in UTC.
    """
    frame = transactions.sort_values("TRANSACTION_ID", kind="stable").reset_index(drop=True)
    when = frame["TX_DATETIME"]
    frame["TX_DATETIME"] = (
        when.dt.tz_localize("UTC") if when.dt.tz is None else when.dt.tz_convert("UTC")
    )
    return frame


def epoch_ms(times: pd.Series) -> np.ndarray:
    """UTC timestamps as int64 epoch milliseconds.

    Args:
        times: A timezone-aware datetime column.

    Returns:
        The milliseconds.
    """
    naive = times.dt.tz_convert("UTC").dt.tz_localize(None)
    return np.asarray(naive.to_numpy(dtype="datetime64[ms]").astype(np.int64))


def event_order(transactions: pd.DataFrame) -> np.ndarray:
    """The order in which transactions and labels enter the system.

    Events are in event-time order; at equal times a label (of a transaction exactly
    7 days older) comes before a transaction, so the handbook's inclusive ``t - 7d``
    edge holds; ties among transactions keep TRANSACTION_ID order.

    Args:
        transactions: From :func:`utc_transactions`.

    Returns:
        Codes ``i`` (transaction row i) and ``-(i + 1)`` (label of row i), in order.
    """
    n = len(transactions)
    tx_ms = epoch_ms(transactions["TX_DATETIME"])
    label_ms = tx_ms + int(LABEL_DELAY.total_seconds() * 1000)
    times = np.concatenate([label_ms, tx_ms])
    kind = np.concatenate([np.zeros(n, np.int8), np.ones(n, np.int8)])
    rows = np.concatenate([np.arange(n), np.arange(n)])
    order = np.lexsort((rows, kind, times))
    return np.where(kind[order] == 1, rows[order], -(rows[order] + 1))


def events(transactions: pd.DataFrame, order: np.ndarray) -> Iterator[StreamEvent]:
    """The stream's events as dicts ready to push, in ``order``.

    Args:
        transactions: From :func:`utc_transactions`.
        order: From :func:`event_order`.

    Yields:
        Stream events.
    """
    tx_rows = transactions[list(TRANSACTION_FIELDS)].to_dict("records")
    fraud = transactions["TX_FRAUD"].tolist()
    for code in order.tolist():
        if code >= 0:
            yield StreamEvent("transactions", tx_rows[code], code)
        else:
            i = -code - 1
            tx = tx_rows[i]
            label = {
                "TRANSACTION_ID": tx["TRANSACTION_ID"],
                "LABEL_TIME": tx["TX_DATETIME"] + LABEL_DELAY,
                "CUSTOMER_ID": tx["CUSTOMER_ID"],
                "TERMINAL_ID": tx["TERMINAL_ID"],
                "TX_FRAUD": fraud[i],
            }
            yield StreamEvent("fraud_labels", label, i)
