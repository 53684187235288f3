"""The fraud-detection handbook's three fraud scenarios, applied as the book applies them.

Section 1.2, step 6 of ``shared/fraud-handbook.md``. Every transaction starts genuine; then, in
this order (a later scenario overwrites the label of an earlier one):

1. **Amount.** Every transaction with an amount strictly above 220 is a fraud (scenario 1).
2. **Compromised terminals.** For each start day ``d`` in ``range(max TX_TIME_DAYS)``, two
   terminals drawn with ``Series.sample(n=2, random_state=d)`` on the terminal table are
   compromised: their transactions on days ``d <= day < d + 28`` are frauds (scenario 2).
3. **Compromised cards.** For each start day ``d``, three customers drawn with
   ``Series.sample(n=3, random_state=d)`` are compromised: of their ``n`` transactions on days
   ``d <= day < d + 14``, ``random.seed(d); random.sample(rows, n // 3)`` become frauds
   (scenario 3) with their amount multiplied by 5 (again, if picked twice).
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from upwell.examples.fraud._handbook_rng import pandas_sample_positions, sample_indices

__all__ = ["add_frauds"]

AMOUNT_THRESHOLD = 220.0
TERMINALS_PER_DAY = 2
TERMINAL_WINDOW_DAYS = 28
CUSTOMERS_PER_DAY = 3
CARD_WINDOW_DAYS = 14
CARD_AMOUNT_FACTOR = 5
SCENARIO_AMOUNT, SCENARIO_TERMINAL, SCENARIO_CARD = 1, 2, 3


def _positions(table: pd.DataFrame, id_column: str, values: pd.Series) -> NDArray[np.int64]:
    """Row position in ``table`` of each id in ``values`` (-1 where absent)."""
    index = pd.Index(table[id_column].to_numpy(dtype=np.int64))
    return np.asarray(index.get_indexer(values.to_numpy(dtype=np.int64)), dtype=np.int64)


def _compromised_terminal_rows(
    transactions: pd.DataFrame, terminals: pd.DataFrame, n_start_days: int
) -> NDArray[np.bool_]:
    """Mask of the transactions made on a terminal while it is compromised (scenario 2)."""
    codes = _positions(terminals, "TERMINAL_ID", transactions["TERMINAL_ID"])
    days = transactions["TX_TIME_DAYS"].to_numpy(dtype=np.int64)
    compromised = np.zeros((len(terminals), n_start_days + 1), dtype=bool)
    size = min(TERMINALS_PER_DAY, len(terminals))
    for day in range(n_start_days):
        picked = pandas_sample_positions(len(terminals), size, day)
        compromised[picked, day : day + TERMINAL_WINDOW_DAYS] = True
    known = (codes >= 0) & (days >= 0) & (days <= n_start_days)
    mask = np.zeros(len(transactions), dtype=bool)
    mask[known] = compromised[codes[known], days[known]]
    return mask


def _compromised_card_picks(
    transactions: pd.DataFrame, customers: pd.DataFrame, n_start_days: int
) -> Iterator[NDArray[np.int64]]:
    """Yield, for each start day in order, the row positions scenario 3 picks that day."""
    codes = _positions(customers, "CUSTOMER_ID", transactions["CUSTOMER_ID"])
    days = transactions["TX_TIME_DAYS"].to_numpy(dtype=np.int64)
    by_customer = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[by_customer], np.arange(len(customers) + 1))
    size = min(CUSTOMERS_PER_DAY, len(customers))
    for day in range(n_start_days):
        picked = pandas_sample_positions(len(customers), size, day)
        groups = [by_customer[bounds[code] : bounds[code + 1]] for code in picked]
        rows = np.sort(np.concatenate([np.empty(0, np.int64), *groups]))
        rows = rows[(days[rows] >= day) & (days[rows] < day + CARD_WINDOW_DAYS)]
        python_rng = random.Random(day)  # noqa: S311 - the handbook's generator, not crypto
        chosen = sample_indices(python_rng, len(rows), len(rows) // 3)
        yield rows[np.asarray(chosen, dtype=np.int64)]


def add_frauds(
    transactions: pd.DataFrame, customers: pd.DataFrame, terminals: pd.DataFrame
) -> pd.DataFrame:
    """Apply the three fraud scenarios and return the labelled transactions.

    Args:
        transactions: Transactions in ``TRANSACTION_ID`` order (row position = the handbook's
            index), with ``CUSTOMER_ID``, ``TERMINAL_ID``, ``TX_AMOUNT`` and ``TX_TIME_DAYS``.
        customers: The customer profile table the scenarios sample from (``CUSTOMER_ID``).
        terminals: The terminal profile table the scenarios sample from (``TERMINAL_ID``).
            With fewer than 3 customers or 2 terminals, all of them are sampled.

    Returns:
        A copy of ``transactions`` with ``TX_AMOUNT`` updated by scenario 3 and the int64
        columns ``TX_FRAUD`` (0/1) and ``TX_FRAUD_SCENARIO`` (0-3) set (appended if missing).
    """
    labelled = transactions.copy()
    amounts = labelled["TX_AMOUNT"].to_numpy(dtype=np.float64, copy=True)
    days = labelled["TX_TIME_DAYS"].to_numpy(dtype=np.int64)
    n_start_days = int(days.max()) if len(days) else 0
    scenario = np.where(amounts > AMOUNT_THRESHOLD, SCENARIO_AMOUNT, 0).astype(np.int64)
    scenario[_compromised_terminal_rows(labelled, terminals, n_start_days)] = SCENARIO_TERMINAL
    for rows in _compromised_card_picks(labelled, customers, n_start_days):
        amounts[rows] = amounts[rows] * CARD_AMOUNT_FACTOR
        scenario[rows] = SCENARIO_CARD
    labelled["TX_AMOUNT"] = amounts
    labelled["TX_FRAUD"] = (scenario > 0).astype(np.int64)
    labelled["TX_FRAUD_SCENARIO"] = scenario
    return labelled
