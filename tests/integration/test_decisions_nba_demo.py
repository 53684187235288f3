"""The next-best-action demo decides exactly what an independent pandas recomputation does.

The oracle recomputes every feature with pandas (rolling windows over each customer's
events in stream order) and replays the policy's rules in plain Python, written from
the policy's description, not from upwell's decision code.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from upwell.examples.next_best_action.demo import run_demo
from upwell.examples.next_best_action.simulation_types import SimulationConfig
from upwell.examples.next_best_action.simulator import simulate

CONFIG = SimulationConfig(n_customers=90, n_days=100, seed=11)
DAY = 86_400_000
TAX = {"donation", "tax_payment"}
COST = {"balance_transfer_offer": 50.0, "investment_offer": 25.0}


def _features(config: SimulationConfig) -> pd.DataFrame:
    """Every account event with its features as of itself, by pandas."""
    simulation = simulate(config)
    card = simulation.card.assign(kind=1, deposit=np.nan)
    deposits = simulation.deposits.assign(kind=2, deposit=simulation.deposits["amount"])
    events = pd.concat([card, deposits], ignore_index=True)
    events["position"] = events.groupby("kind").cumcount()
    events = events.sort_values(["ts_ms", "kind", "position"], kind="stable")
    events["tax"] = events["category"].isin(TAX).astype(float)
    events["utilisation"] = events["balance"] / events["credit_limit"]
    events["when"] = pd.to_datetime(events["ts_ms"], unit="ms")
    parts = []
    for _, group in events.groupby("customer_id", sort=False):
        frame = group.set_index("when")
        frame["tax_1d"] = frame["tax"].rolling("1D").sum()
        frame["n_90d"] = frame["deposit"].rolling("90D").count()
        frame["mean_90d"] = frame["deposit"].rolling("90D").mean()
        frame["std_90d"] = frame["deposit"].rolling("90D").std()
        frame[["utilisation", "credit_limit"]] = frame[["utilisation", "credit_limit"]].ffill()
        parts.append(frame.reset_index())
    return pd.concat(parts).sort_values(["ts_ms", "kind", "position"], kind="stable")


def _marketing(config: SimulationConfig) -> dict[int, list[tuple[int, bool]]]:
    changes: dict[int, list[tuple[int, bool]]] = {}
    for row in simulate(config).consent.itertuples():
        changes.setdefault(row.customer_id, []).append((row.ts_ms, row.action == "grant"))
    return changes


def _granted(changes: list[tuple[int, bool]], t: int) -> bool:
    status = False
    for at, granted in sorted(changes):
        if at <= t:
            status = granted
    return status


def _choose(row: pd.Series, taken: list[tuple[str, int]], marketing: bool) -> str | None:
    t = int(row["ts_ms"])

    def since(names: set[str], span: int) -> list[tuple[str, int]]:
        return [(a, at) for a, at in taken if a in names and at > t - span]

    if len(since(set(COST) | {"tax_alert", "credit_limit_increase"}, 7 * DAY)) >= 2:
        return None  # the policy cap: 2 actions per 7 days
    spent = sum(COST[a] for a, _ in since(set(COST), 30 * DAY))
    credit_open = not since({"balance_transfer_offer", "credit_limit_increase"}, 30 * DAY)
    util, limit = row["utilisation"], row["credit_limit"]
    steady = row["n_90d"] >= 3 and row["std_90d"] <= 0.1 * row["mean_90d"]
    by_priority = [
        ("tax_alert", row["tax_1d"] >= 1 and not since({"tax_alert"}, DAY)),
        (
            "balance_transfer_offer",
            marketing
            and util >= 0.9
            and credit_open
            and len(since({"balance_transfer_offer"}, 90 * DAY)) < 2
            and spent + 50 <= 60,
        ),
        (
            "investment_offer",
            marketing
            and steady
            and row["mean_90d"] >= 150
            and not since({"investment_offer"}, 30 * DAY)
            and spent + 25 <= 60,
        ),
        (
            "credit_limit_increase",
            marketing and 0.75 <= util < 0.9 and limit < 5_000 and credit_open,
        ),
    ]
    return next((name for name, passes in by_priority if passes), None)


def _oracle(config: SimulationConfig) -> pd.Series:
    consent = _marketing(config)
    chosen: dict[str, str | None] = {}
    for customer, events in _features(config).groupby("customer_id", sort=False):
        taken: list[tuple[str, int]] = []
        for _, row in events.iterrows():
            action = _choose(row, taken, _granted(consent.get(customer, []), int(row["ts_ms"])))
            chosen[row["event_id"]] = action
            if action is not None:
                taken.append((action, int(row["ts_ms"])))
    return pd.Series(chosen, name="expected")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object]]:
    out = tmp_path_factory.mktemp("nba")
    return out, run_demo(out, CONFIG, redeliver_every=40)


def test_demo_decisions_match_the_pandas_oracle(demo: tuple[Path, dict[str, object]]) -> None:
    out, _ = demo
    decisions = pd.read_parquet(out / "decisions.parquet").set_index("event_id")
    expected = _oracle(CONFIG)

    joined = decisions.join(expected, how="outer")
    mismatches = joined[joined["action"].fillna("-") != joined["expected"].fillna("-")]

    assert len(joined) == len(decisions) == len(expected)
    assert mismatches.empty, mismatches.head(10).to_string()
    reached = decisions.dropna(subset=["action"]).groupby("action")["customer_id"].agg(set)
    tax_customers = {c for e, c in decisions["customer_id"].items() if expected[e] == "tax_alert"}
    assert reached["tax_alert"] == tax_customers
    assert set(reached.index) == {
        "tax_alert",
        "balance_transfer_offer",
        "investment_offer",
        "credit_limit_increase",
    }


def test_demo_report_agrees_with_its_decisions(demo: tuple[Path, dict[str, object]]) -> None:
    out, summary = demo
    decisions = pd.read_parquet(out / "decisions.parquet")
    report = json.loads((out / "report.json").read_text())

    counts = decisions["action"].value_counts().to_dict()
    assert report == json.loads(json.dumps(summary))
    assert {a: n for a, n in report["actions"].items() if n} == counts
    assert report["no_action"] == int(decisions["action"].isna().sum())
    redeliveries = report["redeliveries"]
    assert redeliveries["count"] == len(decisions) // 40
    assert redeliveries["same_decision"] == redeliveries["count"]
    assert redeliveries["dropped_by_store"] == redeliveries["count"]
    assert report["engine"]["replays"] == redeliveries["count"]
    assert "| tax_alert |" in (out / "report.md").read_text()
