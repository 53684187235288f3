"""The audit over HTTP: ``/v1/audit``, the dashboard in headless Chromium, ``upwell audit``.

A real uvicorn server is fed the fraud replay over HTTP: after 21 backfilled days, each
transaction of the last nine is pushed and scored as it arrives (request id = the
transaction id, ``explain=true``, a logistic regression and a LightGBM model in a 50 %
canary), and each fraud label arrives as an event 7 days after its transaction. From
day 28 on, amounts are multiplied by 100: a broken feature.

Oracles: what the test sent and what the server answered (request ids, versions,
scores), scikit-learn's metrics on those scores and the simulation's labels, SciPy's
two-sample KS statistic against the training amounts, and ``logit(score)`` for the
stored explanations (a linear model's and LightGBM's contributions sum to it).
"""

from __future__ import annotations

import os
import threading
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import httpx
import lightgbm
import numpy as np
import orjson
import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families
from scipy.stats import ks_2samp
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.ui import Select
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from typer.testing import CliRunner

import fraud_serving
import upwell as uw
from live_server import thread_server
from upwell.cli.app import app as cli
from upwell.examples.fraud.features import HANDBOOK_FEATURES, LABEL_DELAY
from upwell.examples.fraud.stream import TRANSACTION_FIELDS, event_order
from upwell.server.app import create_app
from upwell.server.audit_settings import load_audit_settings

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::UserWarning")]

AUDIT_TABLE = """[audit]
label_source = "fraud_labels"
label_key = "TRANSACTION_ID"
label_field = "TX_FRAUD"
card_key = "CUSTOMER_ID"
k = 10
label_delay = "7d"
evaluate_interval_s = 0.25

[[audit.rules]]
name = "amount-drift"
metric = "out_of_range_rate"
column = "TX_AMOUNT"
fire_at = 0.2
clear_at = 0.05
min_samples = 20
"""
REPLAY_START = pd.Timestamp("2018-04-22", tz="UTC")
BREAK = pd.Timestamp("2018-04-28", tz="UTC")
DAY_MS = 86_400_000
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


class _Hook(BaseHTTPRequestHandler):
    """A webhook receiver: keeps every JSON body POSTed to it."""

    bodies: ClassVar[list[Any]] = []

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        self.bodies.append(orjson.loads(self.rfile.read(length)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *_args: Any) -> None:
        pass


@dataclass
class Replay:
    url: str
    project: Path
    webhook: list[Any]
    answers: pd.DataFrame
    """One row per scored transaction: request_id, version, score, ts_ms, label, label_ms."""
    training_amounts: np.ndarray
    last_event_ms: int


def _ms(stamp: pd.Timestamp) -> int:
    return int(stamp.value // 1_000_000)


def _iso(stamp: pd.Timestamp) -> str:
    return stamp.strftime("%Y-%m-%dT%H:%M:%SZ")


def _register(store: uw.FeatureStore, frame: pd.DataFrame) -> pd.DataFrame:
    """Train a logistic regression (v1, champion) and LightGBM (v2, canary) on two weeks."""
    when = frame["TX_DATETIME"]
    train = frame[(when >= REPLAY_START - timedelta(days=14)) & (when < REPLAY_START)]
    training = fraud_serving.offline_features(store, train)
    x = training[list(HANDBOOK_FEATURES)].to_numpy(dtype=np.float64)
    y = train["TX_FRAUD"].to_numpy()
    linear = Pipeline(
        [
            ("impute", SimpleImputer(strategy="constant", fill_value=0.0)),
            ("scale", StandardScaler()),
            ("model", LogisticRegression(max_iter=500)),
        ]
    )
    trees = lightgbm.LGBMClassifier(n_estimators=25, num_leaves=7, verbose=-1)
    for version, model in enumerate((linear.fit(x, y), trees.fit(x, y)), start=1):
        aliases = ("champion",) if version == 1 else ("challenger",)
        store.models.register(
            "fraud", model, features="fraud_detection", training_set=training, aliases=aliases
        )
    store.models.set_rollout("fraud", "canary", share=0.5)
    return training


def _backfill(store: uw.FeatureStore, frame: pd.DataFrame) -> None:
    history = frame[frame["TX_DATETIME"] < REPLAY_START]
    store.backfill("transactions", history[list(TRANSACTION_FIELDS)])
    labels = history[["TRANSACTION_ID", "CUSTOMER_ID", "TERMINAL_ID", "TX_FRAUD"]].assign(
        LABEL_TIME=history["TX_DATETIME"] + LABEL_DELAY
    )
    store.backfill("fraud_labels", labels[labels["LABEL_TIME"] < REPLAY_START])


def _stream(client: httpx.Client, frame: pd.DataFrame) -> tuple[list[dict[str, Any]], int]:
    """Push and score the replay in event-time order; returns the answers."""
    answers: list[dict[str, Any]] = []
    waiting: list[dict[str, Any]] = []
    last_ms = 0
    start_ms = _ms(REPLAY_START)
    tx_ms = (frame["TX_DATETIME"].astype("int64") // 1_000_000).to_numpy()
    for code in event_order(frame).tolist():
        row = frame.iloc[code if code >= 0 else -code - 1]
        at_ms = int(tx_ms[code]) if code >= 0 else int(tx_ms[-code - 1]) + DAY_MS * 7
        if at_ms < start_ms:
            continue  # backfilled
        last_ms = at_ms
        if code < 0:
            waiting.append(
                {
                    "TRANSACTION_ID": int(row["TRANSACTION_ID"]),
                    "LABEL_TIME": _iso(row["TX_DATETIME"] + LABEL_DELAY),
                    "CUSTOMER_ID": int(row["CUSTOMER_ID"]),
                    "TERMINAL_ID": int(row["TERMINAL_ID"]),
                    "TX_FRAUD": int(row["TX_FRAUD"]),
                }
            )
            continue
        if waiting:
            sent = client.post("/v1/events", json={"source": "fraud_labels", "events": waiting})
            assert sent.status_code == 200, sent.text
            waiting = []
        answers.append(_score(client, row))
    sent = client.post("/v1/events", json={"source": "fraud_labels", "events": waiting})
    assert sent.status_code == 200, sent.text
    return answers, last_ms


def _score(client: httpx.Client, row: pd.Series) -> dict[str, Any]:
    amount = float(row["TX_AMOUNT"]) * (100 if row["TX_DATETIME"] >= BREAK else 1)
    event = {
        "TRANSACTION_ID": int(row["TRANSACTION_ID"]),
        "TX_DATETIME": _iso(row["TX_DATETIME"]),
        "CUSTOMER_ID": int(row["CUSTOMER_ID"]),
        "TERMINAL_ID": int(row["TERMINAL_ID"]),
        "TX_AMOUNT": amount,
    }
    pushed = client.post("/v1/events", json={"source": "transactions", "event": event})
    assert pushed.status_code == 200, pushed.text
    entity = {k: event[k] for k in ("CUSTOMER_ID", "TERMINAL_ID", "TX_AMOUNT", "TX_DATETIME")}
    request_id = str(event["TRANSACTION_ID"])
    body = {
        "model": "fraud",
        "entities": [entity],
        "request_ids": [request_id],
        "as_of": event["TX_DATETIME"],
        "explain": True,
    }
    scored = client.post("/v1/score", json=body)
    assert scored.status_code == 200, scored.text
    p = scored.json()["predictions"][0]
    tx_ms = _ms(row["TX_DATETIME"])
    return {
        "request_id": request_id,
        "version": p["version"],
        "score": p["score"],
        "ts_ms": tx_ms,
        "amount": amount,
        "customer": int(row["CUSTOMER_ID"]),
        "label": int(row["TX_FRAUD"]),
        "label_ms": tx_ms + 7 * DAY_MS,
    }


def _wait(check: Any, what: str, timeout_s: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


def _labelled(client: httpx.Client) -> int:
    quality = client.get("/v1/audit/quality", params={"span": "all", "window": "30d"}).json()
    return sum(r["labelled"] for r in quality["overall"])


@pytest.fixture(scope="module")
def replay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replay]:
    hook = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    table = AUDIT_TABLE.replace(
        "[[audit.rules]]",
        f'webhook_url = "http://127.0.0.1:{hook.server_port}/alerts"\n\n[[audit.rules]]',
    )
    project = fraud_serving.write_project(tmp_path_factory.mktemp("dashboard"), table)
    frame = fraud_serving.transactions()
    store = uw.FeatureStore(fraud_serving.definitions(), path=project / "data")
    _backfill(store, frame)
    training = _register(store, frame)
    audit = load_audit_settings(tomllib.loads(table)["audit"], project / "data")
    with (
        thread_server(create_app(store, audit=audit)) as url,
        httpx.Client(base_url=url, timeout=30) as client,
    ):
        answers, last_ms = _stream(client, frame)
        _wait(
            lambda: client.get("/v1/audit/summary").json()["stats"]["written"] >= len(answers),
            "the log to write every prediction",
        )
        known = sum(a["label_ms"] <= last_ms for a in answers)
        _wait(lambda: _labelled(client) == known, "the labels to be stored (flushed every second)")
        yield Replay(
            url=url,
            project=project,
            webhook=_Hook.bodies,
            answers=pd.DataFrame(answers),
            training_amounts=training["TX_AMOUNT"].to_numpy(dtype=np.float64),
            last_event_ms=last_ms,
        )
    hook.shutdown()


# ---- the JSON API ---------------------------------------------------------------------


def _get(replay: Replay, path: str, **params: Any) -> Any:
    response = httpx.get(f"{replay.url}/v1/audit/{path}", params=params, timeout=60)
    assert response.status_code == 200, response.text
    return response.json()


def test_the_log_holds_every_answered_prediction(replay: Replay) -> None:
    summary = _get(replay, "summary")
    answers = replay.answers
    assert summary["stats"]["written"] == len(answers)
    assert summary["stats"]["dropped"] == 0
    assert {(v["model"], v["version"]) for v in summary["versions"]} == {("fraud", 1), ("fraud", 2)}
    logged = pd.DataFrame(_get(replay, "predictions", span="all", limit=1000)["predictions"])
    assert len(logged) == len(answers) < 1000
    merged = answers.merge(logged, on="request_id", suffixes=("", "_logged"))
    assert len(merged) == len(answers)
    assert (merged["version"] == merged["version_logged"]).all()
    assert (merged["score"] == merged["score_logged"]).all()  # JSON floats round-trip
    assert (merged["ts_ms"] == merged["ts_ms_logged"]).all()
    assert logged["ts_ms"].is_monotonic_decreasing  # newest first
    amounts = [f["TX_AMOUNT"] for f in merged["features"]]
    assert amounts == merged["amount"].tolist()


def test_explanations_are_stored_and_sum_to_the_logit(replay: Replay) -> None:
    logged = _get(replay, "predictions", span="all", limit=200)["predictions"]
    assert {p["version"] for p in logged} == {1, 2}
    for p in logged:
        contributions = p["explanation"]
        assert set(contributions) == {*HANDBOOK_FEATURES, "bias"}
        raw = sum(contributions.values())  # log-odds for both models
        assert 1 / (1 + np.exp(-raw)) == pytest.approx(p["score"], rel=1e-9, abs=1e-12)


def test_live_quality_per_day_equals_scikit_learn(replay: Replay) -> None:
    answer = _get(replay, "quality", span="all", window="1d", version=1)
    known = replay.answers[
        (replay.answers["version"] == 1) & (replay.answers["label_ms"] <= replay.last_event_ms)
    ]
    checked = 0
    for report in answer["reports"]:
        w = report["window"]
        day = known[(known["ts_ms"] > w["start_ms"]) & (known["ts_ms"] <= w["end_ms"])]
        assert report["labelled"] == len(day)
        if day["label"].nunique() < 2:
            continue
        assert report["auc_roc"] == pytest.approx(roc_auc_score(day["label"], day["score"]))
        ap = average_precision_score(day["label"], day["score"])
        assert report["average_precision"] == pytest.approx(ap)
        checked += 1
    assert checked >= 2


def test_drift_matches_scipy_and_the_broken_amounts_fire_an_alert(replay: Replay) -> None:
    tumbling = _get(replay, "drift", span="all", window="1d", version=1)["reports"]
    sliding = _get(replay, "drift", span="all", window="2d", step="6h", version=1)["reports"]
    amounts = replay.answers[replay.answers["version"] == 1]
    checked = 0
    for report in (r for r in tumbling + sliding if r["column"] == "TX_AMOUNT" and r["n"]):
        w = report["window"]
        live = amounts[(amounts["ts_ms"] > w["start_ms"]) & (amounts["ts_ms"] <= w["end_ms"])]
        assert report["n"] == len(live)
        expected = ks_2samp(replay.training_amounts, live["amount"]).statistic
        assert report["ks_statistic"] == pytest.approx(expected, abs=1e-12)
        checked += 1
    ends = sorted({r["window"]["end_ms"] for r in sliding})
    assert set(np.diff(ends)) == {6 * 3_600_000}  # sliding: windows end every 6 hours
    assert max(r["window"]["end_ms"] - r["window"]["start_ms"] for r in sliding) == 2 * DAY_MS
    assert checked > 40
    alerts = _wait(
        lambda: [e for e in _get(replay, "alerts")["events"] if e["kind"] == "fired"],
        "the amount drift alert",
    )
    assert {(e["rule"], e["column"]) for e in alerts} == {("amount-drift", "TX_AMOUNT")}
    assert min(e["ts_ms"] for e in alerts) > _ms(BREAK)  # nothing before the break
    posted = _wait(lambda: [a for b in replay.webhook for a in b["alerts"]], "the webhook")
    assert {(a["rule"], a["kind"], a["column"]) for a in posted} == {
        ("amount-drift", "fired", "TX_AMOUNT")
    }
    metrics = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(httpx.get(f"{replay.url}/metrics").text)
        for s in family.samples
    }
    labels = (("column", "TX_AMOUNT"), ("model", "fraud"), ("rule", "amount-drift"))
    for version in ("1", "2"):
        assert metrics[("upwell_audit_alert_firing", (*labels, ("version", version)))] == 1


# ---- upwell audit -----------------------------------------------------------------------


def _cli(replay: Replay, *args: str) -> Any:
    result = CliRunner().invoke(cli, ["audit", *args, "-p", str(replay.project), "--json"])
    assert result.exit_code == 0, result.output
    return orjson.loads(result.stdout)


def test_cli_reads_the_audit_beside_the_running_server(replay: Replay) -> None:
    newest = replay.answers.sort_values("ts_ms", kind="stable").iloc[::-1]
    rows = _cli(replay, "predictions", "--limit", "5")
    assert [r["request_id"] for r in rows] == newest["request_id"].head(5).tolist()
    assert [r["score"] for r in rows] == newest["score"].head(5).tolist()
    quality = _cli(replay, "quality", "--version", "1", "--window", "1d")
    served = _get(replay, "quality", span="all", window="1d", version=1)
    assert quality["reports"] == served["reports"]
    drift = _cli(replay, "drift", "--version", "1", "--span", "all")
    assert drift["reports"] == _get(replay, "drift", span="all", window="1d", version=1)["reports"]
    events = _cli(replay, "alerts")
    assert [e["rule"] for e in events if e["kind"] == "fired"][-1:] == ["amount-drift"]
    table = CliRunner(env={"COLUMNS": "200"}).invoke(
        cli, ["audit", "quality", "-p", str(replay.project)]
    )
    assert table.exit_code == 0
    assert "AUC ROC" in table.stdout
    assert "whole span" in table.stdout


# ---- the dashboard in Chromium --------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        reason = (
            f"headless Chromium needs {CHROMIUM} and {CHROMEDRIVER} (apt chromium chromium-driver)"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(flag)
    options.add_argument("--window-size=1400,1000")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _loaded(driver: Any, after: int) -> None:
    def done() -> bool:
        body = driver.find_element("tag name", "body")
        loads = int(body.get_attribute("data-loads") or 0)
        return loads > after and body.get_attribute("data-loading") == "false"

    _wait(done, "the dashboard to load")
    error = driver.find_element("tag name", "body").get_attribute("data-error")
    assert not error, error


def _loads(driver: Any) -> int:
    return int(driver.find_element("tag name", "body").get_attribute("data-loads") or 0)


def _choose(driver: Any, select_id: str, value: str) -> None:
    before = _loads(driver)
    Select(driver.find_element("id", select_id)).select_by_value(value)
    _loaded(driver, before)


def _screenshot(driver: Any, path: Path) -> None:
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1400, max(1000, int(height) + 40))
    assert driver.save_screenshot(str(path))
    assert path.stat().st_size > 10_000


def _points(driver: Any, chart: str) -> int:
    svg = driver.find_element("css selector", f"#{chart} svg")
    return int(svg.get_attribute("data-points") or 0)


def test_dashboard_draws_every_plot_with_data(replay: Replay, browser: Any, tmp_path: Path) -> None:
    browser.get(f"{replay.url}/ui/")
    _loaded(browser, 0)
    _choose(browser, "span-filter", "all")
    for chart in ("throughput-chart", "latency-chart", "quality-chart", "calibration-chart"):
        assert _points(browser, chart) > 0, chart
    paths = browser.find_elements("css selector", "#throughput-chart path.line")
    assert sorted(p.get_attribute("data-points") != "0" for p in paths) == [True, True]
    bars = browser.find_elements("css selector", "#score-chart rect.bar")
    assert len(bars) == 20
    figures = browser.find_elements("css selector", "#drift-charts figure")
    assert {f.get_attribute("data-column") for f in figures} == {*HANDBOOK_FEATURES, "score"}
    amount = browser.find_element(
        "css selector", '#drift-charts figure[data-column="TX_AMOUNT"] svg'
    )
    assert int(amount.get_attribute("data-points")) > 0
    rows = browser.find_elements("css selector", "#predictions-table tbody tr")
    newest = replay.answers.sort_values("ts_ms", kind="stable")["request_id"].iloc[::-1]
    assert [r.get_attribute("data-request-id") for r in rows] == newest.head(50).tolist()
    explanation = browser.find_elements("css selector", "#explanation-chart rect.bar")
    assert len(explanation) == len(HANDBOOK_FEATURES) + 1  # contributions and the bias
    written = browser.find_element("css selector", '#log-stats dd[data-stat="written"]').text
    assert written.replace(",", "") == str(len(replay.answers))
    firing = browser.find_element("id", "firing").text
    assert "amount-drift" in firing
    _screenshot(browser, tmp_path / "dashboard.png")


def test_filtering_by_version_shows_only_that_version(
    replay: Replay, browser: Any, tmp_path: Path
) -> None:
    browser.get(f"{replay.url}/ui/")
    _loaded(browser, 0)
    _choose(browser, "span-filter", "all")
    _choose(browser, "version-filter", "2")
    rows = browser.find_elements("css selector", "#predictions-table tbody tr")
    assert rows
    assert {r.get_attribute("data-version") for r in rows} == {"2"}
    mine = replay.answers[replay.answers["version"] == 2].sort_values("ts_ms", kind="stable")
    assert [r.get_attribute("data-request-id") for r in rows] == mine["request_id"].iloc[::-1].head(
        50
    ).tolist()
    assert (
        browser.find_element("css selector", "#throughput-chart svg").get_attribute("data-series")
        == "1"
    )
    versions = browser.find_elements("css selector", "#versions-table tbody tr")
    assert [v.find_elements("tag name", "td")[0].text for v in versions] == ["2"]
    _screenshot(browser, tmp_path / "dashboard-version-2.png")
    rows[3].click()
    caption = browser.find_element("id", "explanation-caption").text
    assert mine["request_id"].iloc[::-1].iloc[3] in caption
    _choose(browser, "version-filter", "")
    all_rows = browser.find_elements("css selector", "#predictions-table tbody tr")
    assert {r.get_attribute("data-version") for r in all_rows} == {"1", "2"}
