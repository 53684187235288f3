"""``upwell demo fraud`` end to end, on a smaller simulation of the handbook's data.

The simulation keeps the handbook's 183 days from 2018-04-01 (so its training, delay and
test weeks exist) with 300 customers and 600 terminals instead of 5,000 and 10,000.

Oracles: ``tests/fraud_oracle.py`` (an independent pandas implementation of the 15 features)
for ``features.parquet``, and models fitted here with scikit-learn and XGBoost on the
oracle's features, scored by the libraries themselves, for the metrics in ``report.json``.
The handbook's split and card precision@100 come from ``upwell.examples.fraud.evaluation``
(checked on their own in ``tests/unit/examples/test_fraud_evaluation.py``); AUC ROC and
average precision are scikit-learn's.
"""

from __future__ import annotations

import base64
import json
import os
import platform
import subprocess
import sys
from dataclasses import dataclass
from html.parser import HTMLParser
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier
from xgboost import XGBClassifier

import fraud_oracle
import upwell as uw
from upwell.config import load_config, load_definitions
from upwell.examples.fraud import SimulationConfig, simulate
from upwell.examples.fraud.demo import run_demo
from upwell.examples.fraud.evaluation import card_precision_at_k, split_train_test
from upwell.examples.fraud.features import HANDBOOK_FEATURES

pytestmark = pytest.mark.slow

SMALL = SimulationConfig(n_customers=300, n_terminals=600)
TINY = SimulationConfig(n_customers=100, n_terminals=200)
FEATURES = list(HANDBOOK_FEATURES)
METRICS = ("auc_roc", "average_precision", "card_precision_at_100")
SAME = 1e-9  # AVG values carry float noise from summing (relative, and absolute near 0)
PNG = b"\x89PNG\r\n\x1a\n"

# The handbook's five baselines (section 3.2), with the settings today's libraries need to
# give the book's numbers (the book's sklearn 1.0 / xgboost 1.5 defaults).
ESTIMATORS: dict[str, Any] = {
    "logistic_regression": lambda: LogisticRegression(
        C=1.0, solver="lbfgs", random_state=0, tol=1e-8, max_iter=10_000
    ),
    "decision_tree_depth_2": lambda: DecisionTreeClassifier(max_depth=2, random_state=0),
    "decision_tree": lambda: DecisionTreeClassifier(random_state=0),
    "random_forest": lambda: RandomForestClassifier(n_estimators=100, random_state=0),
    "xgboost": lambda: XGBClassifier(
        n_estimators=100,
        learning_rate=0.3,
        max_depth=6,
        random_state=0,
        tree_method="exact",
        base_score=0.5,
    ),
}


@dataclass(frozen=True)
class DemoRun:
    """The simulated input, what ``run_demo`` returned, and what it wrote."""

    transactions: pd.DataFrame
    summary: dict[str, Any]
    out: Path


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    transactions = simulate(SMALL)
    out = tmp_path_factory.mktemp("fraud-demo")
    summary = run_demo(out, transactions=transactions)
    return DemoRun(transactions, summary, out)


@pytest.fixture(scope="module")
def oracle(demo: DemoRun) -> pd.DataFrame:
    return fraud_oracle.add_features(demo.transactions)


def _assert_features_match_the_oracle(written: pd.DataFrame, oracle: pd.DataFrame) -> None:
    """Equal everywhere, except one customer's same-second payments (one more or fewer)."""
    assert written.columns.tolist() == ["TRANSACTION_ID", *FEATURES]
    assert written["TRANSACTION_ID"].tolist() == oracle["TRANSACTION_ID"].tolist()
    got, expected = written[FEATURES].to_numpy(), oracle[FEATURES].to_numpy(dtype=np.float64)
    differs = ~np.isclose(got, expected, rtol=SAME, atol=SAME)
    tied = oracle.duplicated(["CUSTOMER_ID", "TX_DATETIME"], keep=False).to_numpy()
    customer = np.array([name.startswith("CUSTOMER_ID_") for name in FEATURES])
    assert not differs[:, ~customer].any()
    assert not differs[~tied].any()
    counts = [i for i, name in enumerate(FEATURES) if name.startswith("CUSTOMER_ID_NB_TX")]
    steps = np.abs(got[tied][:, counts] - expected[tied][:, counts])
    assert np.isin(steps, [0, 1]).all()


def test_report_json_has_every_required_part(demo: DemoRun) -> None:
    report = json.loads((demo.out / "report.json").read_text(encoding="utf-8"))
    assert report == json.loads(json.dumps(demo.summary))
    assert list(report["models"]) == list(ESTIMATORS)
    for name, parts in report["models"].items():
        for part in ("test", "train"):
            values = [parts[part][metric] for metric in METRICS]
            assert all(0 <= v <= 1 for v in values), (name, part, values)
            assert len(parts[part]["daily_card_precision_at_100"]) == 7
    assert report["online_equals_offline"] is True
    assert report["features_online_equals_offline"] is True
    assert report["scores_online_equals_offline"] is True
    latency = report["latency_us"]
    assert 0 < latency["p50"] <= latency["p99"] <= latency["max"]
    assert report["throughput_events_per_s"] > 0
    n = len(demo.transactions)
    assert (report["transactions"], report["events"]) == (n, 2 * n)
    packages = ("numpy", "pandas", "scikit-learn", "xgboost")
    expected = {"python": platform.python_version(), **{p: version(p) for p in packages}}
    assert report["versions"] == expected


def test_features_parquet_equals_the_oracle(demo: DemoRun, oracle: pd.DataFrame) -> None:
    written = pd.read_parquet(demo.out / "features.parquet")
    assert len(written) == len(demo.transactions)
    _assert_features_match_the_oracle(written, oracle)


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_test_metrics_equal_an_independent_fit_on_the_oracle_features(
    demo: DemoRun, oracle: pd.DataFrame, name: str
) -> None:
    # Every training label has arrived before the test week starts (7 days after the
    # training week ends), so the demo's training set is the handbook's.
    train, test = split_train_test(oracle)
    report = demo.summary
    assert (report["train_rows"], report["train_frauds"]) == (len(train), train["TX_FRAUD"].sum())
    assert (report["test_rows"], report["test_frauds"]) == (len(test), test["TX_FRAUD"].sum())
    scaler = StandardScaler().fit(train[FEATURES].to_numpy())
    model = ESTIMATORS[name]().fit(scaler.transform(train[FEATURES].to_numpy()), train["TX_FRAUD"])
    scores = model.predict_proba(scaler.transform(test[FEATURES].to_numpy()))[:, 1]
    labels = test["TX_FRAUD"].to_numpy()
    got = report["models"][name]["test"]
    assert got["auc_roc"] == pytest.approx(roc_auc_score(labels, scores), abs=1e-6)
    assert got["average_precision"] == pytest.approx(
        average_precision_score(labels, scores), abs=1e-6
    )
    card_precision, daily = card_precision_at_k(test.assign(predictions=scores))
    assert got["card_precision_at_100"] == pytest.approx(card_precision, abs=1e-9)
    assert got["daily_card_precision_at_100"] == pytest.approx(daily, abs=1e-9)


class _Resources(HTMLParser):
    """Every attribute of the page that could load something (src, href, data)."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.links += [v or "" for k, v in attrs if k in {"src", "href", "data", "srcset"}]


def test_report_html_is_one_self_contained_page_with_embedded_plots(demo: DemoRun) -> None:
    page = (demo.out / "report.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    parser = _Resources()
    parser.feed(page)
    assert "script" not in parser.tags
    assert "link" not in parser.tags
    prefix = "data:image/png;base64,"
    assert len(parser.links) == parser.tags.count("img") == 3  # curves, card precision, latency
    for link in parser.links:
        assert link.startswith(prefix)
        assert base64.b64decode(link.removeprefix(prefix), validate=True).startswith(PNG)
    for name in ESTIMATORS:
        assert name in page


def _upwell_command() -> list[str]:
    """The installed console script next to this interpreter, else ``python -m upwell.cli``."""
    script = Path(sys.executable).parent / "upwell"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "upwell.cli"]


def test_cli_runs_the_demo_on_a_parquet_file(tmp_path: Path) -> None:
    transactions = simulate(TINY)
    source = tmp_path / "transactions.parquet"
    transactions.to_parquet(source)
    out = tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if not k.startswith("UPWELL_")}
    command = [*_upwell_command(), "demo", "fraud", "--out", str(out), "--transactions", source]
    done = subprocess.run(
        [str(part) for part in command],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["online_equals_offline"] is True
    assert list(report["models"]) == list(ESTIMATORS)
    assert (out / "report.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    written = pd.read_parquet(out / "features.parquet")
    _assert_features_match_the_oracle(written, fraud_oracle.add_features(transactions))


def test_the_output_is_a_project_serving_the_handbook_models(
    demo: DemoRun, oracle: pd.DataFrame
) -> None:
    registered = demo.summary["registered"]
    assert list(registered) == [n for n in ESTIMATORS if n != "xgboost"]
    train, _ = split_train_test(oracle)
    scaler = StandardScaler().fit(train[FEATURES].to_numpy())
    forest = ESTIMATORS["random_forest"]().fit(
        scaler.transform(train[FEATURES].to_numpy()), train["TX_FRAUD"]
    )
    # Online state serves the present: new payments after the last fraud label (the
    # latest event of the stream), scored as they arrive, against the offline builder's
    # features for the same rows and time.
    last = demo.transactions.iloc[-20:]
    end = pd.Timestamp(last["TX_DATETIME"].max()).tz_localize("UTC") + pd.Timedelta(days=7, hours=1)
    first_id = int(demo.transactions["TRANSACTION_ID"].max()) + 1
    rows = [
        {
            "CUSTOMER_ID": int(r.CUSTOMER_ID),
            "TERMINAL_ID": int(r.TERMINAL_ID),
            "TX_AMOUNT": float(r.TX_AMOUNT),
            "TX_DATETIME": end.to_pydatetime(),
        }
        for r in last.itertuples()
    ]
    payments = [{**row, "TRANSACTION_ID": first_id + i} for i, row in enumerate(rows)]
    config = load_config(demo.out)
    with uw.FeatureStore(load_definitions(config.definitions), path=config.data) as store:
        assert store.push("transactions", payments).accepted == len(payments)
        champion = store.models.registry.get("fraud", "champion")
        assert champion.version == registered["random_forest"]
        test_auc = demo.summary["models"]["random_forest"]["test"]["auc_roc"]
        assert champion.metrics["auc_roc"] == test_auc
        offline = store.training_set("fraud_detection", pd.DataFrame(rows).assign(timestamp=end))[
            FEATURES
        ].to_numpy(dtype=np.float64)
        predictions = store.score("fraud", rows, as_of=end.to_pydatetime())
    expected = forest.predict_proba(scaler.transform(offline))[:, 1]
    served = np.array([[p.features[c] for c in FEATURES] for p in predictions])
    np.testing.assert_array_equal(served, offline)
    assert {p.version for p in predictions} == {champion.version}
    assert [p.score for p in predictions] == pytest.approx(list(expected), abs=1e-12)
