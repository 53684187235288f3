"""The scoring audit sink, the label feed, and the ``[audit]`` settings.

Oracles: hand-built predictions and labels, and the counters' arithmetic (every
prediction handed to the sink is either written, dropped by the full buffer, or
counted as invalid).
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from prometheus_client import CollectorRegistry

import upwell as uw
from upwell.audit import (
    Label,
    MemoryLabelStore,
    MemoryPredictionLog,
    Metric,
    Monitor,
    ParquetPredictionLog,
)
from upwell.config import ConfigError
from upwell.definitions.entity import Entity
from upwell.definitions.source import EventSource
from upwell.definitions.types import FieldType
from upwell.examples.fraud.features import DEFINITIONS
from upwell.server.audit_settings import AuditSettings, load_audit_settings
from upwell.server.audit_wiring import build_audit
from upwell.serving.audit_sink import LabelFeed, ScoringAudit
from upwell.serving.live_models import Route
from upwell.serving.scoring import Prediction, ShadowScore

NOW = 1_700_000_000_000
LABELS = EventSource(
    name="labels",
    schema={"TX": FieldType.INT, "AT": FieldType.TIMESTAMP, "FRAUD": FieldType.INT},
    timestamp="AT",
    entities=(Entity(name="tx", keys=("TX",)),),
)


def prediction(i: int, *, score: float = 0.5, as_of_ms: int | None = None, **extra) -> Prediction:
    fields = {
        "request_id": f"r{i}",
        "model": "fraud",
        "version": 1,
        "score": score,
        "route": Route.CHAMPION,
        "features": {"amount": float(i), "night": 1},
        "entity": {"customer": i % 3},
        "timings_us": {"features": 1.0, "model": 2.0, "total": 3.0},
        "as_of_ms": as_of_ms,
    }
    return Prediction(**{**fields, **extra})


def audit(log=None, **kwargs) -> ScoringAudit:
    monitor = Monitor(log or MemoryPredictionLog(), MemoryLabelStore())
    return ScoringAudit(monitor, lambda: NOW, **kwargs)


def test_a_prediction_is_recorded_at_its_as_of_time_with_everything_it_carried() -> None:
    sink = audit()
    shadowed = prediction(
        1, as_of_ms=NOW - 5, contributions={"amount": 0.2, "bias": -1.0},
        shadow=ShadowScore(version=2, score=0.75),
    )  # fmt: skip
    sink.record([shadowed, prediction(2, as_of_ms=NOW - 5)])
    sink.record([prediction(3)])  # read as of "now": the clock's time
    frame = sink.monitor.log.read()
    assert frame["request_id"].tolist() == ["r1", "r2", "r3"]
    assert [int(t.value // 1_000_000) for t in frame["ts"]] == [NOW - 5, NOW - 5, NOW]
    first = frame.iloc[0]
    assert first["features"] == {"amount": 1.0, "night": 1.0}
    assert first["explanation"] == {"amount": 0.2, "bias": -1.0}
    assert first["entity"] == {"customer": 1}
    assert (first["latency_us"], first["shadow_version"], first["shadow_score"]) == (3.0, 2, 0.75)
    assert sink.watermark_ms == NOW


def test_odd_values_are_cleaned_and_an_unrecordable_prediction_is_counted() -> None:
    sink = audit()
    odd = prediction(1, features={"amount": 2.0, "country": "FR"}, entity={"card": ("a", 1)})
    sink.record([odd, prediction(2, score=float("nan"))])
    frame = sink.monitor.log.read()
    assert frame["request_id"].tolist() == ["r1"]
    assert frame.iloc[0]["features"] == {"amount": 2.0, "country": None}
    assert frame.iloc[0]["entity"] == {"card": "('a', 1)"}
    assert sink.invalid == 1


def test_a_full_buffer_refuses_and_counts_and_never_blocks(tmp_path: Path) -> None:
    log = ParquetPredictionLog(tmp_path, capacity=50, flush_interval_s=60.0)
    sink = audit(log)
    sink.record([prediction(i, as_of_ms=NOW) for i in range(2000)])
    stats = log.stats()
    assert stats.accepted + stats.dropped == 2000
    assert stats.dropped > 0  # the writer empties 50 at a time, far slower than this
    assert log.flush(timeout_s=10)
    assert len(log.read()) == log.stats().written == stats.accepted
    log.close()


def test_label_events_become_labels_in_batches_and_on_flush() -> None:
    feed = LabelFeed(source="labels", key="TX", field="FRAUD").resolved(LABELS)
    sink = audit(labels=feed, label_batch=3)
    sink.on_labels([{"TX": 1, "AT": NOW, "FRAUD": 1}, {"TX": 2, "AT": NOW, "FRAUD": 0}])
    assert sink.monitor.labels.read().empty  # waiting for the batch
    sink.on_labels([{"TX": 3, "AT": NOW + 1, "FRAUD": 1}, {"TX": 4, "AT": NOW, "FRAUD": None}])
    stored = sink.monitor.labels.read()
    assert stored["key"].tolist() == ["1", "2", "3"]  # the one without a label is skipped
    assert stored["label"].tolist() == [1.0, 0.0, 1.0]


def test_catch_up_stores_only_what_the_label_store_lacks() -> None:
    feed = LabelFeed(source="labels", key="TX", field="FRAUD").resolved(LABELS)
    sink = audit(labels=feed)
    sink.monitor.add_labels(
        [Label(key="1", label=1.0, ts_ms=NOW), Label(key="2", label=0.0, ts_ms=NOW)]
    )
    logged = pa.table({"TX": [1, 2, 3, 2], "AT": [NOW, NOW, NOW, NOW + 10], "FRAUD": [1, 0, 1, 1]})
    assert sink.catch_up_labels(logged) == 2  # key 3, and key 2's correction
    stored = sink.monitor.labels.read()
    assert dict(zip(stored["key"], stored["label"], strict=True)) == {"1": 1.0, "2": 1.0, "3": 1.0}
    assert sink.catch_up_labels(logged) == 0


def test_a_label_feed_names_fields_of_its_source() -> None:
    with pytest.raises(ValueError, match="FRAUDS"):
        LabelFeed(source="labels", key="TX", field="FRAUDS").resolved(LABELS)


def test_settings_read_every_key(tmp_path: Path) -> None:
    table = {
        "enabled": True, "directory": "audit-here", "capacity": 500, "fsync": "always",
        "label_source": "labels", "label_key": "TX", "label_field": "FRAUD",
        "card_key": "customer", "k": 20, "label_delay": "7d", "drift_window": "12h",
        "quality_window": "3d", "evaluate_interval_s": 5, "webhook_url": "http://h/x",
        "rules": [{"name": "psi", "metric": "psi", "column": "amount", "fire_at": 0.3,
                   "clear_at": 0.1, "min_samples": 50}],
    }  # fmt: skip
    settings = load_audit_settings(table, tmp_path)
    assert settings.directory == tmp_path / "audit-here"
    assert (settings.capacity, settings.fsync.value, settings.evaluate_interval_s) == (
        500, "always", 5.0,
    )  # fmt: skip
    assert settings.labels == LabelFeed(source="labels", key="TX", field="FRAUD")
    m = settings.monitor
    assert (m.card_key, m.k, m.label_delay_ms) == ("customer", 20, 7 * 86_400_000)
    assert (m.drift_window_ms, m.quality_window_ms) == (12 * 3_600_000, 3 * 86_400_000)
    (rule,) = settings.rules
    assert (rule.metric, rule.column, rule.fire_at, rule.min_samples) == (
        Metric.PSI, "amount", 0.3, 50,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("table", "where"),
    [
        ({"capacity": 0}, "capacity"),
        ({"fsync": "sometimes"}, "fsync"),
        ({"label_source": "labels"}, "label settings need all"),
        ({"drift_window": "soon"}, "drift_window"),
        ({"rules": [{"name": "r", "metric": "psy", "fire_at": 1, "clear_at": 0}]}, "psy"),
        ({"rules": [{"name": "r", "metric": "psi", "fire_at": 0.1, "clear_at": 0.5}]}, "clear_at"),
        ({"colour": "blue"}, "unknown keys"),
    ],
    ids=["capacity", "fsync", "labels", "window", "metric", "hysteresis", "unknown"],
)
def test_bad_settings_say_what_and_where(table: dict, where: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=where):
        load_audit_settings(table, tmp_path, "upwell.toml [audit]")


def test_a_label_source_the_definitions_lack_is_refused_before_anything_opens(
    tmp_path: Path,
) -> None:
    store = uw.FeatureStore(DEFINITIONS)
    feed = LabelFeed(source="chargebacks", key="TRANSACTION_ID", field="TX_FRAUD")
    settings = AuditSettings(directory=tmp_path / "audit", labels=feed)
    with pytest.raises(ConfigError, match="label_source 'chargebacks'"):
        build_audit(store, settings, CollectorRegistry())
    assert not (tmp_path / "audit").exists()
    assert store.audit is None
    store.close()
