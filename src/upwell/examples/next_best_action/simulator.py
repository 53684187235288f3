"""A small, deterministic simulator of bank customers' account events.

Each customer has a credit card (a limit and a balance), maybe a savings habit, and
now and then a tax-relevant transaction (a charitable donation, a tax payment):

- card purchases arrive as a Poisson process; a purchase that would exceed the
  limit is declined (no event);
- on the customer's pay day, "revolvers" repay 3% of the balance and the others
  repay it in full, so revolvers drift towards their limit;
- steady savers deposit about the same amount every 30 days; irregular savers
  deposit random amounts at random times;
- donors give to charity now and then; self-employed customers pay tax on two fixed
  days;
- most customers grant marketing consent before the stream starts; a few withdraw or
  grant it while it runs.

Every draw comes from ``numpy.random.default_rng([seed, customer_id])``, so a
customer's events do not depend on how many customers are simulated.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from upwell.examples.next_best_action.simulation_types import (
    CardCategory,
    ConsentAction,
    SaverKind,
    SimulationConfig,
)

DAY_MS = 86_400_000
_LIMITS = np.array([1_000.0, 2_000.0, 3_000.0, 5_000.0, 8_000.0])
_TAX_DAYS = (30, 90)


@dataclass(frozen=True)
class Simulation:
    """The simulated customers and their events.

    Args:
        customers: One row per customer and their traits.
        card: Card transactions (purchases, repayments, donations, tax payments).
        deposits: Deposits into savings.
        consent: Marketing consent changes.
    """

    customers: pd.DataFrame
    card: pd.DataFrame
    deposits: pd.DataFrame
    consent: pd.DataFrame


@dataclass(frozen=True)
class _Profile:
    customer_id: int
    credit_limit: float
    revolver: bool
    purchases_per_day: float
    saver: SaverKind
    saving_amount: float
    donor: bool
    self_employed: bool
    pay_day: int


def simulate(config: SimulationConfig | None = None) -> Simulation:
    """Simulate customers' card transactions, deposits and consent changes.

    Args:
        config: Sizes, seed and start date; the defaults take a second.

    Returns:
        The simulation; event times are UTC, events of a table sorted by time.
    """
    config = config or SimulationConfig()
    start_ms = int(pd.Timestamp(config.start, tz="UTC").value // 1_000_000)
    profiles = [_profile(config.seed, c) for c in range(config.n_customers)]
    card: list[tuple[object, ...]] = []
    deposits: list[tuple[object, ...]] = []
    consent: list[tuple[object, ...]] = []
    for profile in profiles:
        rng = np.random.default_rng([config.seed, profile.customer_id, 1])
        card += _card_events(profile, rng, config.n_days, start_ms)
        deposits += _deposits(profile, rng, config.n_days, start_ms)
        consent += _consent(profile, rng, config.n_days, start_ms)
    return Simulation(
        customers=pd.DataFrame([p.__dict__ | {"saver": p.saver.value} for p in profiles]),
        card=_frame(
            card, ["customer_id", "ts_ms", "amount", "balance", "credit_limit", "category"], "c"
        ),
        deposits=_frame(deposits, ["customer_id", "ts_ms", "amount"], "d"),
        consent=_frame(consent, ["customer_id", "ts_ms", "action"], "k"),
    )


def _profile(seed: int, customer_id: int) -> _Profile:
    rng = np.random.default_rng([seed, customer_id, 0])
    saver_kind = list(SaverKind)[int(rng.choice(3, p=[0.3, 0.3, 0.4]))]
    return _Profile(
        customer_id=customer_id,
        credit_limit=float(rng.choice(_LIMITS)),
        revolver=bool(rng.random() < 0.35),
        purchases_per_day=float(rng.uniform(0.3, 2.0)),
        saver=saver_kind,
        saving_amount=float(np.round(rng.uniform(50.0, 600.0), 2)),
        donor=bool(rng.random() < 0.3),
        self_employed=bool(rng.random() < 0.15),
        pay_day=int(rng.integers(0, 30)),
    )


def _card_events(
    profile: _Profile, rng: np.random.Generator, n_days: int, start_ms: int
) -> list[tuple[object, ...]]:
    balance = float(np.round(rng.uniform(0.0, 0.6) * profile.credit_limit, 2))
    events: list[tuple[object, ...]] = []
    for day in range(n_days):
        todays = _todays_card_draws(profile, rng, day)
        for offset_ms, category, drawn in sorted(todays, key=lambda item: item[0]):
            amount = drawn
            if category is CardCategory.PAYMENT:
                share = 0.03 if profile.revolver else 1.0
                amount = -min(balance, max(25.0, float(np.round(balance * share, 2))))
                if amount == 0.0:
                    continue
            elif balance + amount > profile.credit_limit:
                continue  # declined: no posted transaction
            balance = float(np.round(balance + amount, 2))
            ts = start_ms + day * DAY_MS + offset_ms
            events.append(
                (profile.customer_id, ts, amount, balance, profile.credit_limit, category.value)
            )
    return events


def _todays_card_draws(
    profile: _Profile, rng: np.random.Generator, day: int
) -> list[tuple[int, CardCategory, float]]:
    draws: list[tuple[int, CardCategory, float]] = []
    for _ in range(rng.poisson(profile.purchases_per_day)):
        amount = float(np.round(rng.lognormal(np.log(30.0), 0.9), 2))
        draws.append((int(rng.integers(0, DAY_MS)), CardCategory.PURCHASE, amount))
    if day % 30 == profile.pay_day:
        draws.append((int(rng.integers(0, DAY_MS)), CardCategory.PAYMENT, 0.0))
    if rng.random() < (0.03 if profile.donor else 0.002):
        amount = float(np.round(rng.uniform(10.0, 150.0), 2))
        draws.append((int(rng.integers(0, DAY_MS)), CardCategory.DONATION, amount))
    if profile.self_employed and day in _TAX_DAYS:
        amount = float(np.round(rng.uniform(100.0, 600.0), 2))
        draws.append((int(rng.integers(0, DAY_MS)), CardCategory.TAX_PAYMENT, amount))
    return draws


def _deposits(
    profile: _Profile, rng: np.random.Generator, n_days: int, start_ms: int
) -> list[tuple[object, ...]]:
    events: list[tuple[object, ...]] = []
    for day in range(n_days):
        if profile.saver is SaverKind.STEADY and day % 30 == (profile.pay_day + 1) % 30:
            amount = profile.saving_amount * (1.0 + rng.normal(0.0, 0.02))
        elif profile.saver is SaverKind.IRREGULAR and rng.random() < 0.08:
            amount = float(rng.lognormal(np.log(profile.saving_amount), 0.8))
        else:
            continue
        ts = start_ms + day * DAY_MS + int(rng.integers(0, DAY_MS))
        events.append((profile.customer_id, ts, float(np.round(amount, 2))))
    return events


def _consent(
    profile: _Profile, rng: np.random.Generator, n_days: int, start_ms: int
) -> list[tuple[object, ...]]:
    granted = rng.random() < 0.7
    changes: list[tuple[object, ...]] = []
    if granted:
        changes.append((profile.customer_id, start_ms - DAY_MS, ConsentAction.GRANT.value))
    if rng.random() < (0.15 if granted else 0.1):
        action = ConsentAction.WITHDRAW if granted else ConsentAction.GRANT
        ts = start_ms + int(rng.integers(0, n_days * DAY_MS))
        changes.append((profile.customer_id, ts, action.value))
    return changes


def _frame(rows: list[tuple[object, ...]], columns: list[str], prefix: str) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=columns)
    frame = frame.sort_values(["ts_ms", "customer_id"], kind="stable").reset_index(drop=True)
    frame.insert(0, "event_id", [f"{prefix}{i}" for i in range(len(frame))])
    frame["ts"] = pd.to_datetime(frame["ts_ms"], unit="ms", utc=True)
    return frame
