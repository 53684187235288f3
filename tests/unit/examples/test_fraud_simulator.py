"""The fraud-handbook simulator against the handbook's own numbers and its published data.

Oracles: the mini-run values printed in the book (``shared/fraud-handbook.md`` section 4.1) and
the published transactions (``shared/data/fraud-handbook/transactions.parquet``). The full
1.75M-row comparison is in ``tests/slow/test_fraud_simulator_full.py``.
"""

from __future__ import annotations

import datetime
import math
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal, assert_series_equal

from upwell.errors import UpwellError
from upwell.examples.fraud import (
    TRANSACTION_COLUMNS,
    SimulationConfig,
    SimulationConfigError,
    available_terminals,
    customer_profiles,
    generate_transactions,
    simulate,
    terminal_profiles,
)
from upwell.examples.fraud._handbook_rng import (
    LegacyStream,
    choice_indices,
    pandas_sample_positions,
    sample_indices,
)

# --- Section 4.1 of the specification: the book's mini-run -----------------------------------

MINI_CUSTOMERS = [  # x, y, mean_amount, std_amount, mean_nb_tx_per_day
    (54.881350, 71.518937, 62.262521, 31.131260, 2.179533),
    (42.365480, 64.589411, 46.570785, 23.285393, 3.567092),
    (96.366276, 38.344152, 80.213879, 40.106939, 2.115580),
    (56.804456, 92.559664, 11.748426, 5.874213, 0.348517),
    (2.021840, 83.261985, 78.924891, 39.462446, 3.480049),
]
MINI_TERMINALS = [
    (54.881350, 71.518937),
    (60.276338, 54.488318),
    (42.365480, 64.589411),
    (43.758721, 89.177300),
    (96.366276, 38.344152),
]
MINI_AVAILABLE_R50 = [[0, 1, 2, 3], [0, 1, 2, 3], [1, 4], [0, 1, 2, 3], [2, 3]]
MINI_CUSTOMER_0 = [  # TX_TIME_SECONDS, TERMINAL_ID, TX_AMOUNT, in generation order
    (26345, 3, 123.59),
    (68522, 3, 46.51),
    (64816, 0, 77.34),
    (141182, 2, 32.35),
    (137138, 3, 63.30),
    (143211, 3, 13.59),
    (118266, 2, 54.72),
    (159887, 3, 51.89),
    (216947, 2, 117.91),
    (204609, 1, 67.72),
    (206749, 1, 28.46),
    (228794, 2, 50.25),
    (200484, 1, 93.26),
    (263735, 0, 46.40),
    (293638, 2, 23.26),
    (404349, 1, 71.96),
    (373279, 2, 52.69),
]
MINI_CONFIG = SimulationConfig(n_customers=5, n_terminals=5, nb_days=5, radius=50, terminal_seed=0)
PRE_FRAUD_COLUMNS = ["TX_DATETIME", "CUSTOMER_ID", "TERMINAL_ID", "TX_TIME_SECONDS", "TX_TIME_DAYS"]


def _mini_run() -> pd.DataFrame:
    customers = customer_profiles(5, seed=0)
    terminals = terminal_profiles(5, seed=0)
    reachable = available_terminals(customers, terminals, radius=50)
    return generate_transactions(customers, reachable, nb_days=5, start_date="2018-04-01")


def test_customer_profiles_match_the_book() -> None:
    customers = customer_profiles(5, seed=0)
    assert customers["CUSTOMER_ID"].tolist() == [0, 1, 2, 3, 4]
    columns = ["x_customer_id", "y_customer_id", "mean_amount", "std_amount"]
    columns.append("mean_nb_tx_per_day")
    np.testing.assert_allclose(customers[columns].to_numpy(), MINI_CUSTOMERS, rtol=0, atol=5e-7)


def test_terminal_profiles_match_the_book() -> None:
    terminals = terminal_profiles(5, seed=0)
    assert terminals["TERMINAL_ID"].tolist() == [0, 1, 2, 3, 4]
    xy = terminals[["x_terminal_id", "y_terminal_id"]].to_numpy()
    np.testing.assert_allclose(xy, MINI_TERMINALS, rtol=0, atol=5e-7)


def test_available_terminals_match_the_book() -> None:
    reachable = available_terminals(customer_profiles(5, 0), terminal_profiles(5, 0), 50)
    assert [terminals.tolist() for terminals in reachable] == MINI_AVAILABLE_R50


def test_customer_0_first_five_days_match_the_book() -> None:
    transactions = _mini_run()
    customer_0 = transactions[transactions["CUSTOMER_ID"] == 0]
    got = list(
        zip(
            customer_0["TX_TIME_SECONDS"].tolist(),
            customer_0["TERMINAL_ID"].tolist(),
            customer_0["TX_AMOUNT"].tolist(),
            strict=True,
        )
    )
    assert got == MINI_CUSTOMER_0
    assert customer_0["TX_TIME_DAYS"].tolist() == [0] * 3 + [1] * 5 + [2] * 5 + [3] * 2 + [4] * 2


def test_mini_run_has_65_transactions() -> None:
    assert len(_mini_run()) == 65
    assert len(simulate(MINI_CONFIG)) == 65


def test_default_config_is_the_published_run() -> None:
    config = SimulationConfig()
    assert (config.n_customers, config.n_terminals, config.nb_days) == (5000, 10000, 183)
    assert pd.Timestamp(config.start_date) == pd.Timestamp("2018-04-01")
    assert config.radius == 5
    assert (config.customer_seed, config.terminal_seed) == (0, 1)


# --- The published data, on a subset of customers --------------------------------------------

# Every 100th customer, the last one, and two of the ten customers without any transaction.
SUBSET = sorted({*range(0, 5000, 100), 4999, 513, 1345})


def test_subset_of_customers_matches_the_published_rows(fraud_handbook_transactions: Path) -> None:
    customers = customer_profiles(5000, seed=0)
    chosen = customers[customers["CUSTOMER_ID"].isin(SUBSET)]
    reachable = available_terminals(chosen, terminal_profiles(10000, seed=1), radius=5.0)
    ours = generate_transactions(chosen, reachable, nb_days=183, start_date="2018-04-01")
    published = pd.read_parquet(
        fraud_handbook_transactions, filters=[("CUSTOMER_ID", "in", SUBSET)]
    )
    assert len(published) > 10_000
    key = ["CUSTOMER_ID", "TX_TIME_SECONDS", "TERMINAL_ID"]
    ours = ours.sort_values(key, kind="stable").reset_index(drop=True)
    published = published.sort_values(key, kind="stable").reset_index(drop=True)
    assert_frame_equal(ours[PRE_FRAUD_COLUMNS], published[PRE_FRAUD_COLUMNS], check_exact=True)
    # Scenario 3 multiplies the amount by 5 (by 25 for a row picked twice); the rest is as drawn.
    card = published["TX_FRAUD_SCENARIO"] == 3
    assert_series_equal(ours["TX_AMOUNT"][~card], published["TX_AMOUNT"][~card], check_exact=True)
    once, twice = ours["TX_AMOUNT"][card] * 5, ours["TX_AMOUNT"][card] * 5 * 5
    published_card = published["TX_AMOUNT"][card]
    assert ((published_card == once) | (published_card == twice)).all()
    assert not published["CUSTOMER_ID"].isin([513, 1345]).any()


# --- Properties of a small run ---------------------------------------------------------------

SMALL_CONFIG = SimulationConfig(n_customers=60, n_terminals=120, nb_days=40, radius=15.0)


def test_simulate_returns_the_published_schema() -> None:
    transactions = simulate(SMALL_CONFIG)
    assert tuple(transactions.columns) == TRANSACTION_COLUMNS
    dtypes = {name: str(dtype) for name, dtype in transactions.dtypes.items()}
    assert dtypes.pop("TX_DATETIME") == "datetime64[ns]"
    assert dtypes.pop("TX_AMOUNT") == "float64"
    assert set(dtypes.values()) == {"int64"}
    assert transactions["TRANSACTION_ID"].tolist() == list(range(len(transactions)))
    assert transactions["TX_DATETIME"].is_monotonic_increasing
    seconds = pd.to_timedelta(transactions["TX_TIME_SECONDS"], unit="s")
    assert (transactions["TX_DATETIME"] == pd.Timestamp("2018-04-01") + seconds).all()
    assert (transactions["TX_TIME_DAYS"] == transactions["TX_TIME_SECONDS"] // 86400).all()
    genuine = simulate(SMALL_CONFIG, with_frauds=False)["TX_AMOUNT"]
    assert (genuine == genuine.round(2)).all()


def test_start_date_moves_the_datetimes_only() -> None:
    shifted = simulate(
        SimulationConfig(
            n_customers=60,
            n_terminals=120,
            nb_days=40,
            radius=15.0,
            start_date=datetime.date(2020, 1, 1),
        )
    )
    base = simulate(SMALL_CONFIG)
    assert_frame_equal(shifted.drop(columns="TX_DATETIME"), base.drop(columns="TX_DATETIME"))
    assert shifted["TX_DATETIME"].iloc[0] - base["TX_DATETIME"].iloc[0] == (
        pd.Timestamp("2020-01-01") - pd.Timestamp("2018-04-01")
    )


def test_fraud_scenarios_follow_the_handbook_rules() -> None:
    labelled = simulate(SMALL_CONFIG)
    genuine = simulate(SMALL_CONFIG, with_frauds=False)
    assert (genuine[["TX_FRAUD", "TX_FRAUD_SCENARIO"]] == 0).all().all()
    same = ["TRANSACTION_ID", *PRE_FRAUD_COLUMNS]
    assert_frame_equal(labelled[same], genuine[same])
    scenario = labelled["TX_FRAUD_SCENARIO"]
    assert set(scenario.unique()) <= {0, 1, 2, 3}
    assert (labelled["TX_FRAUD"] == (scenario > 0)).all()
    assert (genuine["TX_AMOUNT"][scenario == 1] > 220).all()
    assert (genuine["TX_AMOUNT"][scenario == 0] <= 220).all()
    assert (labelled["TX_AMOUNT"][scenario != 3] == genuine["TX_AMOUNT"][scenario != 3]).all()
    # x5 for each pick; with 60 customers, overlapping 14-day windows pick some rows many times.
    factor = labelled["TX_AMOUNT"][scenario == 3] / genuine["TX_AMOUNT"][scenario == 3]
    assert factor.dropna().round(6).isin([5.0**picks for picks in range(1, 15)]).all()


def test_customers_without_terminals_make_no_transactions() -> None:
    transactions = simulate(SimulationConfig(n_customers=20, n_terminals=1, nb_days=10))
    assert transactions["TERMINAL_ID"].isin([0]).all()
    customers = customer_profiles(20, 0)
    reachable = available_terminals(customers, terminal_profiles(1, 1), 5.0)
    active = {cid for cid, terminals in enumerate(reachable) if len(terminals) > 0}
    assert set(transactions["CUSTOMER_ID"]) <= active


# --- Input validation ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("n_customers", 0),
        ("n_customers", -5),
        ("n_customers", 2.5),
        ("n_customers", True),
        ("n_terminals", 0),
        ("nb_days", 0),
        ("nb_days", "183"),
        ("radius", 0.0),
        ("radius", -1.0),
        ("radius", math.nan),
        ("radius", math.inf),
        ("radius", "5"),
        ("start_date", "not a date"),
        ("start_date", pd.Timestamp("2018-04-01", tz="UTC")),
        ("customer_seed", -1),
        ("terminal_seed", 2**32),
    ],
)
def test_invalid_config_names_the_field_and_the_fix(field: str, value: object) -> None:
    with pytest.raises(SimulationConfigError, match=f"SimulationConfig.{field}") as error:
        SimulationConfig(**{field: value})  # type: ignore[arg-type]
    assert isinstance(error.value, ValueError)
    assert isinstance(error.value, UpwellError)
    assert repr(value) in str(error.value)
    assert "Fix:" in str(error.value)


def test_config_is_keyword_only_and_frozen() -> None:
    with pytest.raises(TypeError):
        SimulationConfig(5000)  # type: ignore[call-arg]
    with pytest.raises(AttributeError):
        SimulationConfig().nb_days = 3  # type: ignore[misc]


# --- The bulk replays against the generators they replay -------------------------------------


@pytest.mark.parametrize("seed", [0, 7, 4242])
def test_legacy_stream_replays_randomstate(seed: int) -> None:
    state = np.random.RandomState(seed)
    stream = LegacyStream(np.random.RandomState(seed))
    plan = random.Random(seed)
    for _ in range(5000):
        kind = plan.choice(["poisson", "normal", "normal", "uniform"])
        if kind == "poisson":
            lam = plan.choice([0.0, 1e-9, 0.3, 2.5, 3.99])
            assert stream.poisson(lam) == state.poisson(lam)
        elif kind == "normal":
            assert 10.0 + 3.0 * stream.gauss() == state.normal(10.0, 3.0)
        else:
            assert 7.0 * stream.double() == state.uniform(0.0, 7.0)


@pytest.mark.parametrize("n", [1, 2, 3, 64, 65, 77, 106, 1000])
def test_choice_indices_replay_random_choice(n: int) -> None:
    population = list(range(n))
    expected_rng = random.Random(n)
    expected = [expected_rng.choice(population) for _ in range(300)]
    assert choice_indices(random.Random(n), n, 300).tolist() == expected


@pytest.mark.parametrize(("n", "k"), [(0, 0), (5, 1), (21, 7), (40, 13), (90, 30), (400, 133)])
def test_sample_indices_replay_random_sample(n: int, k: int) -> None:
    for seed in range(20):
        expected = random.Random(seed).sample(range(n), k)
        assert sample_indices(random.Random(seed), n, k) == expected


def test_pandas_sample_positions_replay_series_sample() -> None:
    ids = pd.Series(np.arange(1000, 1500))
    for day in range(10):
        positions = pandas_sample_positions(len(ids), 3, day)
        assert ids.iloc[positions].tolist() == ids.sample(n=3, random_state=day).tolist()
