"""The transaction simulator of the fraud-detection handbook, reproducing its data bit for bit.

Le Borgne, Siblini, Lebichot, Bontempi, *Reproducible Machine Learning for Credit Card Fraud
Detection - Practical Handbook* (2022), chapter 3.2; written from ``shared/fraud-handbook.md``
section 1, not from the book's (GPL) code. ``simulate()`` with the default ``SimulationConfig()``
returns the published 1,754,155 transactions: every column, and the ``TRANSACTION_ID`` order.
The per-call random draws of the book are replayed in bulk (``_handbook_rng``), so a full run
takes seconds instead of minutes.
"""

from __future__ import annotations

import datetime
import random

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from upwell.examples.fraud._handbook_rng import LegacyStream, choice_indices
from upwell.examples.fraud.fraud_scenarios import add_frauds
from upwell.examples.fraud.simulation_config import (
    PUBLISHED_CONFIG,
    SimulationConfig,
    SimulationConfigError,
    start_timestamp,
)

__all__ = [
    "PUBLISHED_CONFIG",
    "TRANSACTION_COLUMNS",
    "SimulationConfig",
    "SimulationConfigError",
    "available_terminals",
    "customer_profiles",
    "generate_transactions",
    "simulate",
    "terminal_profiles",
]

DAY_SECONDS = 86_400
_TIME_MEAN = DAY_SECONDS / 2
_TIME_STD = 20_000.0
_PAIRS_PER_CHUNK = 4_000_000
TRANSACTION_COLUMNS = (
    "TRANSACTION_ID",
    "TX_DATETIME",
    "CUSTOMER_ID",
    "TERMINAL_ID",
    "TX_AMOUNT",
    "TX_TIME_SECONDS",
    "TX_TIME_DAYS",
    "TX_FRAUD",
    "TX_FRAUD_SCENARIO",
)
"""The published columns, in order."""


def customer_profiles(n_customers: int, seed: int = 0) -> pd.DataFrame:
    """Draw the customer profiles: location, spending and activity.

    Args:
        n_customers: Number of customers, >= 0; their ids are 0 ... n_customers - 1.
        seed: Legacy ``RandomState`` seed (the handbook uses 0).

    Returns:
        One row per customer: ``CUSTOMER_ID`` (int64), ``x_customer_id``, ``y_customer_id``
        (U(0, 100)), ``mean_amount`` (U(5, 100)), ``std_amount`` (half the mean) and
        ``mean_nb_tx_per_day`` (U(0, 4)), drawn customer by customer in that order.
    """
    draws = np.random.RandomState(seed).uniform(
        low=[0.0, 0.0, 5.0, 0.0], high=[100.0, 100.0, 100.0, 4.0], size=(n_customers, 4)
    )
    return pd.DataFrame(
        {
            "CUSTOMER_ID": np.arange(n_customers, dtype=np.int64),
            "x_customer_id": draws[:, 0],
            "y_customer_id": draws[:, 1],
            "mean_amount": draws[:, 2],
            "std_amount": draws[:, 2] / 2,
            "mean_nb_tx_per_day": draws[:, 3],
        }
    )


def terminal_profiles(n_terminals: int, seed: int = 1) -> pd.DataFrame:
    """Draw the terminal locations.

    Args:
        n_terminals: Number of terminals, >= 0; their ids are 0 ... n_terminals - 1.
        seed: Legacy ``RandomState`` seed (the published run uses 1, the book's demo 0).

    Returns:
        One row per terminal: ``TERMINAL_ID`` (int64), ``x_terminal_id``, ``y_terminal_id``
        (U(0, 100)), drawn terminal by terminal.
    """
    draws = np.random.RandomState(seed).uniform(0.0, 100.0, size=(n_terminals, 2))
    return pd.DataFrame(
        {
            "TERMINAL_ID": np.arange(n_terminals, dtype=np.int64),
            "x_terminal_id": draws[:, 0],
            "y_terminal_id": draws[:, 1],
        }
    )


def available_terminals(
    customers: pd.DataFrame, terminals: pd.DataFrame, radius: float
) -> list[NDArray[np.int64]]:
    """Find, for each customer, the terminals strictly closer than ``radius``.

    Args:
        customers: Customer profiles (``x_customer_id``, ``y_customer_id``).
        terminals: Terminal profiles (``TERMINAL_ID``, ``x_terminal_id``, ``y_terminal_id``).
        radius: The Euclidean distance bound (exclusive).

    Returns:
        One array per customer row, in row order: the ``TERMINAL_ID`` values of the terminals
        with ``sqrt(dx**2 + dy**2) < radius``, in terminal row order.
    """
    ids = terminals["TERMINAL_ID"].to_numpy(dtype=np.int64)
    tx = terminals["x_terminal_id"].to_numpy(dtype=np.float64)
    ty = terminals["y_terminal_id"].to_numpy(dtype=np.float64)
    cx = customers["x_customer_id"].to_numpy(dtype=np.float64)
    cy = customers["y_customer_id"].to_numpy(dtype=np.float64)
    step = max(1, _PAIRS_PER_CHUNK // max(1, len(ids)))
    found: list[NDArray[np.int64]] = []
    for start in range(0, len(cx), step):
        dx = cx[start : start + step, None] - tx[None, :]
        dy = cy[start : start + step, None] - ty[None, :]
        near = np.sqrt(dx * dx + dy * dy) < radius
        found.extend(ids[row] for row in near)
    return found


def _customer_draws(
    customer_id: int, mean_amount: float, std_amount: float, daily_rate: float, nb_days: int
) -> tuple[list[int], list[float]]:
    """Replay one customer's numpy draws: the kept times (seconds) and unrounded amounts.

    Seeded with ``RandomState(customer_id)``, each day draws ``Poisson(daily_rate)``
    transactions; each gets a time ``int(N(43200, 20000))``, dropped unless in (0, 86400), and
    a kept one an amount ``N(mean_amount, std_amount)``, redrawn as ``U(0, 2 * mean_amount)``
    if negative.
    """
    stream = LegacyStream(np.random.RandomState(customer_id))
    poisson, gauss, double = stream.poisson, stream.gauss, stream.double
    uniform_range = mean_amount * 2
    seconds: list[int] = []
    amounts: list[float] = []
    for day in range(nb_days):
        offset = day * DAY_SECONDS
        for _ in range(poisson(daily_rate)):
            time_tx = int(_TIME_MEAN + _TIME_STD * gauss())
            if not 0 < time_tx < DAY_SECONDS:
                continue
            amount = mean_amount + std_amount * gauss()
            if amount < 0:
                amount = uniform_range * double()
            seconds.append(offset + time_tx)
            amounts.append(amount)
    return seconds, amounts


def _customer_transactions(
    row: tuple[int, float, float, float, NDArray[np.int64]], nb_days: int
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
    """One customer's CUSTOMER_ID, seconds, TERMINAL_ID and unrounded amount arrays."""
    customer_id, mean_amount, std_amount, daily_rate, terminals = row
    times, values = _customer_draws(customer_id, mean_amount, std_amount, daily_rate, nb_days)
    if len(terminals) == 0:
        times, values = [], []
    python_rng = random.Random(customer_id)  # noqa: S311 - the handbook's generator, not crypto
    picks = choice_indices(python_rng, max(1, len(terminals)), len(times))
    return (
        np.full(len(times), customer_id, dtype=np.int64),
        np.asarray(times, dtype=np.int64),
        np.asarray(terminals, dtype=np.int64)[picks],
        np.asarray(values, dtype=np.float64),
    )


def generate_transactions(
    customers: pd.DataFrame,
    terminals_by_customer: list[NDArray[np.int64]],
    *,
    nb_days: int,
    start_date: str | datetime.date = "2018-04-01",
) -> pd.DataFrame:
    """Generate the customers' transactions, before sorting and fraud labels.

    A customer with no available terminal makes no transaction (its numpy draws still happen).

    Args:
        customers: Customer profiles, as from ``customer_profiles`` (any subset of rows).
        terminals_by_customer: The available terminals of each row of ``customers``.
        nb_days: Number of simulated days.
        start_date: Day 0 (naive).

    Returns:
        ``TX_DATETIME, CUSTOMER_ID, TERMINAL_ID, TX_AMOUNT, TX_TIME_SECONDS, TX_TIME_DAYS``, the
        customers in row order, each customer's transactions in generation order; amounts are
        rounded to cents with ``np.round``, as in the handbook.
    """
    origin = start_timestamp(start_date).as_unit("ns").to_datetime64()
    columns = ("CUSTOMER_ID", "mean_amount", "std_amount", "mean_nb_tx_per_day")
    rows = zip(*(customers[name].tolist() for name in columns), terminals_by_customer, strict=True)
    parts = [_customer_transactions(row, nb_days) for row in rows]
    seconds = np.concatenate([np.empty(0, np.int64), *(part[1] for part in parts)])
    return pd.DataFrame(
        {
            "TX_DATETIME": origin + seconds.astype("timedelta64[s]"),
            "CUSTOMER_ID": np.concatenate([np.empty(0, np.int64), *(part[0] for part in parts)]),
            "TERMINAL_ID": np.concatenate([np.empty(0, np.int64), *(part[2] for part in parts)]),
            "TX_AMOUNT": np.round(np.concatenate([np.empty(0), *(part[3] for part in parts)]), 2),
            "TX_TIME_SECONDS": seconds,
            "TX_TIME_DAYS": seconds // DAY_SECONDS,
        }
    )


def _sort_by_time(transactions: pd.DataFrame) -> pd.DataFrame:
    """Sort like the handbook's ``sort_values('TX_DATETIME')`` and number the rows.

    The sort is numpy's unstable quicksort (introsort) on the datetime64 values, as pandas does;
    the int64 view would take numpy's SIMD sort on some CPUs and order same-second ties
    differently from the published data.
    """
    datetimes = transactions["TX_DATETIME"].to_numpy(dtype="datetime64[ns]")
    order = np.argsort(datetimes, kind="quicksort")
    ordered = transactions.iloc[order].reset_index(drop=True)
    ordered.insert(0, "TRANSACTION_ID", np.arange(len(ordered), dtype=np.int64))
    return ordered


def simulate(
    config: SimulationConfig = PUBLISHED_CONFIG, *, with_frauds: bool = True
) -> pd.DataFrame:
    """Simulate the handbook's transaction dataset.

    Args:
        config: The run's parameters; the default is the published run.
        with_frauds: Apply the three fraud scenarios (``add_frauds``). If False, the labels are
            0 and the amounts are the generated ones.

    Returns:
        The 9 published columns (``TRANSACTION_ID, TX_DATETIME, CUSTOMER_ID, TERMINAL_ID,
        TX_AMOUNT, TX_TIME_SECONDS, TX_TIME_DAYS, TX_FRAUD, TX_FRAUD_SCENARIO``; int64, naive
        datetime64[ns] and float64), rows in ``TRANSACTION_ID`` order.
    """
    customers = customer_profiles(config.n_customers, config.customer_seed)
    terminals = terminal_profiles(config.n_terminals, config.terminal_seed)
    reachable = available_terminals(customers, terminals, config.radius)
    generated = generate_transactions(
        customers, reachable, nb_days=config.nb_days, start_date=config.start_date
    )
    transactions = _sort_by_time(generated)
    if with_frauds:
        transactions = add_frauds(transactions, customers, terminals)
    else:
        no_label = np.zeros(len(transactions), dtype=np.int64)
        transactions = transactions.assign(TX_FRAUD=no_label, TX_FRAUD_SCENARIO=no_label)
    return transactions[list(TRANSACTION_COLUMNS)]
