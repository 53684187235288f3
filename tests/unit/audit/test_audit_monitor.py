"""The monitor facade end to end: predictions drift, labels arrive late, alerts fire and clear."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from prometheus_client import CollectorRegistry
from sklearn.metrics import roc_auc_score

from upwell.audit import (
    AlertKind,
    AlertLog,
    AlertRule,
    AuditError,
    Direction,
    Label,
    MemoryLabelStore,
    MemoryPredictionLog,
    Metric,
    Monitor,
    MonitorConfig,
    PredictionRecord,
    PrometheusAlertSink,
    ReferenceProfile,
    open_monitor,
    psi,
)
from upwell.audit.drift import bin_shares

DAY = 86_400_000
D0 = 20_000 * DAY  # a UTC midnight
LABEL_DELAY = 2 * DAY
RULES = [
    AlertRule(name="amount-psi", metric=Metric.PSI, column="amount", fire_at=0.25, clear_at=0.1),
    AlertRule(
        name="auc-low", metric=Metric.AUC_ROC, direction=Direction.BELOW, fire_at=0.5, clear_at=0.6
    ),
]


def score_of(amount: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-(amount - 60) / 5))


def training() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    amount = rng.normal(50, 10, 5_000)
    return pd.DataFrame(
        {"amount": amount, "count": rng.poisson(3, 5_000).astype(float), "score": score_of(amount)}
    )


def live(day: int, shift: float, rng: np.random.Generator) -> list[PredictionRecord]:
    n = 400
    amount = rng.normal(50 + shift, 10, n)
    scores = score_of(amount)
    ts = np.sort(rng.integers(D0 + day * DAY + 1, D0 + (day + 1) * DAY + 1, n))
    return [
        PredictionRecord(
            request_id=f"d{day}-{i}",
            model="fraud",
            version=1,
            ts_ms=int(ts[i]),
            score=float(scores[i]),
            entity={"tx": day * 1_000 + i, "customer": int(rng.integers(0, 50))},
            features={"amount": float(amount[i]), "count": float(rng.poisson(3))},
            latency_us=float(rng.gamma(2, 40)),
        )
        for i in range(n)
    ]


def labels_for(records: list[PredictionRecord], rng: np.random.Generator) -> list[Label]:
    return [
        Label(
            key=str(r.entity["tx"]),
            label=float(rng.random() < r.score),
            ts_ms=r.ts_ms + LABEL_DELAY,
        )
        for r in records
    ]


@dataclass
class Setup:
    monitor: Monitor
    registry: CollectorRegistry
    alert_log: AlertLog


@pytest.fixture
def setup(tmp_path: Path) -> Setup:
    registry = CollectorRegistry()
    prometheus = PrometheusAlertSink(registry)
    monitor = Monitor(
        MemoryPredictionLog(),
        MemoryLabelStore(),
        config=MonitorConfig(
            drift_window_ms=DAY,
            quality_window_ms=DAY,
            label_delay_ms=LABEL_DELAY,
            label_key="tx",
            card_key="customer",
            k=10,
        ),
        rules=RULES,
        sinks=[AlertLog(tmp_path), prometheus],
        observers=[prometheus],
    )
    rng = np.random.default_rng(1)
    records = [r for day, shift in enumerate([0, 20, 0]) for r in live(day, shift, rng)]
    for r in records:
        assert monitor.record(r)
    assert monitor.add_labels(labels_for(records, rng)) == len(records)
    monitor.set_reference("fraud", 1, training())
    return Setup(monitor, registry, AlertLog(tmp_path))


@pytest.fixture
def monitor(setup: Setup) -> Monitor:
    return setup.monitor


def test_quality_per_day_equals_sklearn(monitor: Monitor) -> None:
    reports = monitor.quality("fraud", 1, start_ms=D0, end_ms=D0 + 3 * DAY, window_ms=DAY)
    frame = monitor.labelled("fraud", 1)
    assert len(reports) == 3
    for day, report in enumerate(reports):
        ts = frame["ts"].dt.as_unit("ms").astype("int64")
        inside = frame[(ts > D0 + day * DAY) & (ts <= D0 + (day + 1) * DAY)]
        assert report.labelled == len(inside) == 400
        assert report.auc_roc == pytest.approx(roc_auc_score(inside["label"], inside["score"]))
        assert report.card_precision is not None
    # labels known by the end of day 3 cover the predictions of day 0 only (2-day delay)
    early = monitor.quality("fraud", 1, start_ms=D0, end_ms=D0 + 3 * DAY, as_of_ms=D0 + 3 * DAY)
    frame = monitor.labelled("fraud", 1)
    known = (frame["ts"].dt.as_unit("ms").astype("int64") + LABEL_DELAY <= D0 + 3 * DAY).sum()
    assert early[0].labelled == known


def test_drift_per_day_equals_direct_computation(monitor: Monitor) -> None:
    reports = monitor.drift("fraud", 1, start_ms=D0, end_ms=D0 + 3 * DAY, window_ms=DAY)
    assert [(r.window.end_ms - D0) // DAY for r in reports if r.column == "amount"] == [1, 2, 3]
    reference = ReferenceProfile.from_frame(training())
    frame = monitor.log.read(model="fraud", version=1)
    ts = frame["ts"].dt.as_unit("ms").astype("int64").to_numpy()
    amounts = np.array([f["amount"] for f in frame["features"]])
    ref = reference.columns["amount"]
    for report in (r for r in reports if r.column == "amount"):
        inside = (ts > report.window.start_ms) & (ts <= report.window.end_ms)
        expected = psi(ref.shares, bin_shares(ref.edges, amounts[inside]))
        assert report.psi == pytest.approx(expected)
    psis = [r.psi for r in reports if r.column == "amount"]
    assert psis[1] > 1.0  # type: ignore[operator]
    assert max(psis[0], psis[2]) < 0.1  # type: ignore[type-var]
    assert {r.column for r in reports} == {"amount", "count", "score"}
    with pytest.raises(AuditError, match="no training reference"):
        monitor.drift("fraud", 9, start_ms=D0, end_ms=D0 + DAY)


def test_alerts_fire_and_clear_through_every_sink(setup: Setup) -> None:
    monitor = setup.monitor
    seen = []
    for day in (1, 2, 3):
        events = monitor.evaluate_alerts(D0 + day * DAY)
        seen += [(e.rule, e.kind, (e.ts_ms - D0) // DAY) for e in events]
    assert seen == [("amount-psi", AlertKind.FIRED, 2), ("amount-psi", AlertKind.CLEARED, 3)]
    assert monitor.firing() == []
    logged = setup.alert_log.read()
    assert logged["kind"].tolist() == ["fired", "cleared"]
    registry = setup.registry
    labels = {"rule": "amount-psi", "model": "fraud", "version": "1", "column": "amount"}
    assert registry.get_sample_value("upwell_audit_alert_firing", labels) == 0.0
    stat = {"metric": "predictions", "model": "fraud", "version": "1", "column": ""}
    assert registry.get_sample_value("upwell_audit_stat", stat) == 400.0
    # at day 3 the quality window (day 0, labels 2 days late) has every label: AUC is there
    auc = {"metric": "auc_roc", "model": "fraud", "version": "1", "column": ""}
    assert registry.get_sample_value("upwell_audit_stat", auc) > 0.6
    assert monitor.stats().written == 1_200


def test_reports_are_strict_json(monitor: Monitor) -> None:
    quality = monitor.quality("fraud", 1, start_ms=D0, end_ms=D0 + DAY)[0].as_dict()
    drift = monitor.drift("fraud", 1, start_ms=D0, end_ms=D0 + DAY)[0].as_dict()
    text = json.dumps({"quality": quality, "drift": drift}, allow_nan=False)
    assert json.loads(text)["quality"]["labelled"] == 400
    assert quality["window"] == {"start_ms": D0, "end_ms": D0 + DAY}


def test_open_monitor_on_an_audit_folder(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    records = live(0, 20, rng)
    writer = open_monitor(tmp_path, rules=RULES, config=MonitorConfig(label_key="tx"))
    try:
        writer.set_reference("fraud", 1, training())
        for r in records:
            writer.record(r)
        assert writer.log.flush(10)
        writer.add_labels(labels_for(records, rng))
        events = writer.evaluate_alerts(D0 + DAY)
        assert [(e.rule, e.kind) for e in events] == [("amount-psi", AlertKind.FIRED)]
        reader = open_monitor(tmp_path, read_only=True, config=MonitorConfig(label_key="tx"))
        try:  # a second process (CLI, dashboard) reads beside the writer
            frame = reader.labelled("fraud", 1)
            assert frame["request_id"].tolist() == [r.request_id for r in records]
            assert frame["label"].notna().all()
        finally:
            reader.close()
    finally:
        writer.close()
    assert AlertLog(tmp_path).read()["rule"].tolist() == ["amount-psi"]
    assert (tmp_path / "predictions").is_dir()
    assert (tmp_path / "labels").is_dir()
