"""The next-best-action simulator: deterministic, consistent balances, plausible habits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from upwell.examples.next_best_action.simulation_types import (
    SimulationConfig,
    SimulationConfigError,
)
from upwell.examples.next_best_action.simulator import DAY_MS, simulate
from upwell.examples.next_best_action.stream import EventKind, account_events

SMALL = SimulationConfig(n_customers=30, n_days=60, seed=5)


def test_same_seed_same_events_and_customers_do_not_depend_on_the_population() -> None:
    first, again = simulate(SMALL), simulate(SMALL)
    larger = simulate(SimulationConfig(n_customers=45, n_days=60, seed=5))

    pd.testing.assert_frame_equal(first.card, again.card)
    pd.testing.assert_frame_equal(first.deposits, again.deposits)
    mine = first.card.drop(columns="event_id").reset_index(drop=True)
    theirs = larger.card[larger.card["customer_id"] < 30].drop(columns="event_id")
    pd.testing.assert_frame_equal(mine, theirs.reset_index(drop=True))


def test_each_balance_follows_from_the_previous_one_and_stays_within_the_limit() -> None:
    card = simulate(SMALL).card

    for _, events in card.groupby("customer_id"):
        balance = events["balance"].to_numpy()
        np.testing.assert_allclose(np.diff(balance), events["amount"].to_numpy()[1:], atol=0.011)
        assert (balance <= events["credit_limit"].to_numpy() + 1e-9).all()
        assert (balance >= -1e-9).all()
    assert card["ts_ms"].is_monotonic_increasing


def test_steady_savers_deposit_every_30_days_with_a_small_spread() -> None:
    simulation = simulate(SMALL)
    steady = simulation.customers.loc[simulation.customers["saver"] == "steady", "customer_id"]
    deposits = simulation.deposits[simulation.deposits["customer_id"].isin(steady)]

    for _, own in deposits.groupby("customer_id"):
        days = own["ts_ms"].to_numpy() // DAY_MS
        assert set(np.diff(days)) <= {29, 30, 31}
        assert own["amount"].std() <= 0.1 * own["amount"].mean()


def test_the_stream_is_in_time_order_and_redelivers_events_with_their_ids() -> None:
    simulation = simulate(SMALL)

    events = account_events(simulation, redeliver_every=10)

    times = [e.ts_ms for e in events]
    assert times == sorted(times)
    account = [e for e in events if e.kind is not EventKind.CONSENT and not e.redelivered]
    assert len(account) == len(simulation.card) + len(simulation.deposits)
    again = [e for e in events if e.redelivered]
    assert len(again) == len(account) // 10
    assert all(events[events.index(e) - 1].event_id == e.event_id for e in again[:20])


@pytest.mark.parametrize("field", ["n_customers", "n_days"])
def test_sizes_must_be_positive(field: str) -> None:
    with pytest.raises(SimulationConfigError, match=field):
        SimulationConfig(**{field: 0})
