"""The dashboard's JSON with the audit in PostgreSQL (``[audit] postgres = ...``).

The server runs on a database of its own, created for the test and dropped after. It
scores the last day's transactions of the small fraud world (request id = transaction
id); the labels, already in the event log, are caught up into PostgreSQL when the audit
opens. Oracles: the HTTP answers (ids, versions, scores) and scikit-learn's AUC ROC on
those scores and the simulation's labels. Skips when no server listens on
127.0.0.1:5432, and fails instead when ``CI=true``.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import psycopg
import pytest
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner

import fraud_serving
import upwell as uw
from live_server import thread_server
from upwell.cli.app import app
from upwell.server.app import create_app
from upwell.server.audit_settings import AuditSettings
from upwell.serving.audit_sink import LabelFeed

pytestmark = [pytest.mark.postgres, pytest.mark.filterwarnings("ignore::UserWarning")]

SERVER = "host=127.0.0.1 port=5432 user=postgres"


@pytest.fixture
def database() -> Iterator[str]:
    try:
        admin = psycopg.connect(f"{SERVER} dbname=test", autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as error:
        reason = f"PostgreSQL is not reachable at 127.0.0.1:5432 ({error})"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    name = f"upwell_audit_{uuid.uuid4().hex[:12]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{SERVER} dbname={name}"
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def test_the_audit_in_postgresql_serves_the_dashboard(database: str, tmp_path: Path) -> None:
    table = f'[audit]\npostgres = "{database}"\n'
    project = fraud_serving.write_project(tmp_path / "project", table)
    store = uw.FeatureStore(
        fraud_serving.definitions(), path=project / "data", clock=fraud_serving.clock()
    )
    world = fraud_serving.build_world(store)
    store.models.register(
        "fraud", world.v1, features="fraud_detection", training_set=world.training,
        aliases=("champion",),
    )  # fmt: skip
    settings = AuditSettings(
        postgres=database,
        labels=LabelFeed(source="fraud_labels", key="TRANSACTION_ID", field="TX_FRAUD"),
    )
    recent = fraud_serving.recent(world.transactions)
    rows = recent[["CUSTOMER_ID", "TERMINAL_ID", "TX_AMOUNT", "TX_DATETIME"]].copy()
    rows["TX_DATETIME"] = rows["TX_DATETIME"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    ids = recent["TRANSACTION_ID"].astype(str).tolist()
    with thread_server(create_app(store, audit=settings)) as url:
        body = {"model": "fraud", "entities": rows.to_dict("records"), "request_ids": ids}
        body["as_of"] = fraud_serving.END.isoformat()
        answered = httpx.post(f"{url}/v1/score", json=body, timeout=30).json()["predictions"]
        deadline = time.monotonic() + 30
        while httpx.get(f"{url}/v1/audit/summary").json()["stats"]["written"] < len(ids):
            assert time.monotonic() < deadline, "the log never wrote the predictions"
            time.sleep(0.1)
        logged = httpx.get(f"{url}/v1/audit/predictions", params={"limit": 1000}).json()
        quality = httpx.get(f"{url}/v1/audit/quality", params={"window": "1d"}).json()
        drift = httpx.get(f"{url}/v1/audit/drift", params={"window": "1d"}).json()
    scores = {p["request_id"]: p["score"] for p in answered}
    assert {p["request_id"]: p["score"] for p in logged["predictions"]} == scores
    (overall,) = quality["overall"]
    assert overall["labelled"] == overall["predictions"] == len(ids)
    labels = dict(zip(ids, recent["TX_FRAUD"], strict=True))
    expected = roc_auc_score([labels[i] for i in ids], [scores[i] for i in ids])
    assert overall["auc_roc"] == pytest.approx(expected, rel=1e-12)
    columns = {r["column"] for r in drift["reports"] if r["n"]}
    assert "TX_AMOUNT" in columns
    assert "score" in columns
    cli = CliRunner().invoke(app, ["audit", "predictions", "-p", str(project), "--json"])
    assert cli.exit_code == 0, cli.output
    newest = orjson.loads(cli.stdout)
    assert {p["request_id"]: p["score"] for p in newest} == {
        i: scores[i] for i in [p["request_id"] for p in logged["predictions"][:20]]
    }
