"""The PostgreSQL prediction log and label store, on a real server.

Each test uses its own tables (random names) and drops them afterwards. The tests skip
when no server listens on 127.0.0.1:5432, and fail instead when ``CI=true``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import numpy as np
import psycopg
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from upwell.audit import AuditError, Label, Monitor, MonitorConfig, PredictionRecord
from upwell.audit.postgres_labels import PostgresLabelStore
from upwell.audit.postgres_log import PostgresPredictionLog

pytestmark = pytest.mark.postgres

CONNINFO = "host=127.0.0.1 port=5432 user=postgres dbname=test"
DAY = 86_400_000
T0 = 19_500 * DAY


@pytest.fixture
def tables() -> Iterator[tuple[str, str]]:
    try:
        connection = psycopg.connect(CONNINFO, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as error:
        reason = f"PostgreSQL is not reachable at 127.0.0.1:5432 ({error})"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    suffix = uuid.uuid4().hex[:12]
    names = (f"audit_predictions_{suffix}", f"audit_labels_{suffix}")
    try:
        yield names
    finally:
        with connection:
            for name in names:
                connection.execute(f'DROP TABLE IF EXISTS "{name}"')


def records(n: int) -> list[PredictionRecord]:
    rng = np.random.default_rng(5)
    return [
        PredictionRecord(
            request_id=f"r{i}",
            model="fraud" if i % 3 else "churn",
            version=1 + i % 2,
            ts_ms=T0 + i * 600_000,
            score=float(rng.random()),
            entity={"tx": i, "note": "tab\there, quote ' \" and ü"},
            features={"amount": float(i), "gap": None},
            decision="review" if i % 5 == 0 else None,
            latency_us=float(i),
            explanation={"amount": 0.5},
        )
        for i in range(n)
    ]


def test_round_trip_filters_and_sql(tables: tuple[str, str]) -> None:
    recs = records(120)
    log = PostgresPredictionLog(CONNINFO, table=tables[0], flush_interval_s=0.01)
    try:
        for r in recs:
            assert log.record(r)
        assert log.flush(10)
        stats = log.stats()
        assert (stats.accepted, stats.written, stats.failed, stats.buffered) == (120, 120, 0, 0)
        start, end = T0 + 10 * 600_000, T0 + 50 * 600_000
        frame = log.read(model="fraud", version=2, start_ms=start, end_ms=end)
        expected = [
            r for r in recs if r.model == "fraud" and r.version == 2 and start < r.ts_ms <= end
        ]
        assert frame["request_id"].tolist() == [r.request_id for r in expected]
        first = frame.iloc[0]
        assert first["entity"] == expected[0].entity
        assert first["features"] == {"amount": expected[0].features["amount"], "gap": None}
        assert first["score"] == expected[0].score
        assert first["decision"] == expected[0].decision
        assert first["ts"].value // 1_000_000 == expected[0].ts_ms
        table = log.query(
            "SELECT version, count(*) AS n, sum((features->>'amount')::float) AS amount "
            "FROM predictions GROUP BY version ORDER BY version"
        )
        assert table["n"].to_pylist() == [60, 60]
        assert table["amount"].to_pylist() == [
            sum(float(i) for i in range(120) if i % 2 == v) for v in (0, 1)
        ]
        notes = log.query("SELECT entity FROM predictions LIMIT 1")["entity"].to_pylist()
        assert '"tab\\there' in notes[0]  # JSON columns come back as text
    finally:
        log.close()


def test_a_refused_batch_is_counted_not_hidden(tables: tuple[str, str]) -> None:
    log = PostgresPredictionLog(CONNINFO, table=tables[0], flush_interval_s=0.01, retries=1)
    try:
        with psycopg.connect(CONNINFO, autocommit=True) as connection:
            connection.execute(f'DROP TABLE "{tables[0]}"')
        for r in records(5):
            log.record(r)
        assert log.flush(10)
        stats = log.stats()
        assert (stats.written, stats.failed) == (0, 5)
        assert stats.last_error is not None
        assert "does not exist" in stats.last_error
    finally:
        log.close()


def test_labels_latest_wins(tables: tuple[str, str]) -> None:
    store = PostgresLabelStore(CONNINFO, table=tables[1])
    store.add(
        [
            Label(key="a", label=0.0, ts_ms=100),
            Label(key="b", label=1.0, ts_ms=100),
            Label(key="a", label=1.0, ts_ms=300),
        ]
    )
    store.add([Label(key="b", label=0.0, ts_ms=100)])  # same time, stored later: wins
    frame = store.read()
    got = dict(zip(frame["key"], frame["label"], strict=True))
    assert got == {"a": 1.0, "b": 0.0}
    assert frame["ts"].dt.as_unit("ms").astype("int64").tolist() == [300, 100]
    assert store.read(["b"])["key"].tolist() == ["b"]
    early = store.read(as_of_ms=200)
    assert dict(zip(early["key"], early["label"], strict=True)) == {"a": 0.0, "b": 0.0}
    assert store.query("SELECT count(*) AS n FROM labels")["n"].to_pylist() == [4]
    store.close()


def test_monitor_on_postgres_equals_sklearn(tables: tuple[str, str]) -> None:
    recs = records(300)
    rng = np.random.default_rng(9)
    labels = [
        Label(key=r.request_id, label=float(rng.random() < r.score), ts_ms=r.ts_ms) for r in recs
    ]
    monitor = Monitor(
        PostgresPredictionLog(CONNINFO, table=tables[0], flush_interval_s=0.01),
        PostgresLabelStore(CONNINFO, table=tables[1]),
        config=MonitorConfig(),
    )
    try:
        for r in recs:
            monitor.record(r)
        monitor.add_labels(labels)
        assert monitor.log.flush(10)
        (report,) = monitor.quality("fraud", 1, start_ms=T0 - 1, end_ms=T0 + 300 * 600_000)
        mine = [(lb.label, r.score) for r, lb in zip(recs, labels, strict=True)]
        mine = [m for m, r in zip(mine, recs, strict=True) if r.model == "fraud" and r.version == 1]
        y, s = np.array(mine).T
        assert report.labelled == len(mine)
        assert report.auc_roc == pytest.approx(roc_auc_score(y, s))
        assert report.average_precision == pytest.approx(average_precision_score(y, s))
    finally:
        monitor.close()


def test_an_unreachable_server_is_a_clear_error() -> None:
    with pytest.raises(AuditError, match="cannot connect to PostgreSQL"):
        PostgresPredictionLog("host=127.0.0.1 port=1 user=postgres dbname=test")
    with pytest.raises(AuditError, match="not a table name"):
        PostgresLabelStore(CONNINFO, table="labels; DROP TABLE x")
