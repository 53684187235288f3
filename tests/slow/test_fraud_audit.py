"""The fraud example streamed over all 183 days with the audit on, through the public API.

A smaller simulation of the handbook's data (300 customers, 600 terminals, the full 183
days) is streamed event by event: every transaction is pushed and, from the start of the
test week on, scored as it arrives (``store.score``, request id = transaction id); every
fraud label arrives as its own event 7 days later and is joined to the logged prediction
by that id. The model (LightGBM) is trained at the test week's start on the
handbook's training week, built from the event log, and registered with it as the drift
reference. Alert rules are evaluated every 12 hours of event time (6 in the broken stream).

Oracles: the same model applied offline to ``event_training_set`` features, scored with
scikit-learn's ``roc_auc_score``, ``average_precision_score``, ``brier_score_loss`` and
``calibration_curve``, and the fraud example's ``card_precision_at_k`` (the handbook's
protocol). A second stream, with amounts multiplied by 100 from a given day on, must raise
a drift alert within one day of event time; the unchanged stream must raise none.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import lightgbm
import numpy as np
import pandas as pd
import pytest
from sklearn.calibration import calibration_curve
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

import upwell as uw
from upwell.audit import (
    AlertEvent,
    AlertLog,
    AlertRule,
    Metric,
    Monitor,
    MonitorConfig,
    ParquetLabelStore,
    ParquetPredictionLog,
)
from upwell.examples.fraud import SimulationConfig, simulate
from upwell.examples.fraud.demo import TRAIN_DAYS, TRAIN_START, training_frame
from upwell.examples.fraud.evaluation import card_precision_at_k
from upwell.examples.fraud.features import DEFINITIONS, HANDBOOK_FEATURES, fraud_detection
from upwell.examples.fraud.stream import (
    TRANSACTION_FIELDS,
    epoch_ms,
    event_order,
    events,
    utc_transactions,
)
from upwell.serving.audit_sink import LabelFeed

pytestmark = pytest.mark.slow

CONFIG = SimulationConfig(n_customers=300, n_terminals=600)  # the full 183 days
DEPLOY = TRAIN_START + pd.Timedelta(days=2 * TRAIN_DAYS)  # the test week's start
BREAK = DEPLOY + pd.Timedelta(days=5, hours=9)  # amounts x100 from here (broken stream)
DAY_MS = 86_400_000
HOUR_MS = 3_600_000
SAME = {"rel": 1e-9, "abs": 1e-12}
RULES = (
    AlertRule(name="amount-psi", metric=Metric.PSI, column="TX_AMOUNT", fire_at=0.25,
              clear_at=0.1, min_samples=100),
    AlertRule(name="amount-range", metric=Metric.OUT_OF_RANGE_RATE, column="TX_AMOUNT",
              fire_at=0.05, clear_at=0.02, min_samples=100),
)  # fmt: skip


@dataclass
class Run:
    store: uw.FeatureStore
    model: lightgbm.LGBMClassifier | None = None
    alerts: list[AlertEvent] = field(default_factory=list)
    evaluations: list[int] = field(default_factory=list)
    scored: list[int] = field(default_factory=list)
    """Row indices of the scored transactions."""


def _ms(stamp: pd.Timestamp) -> int:
    return int(stamp.value // 1_000_000)


def _audited_store(path: Path) -> uw.FeatureStore:
    store = uw.FeatureStore(DEFINITIONS, path=path / "store")
    audit = path / "audit"  # open_monitor's layout, rolled to Parquet every ~4 days of traffic
    monitor = Monitor(
        ParquetPredictionLog(audit, roll_records=2_000),
        ParquetLabelStore(audit),
        config=MonitorConfig(card_key="CUSTOMER_ID", label_delay_ms=7 * DAY_MS),
        rules=RULES,
        sinks=[AlertLog(audit)],
    )
    store.enable_audit(
        monitor, labels=LabelFeed(source="fraud_labels", key="TRANSACTION_ID", field="TX_FRAUD")
    )
    return store


def _train(store: uw.FeatureStore, frame: pd.DataFrame) -> lightgbm.LGBMClassifier:
    train = training_frame(store, frame)
    model = lightgbm.LGBMClassifier(
        n_estimators=100, num_leaves=15, n_jobs=1, deterministic=True, verbose=-1
    )
    model.fit(train[list(HANDBOOK_FEATURES)].to_numpy(dtype=np.float64), train["TX_FRAUD"])
    store.models.register(
        "fraud", model, features=fraud_detection, training_set=train, aliases=("champion",)
    )
    return model


def _stream(
    run: Run, frame: pd.DataFrame, order: np.ndarray, until_ms: int | None, every_ms: int
) -> None:
    """Push every event of ``order``; score transactions from DEPLOY; evaluate the rules."""
    times = epoch_ms(frame["TX_DATETIME"]).tolist()
    deploy_ms = _ms(DEPLOY)
    next_evaluation = deploy_ms + every_ms
    for event in events(frame, order):
        at = times[event.index] + (0 if event.source == "transactions" else 7 * DAY_MS)
        if until_ms is not None and at > until_ms:
            break
        while at > next_evaluation:
            run.alerts += run.store.audit.evaluate(next_evaluation)
            run.evaluations.append(next_evaluation)
            next_evaluation += every_ms
        run.store.push(event.source, event.row)
        if event.source == "transactions" and at >= deploy_ms:
            run.store.score(
                "fraud",
                event.row,
                as_of=event.row["TX_DATETIME"],
                request_id=str(event.row["TRANSACTION_ID"]),
            )
            run.scored.append(event.index)


def _split(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The stream's order, cut where the model is deployed."""
    order = event_order(frame)
    rows = np.where(order >= 0, order, -order - 1)
    at = epoch_ms(frame["TX_DATETIME"])[rows] + np.where(order >= 0, 0, 7 * DAY_MS)
    first = int(np.searchsorted(at, _ms(DEPLOY), side="left"))
    return order[:first], order[first:]


@pytest.fixture(scope="module")
def transactions() -> pd.DataFrame:
    return utc_transactions(simulate(CONFIG))


@pytest.fixture(scope="module")
def unchanged(
    transactions: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Run]:
    store = _audited_store(tmp_path_factory.mktemp("unchanged"))
    before, after = _split(transactions)
    run = Run(store=store)
    for event in events(transactions, before):
        store.push(event.source, event.row)
    run.model = _train(store, transactions)
    _stream(run, transactions, after, None, 12 * HOUR_MS)
    assert store.audit is not None
    store.audit.flush()
    yield run
    store.close()


def _offline(run: Run, frame: pd.DataFrame) -> pd.DataFrame:
    """The scored transactions with the model's offline scores on the builder's features."""
    built = run.store.event_training_set(fraud_detection, "transactions")
    scored = frame.iloc[run.scored][["TRANSACTION_ID", "TX_DATETIME", "CUSTOMER_ID", "TX_FRAUD"]]
    rows = scored.merge(built[["TRANSACTION_ID", *HANDBOOK_FEATURES]], on="TRANSACTION_ID")
    x = rows[list(HANDBOOK_FEATURES)].to_numpy(dtype=np.float64)
    start = pd.Timestamp(CONFIG.start_date, tz="UTC")
    return rows.assign(
        predictions=run.model.predict_proba(x)[:, 1],
        ts_ms=epoch_ms(rows["TX_DATETIME"]),
        TX_TIME_DAYS=(rows["TX_DATETIME"] - start).dt.days,
    )


def test_live_quality_from_the_log_and_late_labels_equals_offline(
    unchanged: Run, transactions: pd.DataFrame
) -> None:
    offline = _offline(unchanged, transactions)
    assert len(offline) == len(unchanged.scored) > 25_000
    monitor = unchanged.store.audit.monitor
    logged = monitor.log.read(model="fraud", version=1)
    assert logged["request_id"].tolist() == offline["TRANSACTION_ID"].astype(str).tolist()
    assert logged["score"].to_numpy() == pytest.approx(offline["predictions"].to_numpy(), **SAME)
    start, end = _ms(DEPLOY) - 1, int(offline["ts_ms"].max())
    reports = monitor.quality("fraud", 1, start_ms=start, end_ms=end, window_ms=7 * DAY_MS)
    assert len(reports) == 8
    for report in reports:
        w = report.window
        week = offline[(offline["ts_ms"] > w.start_ms) & (offline["ts_ms"] <= w.end_ms)]
        y, s = week["TX_FRAUD"].to_numpy(), week["predictions"].to_numpy()
        assert report.labelled == report.predictions == len(week) > 0
        assert report.positives == int(y.sum())
        assert report.auc_roc == pytest.approx(roc_auc_score(y, s), **SAME)
        assert report.average_precision == pytest.approx(average_precision_score(y, s), **SAME)
        assert report.brier == pytest.approx(brier_score_loss(y, s), **SAME)
        mean_cp, daily = card_precision_at_k(week, k=100)
        assert report.card_precision.mean == pytest.approx(mean_cp, **SAME)
        assert list(report.card_precision.daily) == pytest.approx(daily, **SAME)
        rate, mean = calibration_curve(y, s, n_bins=10, strategy="uniform")
        used = np.asarray(report.calibration.counts) > 0
        assert np.asarray(report.calibration.positive_rate)[used] == pytest.approx(rate, **SAME)
        assert np.asarray(report.calibration.mean_score)[used] == pytest.approx(mean, **SAME)
        quantiles = dict(report.scores.quantiles)
        assert quantiles[0.5] == pytest.approx(np.quantile(s, 0.5), **SAME)


def test_quality_as_of_a_time_uses_only_the_labels_known_then(
    unchanged: Run, transactions: pd.DataFrame
) -> None:
    offline = _offline(unchanged, transactions)
    monitor = unchanged.store.audit.monitor
    at = _ms(pd.Timestamp("2018-09-20", tz="UTC"))
    (report,) = monitor.quality("fraud", 1, start_ms=at - 14 * DAY_MS, end_ms=at, as_of_ms=at)
    window = offline[(offline["ts_ms"] > at - 14 * DAY_MS) & (offline["ts_ms"] <= at)]
    known = window[window["ts_ms"] + 7 * DAY_MS <= at]  # a label is known 7 days later
    assert 0 < report.labelled == len(known) < report.predictions == len(window)
    expected = roc_auc_score(known["TX_FRAUD"], known["predictions"])
    assert report.auc_roc == pytest.approx(expected, **SAME)


def test_an_unchanged_stream_raises_no_alert(unchanged: Run) -> None:
    assert len(unchanged.evaluations) > 110  # every 12 hours over 61 days
    assert unchanged.alerts == []
    monitor = unchanged.store.audit.monitor
    last_scored = int(monitor.log.read()["ts"].max().value // 1_000_000)
    watched = [at for at in unchanged.evaluations if at <= last_scored]
    for at in watched[:: len(watched) // 5]:
        psi = [
            s.value
            for s in monitor.window_stats(at)
            if s.metric is Metric.PSI and s.column == "TX_AMOUNT"
        ]
        assert len(psi) == 1  # watched...
        assert 0 <= psi[0] < 0.1  # ...and quiet


def test_amounts_scaled_by_100_raise_a_drift_alert_within_a_day(
    transactions: pd.DataFrame, tmp_path: Path, unchanged: Run
) -> None:
    broken = transactions.copy()
    late = broken["TX_DATETIME"] >= BREAK
    broken.loc[late, "TX_AMOUNT"] = broken.loc[late, "TX_AMOUNT"] * 100
    store = _audited_store(tmp_path)
    try:
        before, after = _split(broken)
        history = broken.iloc[np.sort(before[before >= 0])]
        store.backfill("transactions", history[list(TRANSACTION_FIELDS)])
        labels = [e.row for e in events(broken, before[before < 0])]
        store.backfill("fraud_labels", pd.DataFrame(labels))
        store.models.register(
            "fraud", unchanged.model, features=fraud_detection,
            training_set=training_frame(store, broken), aliases=("champion",),
        )  # fmt: skip
        run = Run(store=store, model=unchanged.model)
        _stream(run, broken, after, _ms(BREAK + timedelta(days=2)), 6 * HOUR_MS)
    finally:
        store.close()
    fired = [a for a in run.alerts if a.kind == "fired"]
    assert fired, "no drift alert"
    assert {a.column for a in fired} == {"TX_AMOUNT"}
    first = min(a.ts_ms for a in fired)
    assert _ms(BREAK) < first <= _ms(BREAK) + DAY_MS
