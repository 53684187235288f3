"""``upwell serve`` as a real process: promote and roll back under steady load.

Client threads score without pause while a new version is promoted over HTTP and then
rolled back with one CLI command. Oracles: every response's status (no failure is
allowed), and the promotion timeline: a response sent before the promotion was asked
for names the old version, one sent after the promotion was acknowledged names the new
one, and likewise around the rollback (allowing the server's registry refresh interval
for a change made by another process). Scores are checked against scikit-learn's own
``predict_proba`` for the version each response names.
"""

from __future__ import annotations

import hashlib
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pandas as pd
import pytest

import fraud_serving
import upwell as uw
from live_server import serve_process
from upwell.examples.fraud.features import HANDBOOK_FEATURES
from upwell.models.formats import save_model

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::UserWarning")]

KEY = "lifecycle-admin-key-0123"
SERVER_TABLE = f"""[server]
refresh_interval_s = 0.2
graceful_timeout_s = 20

[[server.api_keys]]
name = "admin"
scopes = ["features:read", "events:write", "models:manage"]
key_sha256 = "{hashlib.sha256(KEY.encode()).hexdigest()}"
"""
HEADERS = {"Authorization": f"Bearer {KEY}"}
DRAINED = "requests drained; store checkpointed and closed"
AS_OF = fraud_serving.END.isoformat()  # the server's clock is the wall clock


@dataclass(frozen=True)
class Call:
    sent: float
    received: float
    status: int
    version: int | None
    score: float | None
    features: dict[str, float] | None


def _rows(frame: pd.DataFrame) -> list[dict[str, object]]:
    rows = frame[["CUSTOMER_ID", "TERMINAL_ID", "TX_AMOUNT", "TX_DATETIME"]].copy()
    rows["TX_DATETIME"] = rows["TX_DATETIME"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    return rows.to_dict("records")


def _client_loop(
    url: str, rows: list[dict[str, object]], stop: threading.Event, calls: list[Call], seed: int
) -> None:
    with httpx.Client(base_url=url, headers=HEADERS, timeout=30) as client:
        i = seed
        while not stop.is_set():
            row = rows[i % len(rows)]
            i += 7
            sent = time.monotonic()
            try:
                response = client.post(
                    "/v1/score", json={"model": "fraud", "entities": [row], "as_of": AS_OF}
                )
                status = response.status_code
                p = response.json()["predictions"][0] if status == 200 else None
            except httpx.HTTPError:
                status, p = -1, None
            calls.append(
                Call(sent, time.monotonic(), status,
                     p and p["version"], p and p["score"], p and p["features"])
            )  # fmt: skip


def test_promote_and_rollback_under_load_fail_nothing(tmp_path: Path) -> None:
    project = fraud_serving.write_project(tmp_path / "project", SERVER_TABLE)
    with uw.FeatureStore(fraud_serving.definitions(), path=project / "data") as store:
        world = fraud_serving.build_world(store)
        store.models.register("fraud", world.v1, features="fraud_detection", aliases=("champion",))
    _, v2_file = save_model(world.v2, tmp_path)
    rows = _rows(fraud_serving.recent(world.transactions))
    calls: list[Call] = []
    stop = threading.Event()
    with serve_process(project) as (url, process):
        threads = [
            threading.Thread(target=_client_loop, args=(url, rows, stop, calls, s))
            for s in range(4)
        ]
        for t in threads:
            t.start()
        time.sleep(1.5)
        registered = httpx.post(
            f"{url}/v1/models/fraud/versions",
            json={"path": str(v2_file), "features": "fraud_detection"},
            headers=HEADERS,
            timeout=60,
        )
        assert registered.status_code == 201, registered.text
        time.sleep(1.0)
        promote_asked = time.monotonic()
        promoted = httpx.post(
            f"{url}/v1/models/fraud/promote", json={"version": 2}, headers=HEADERS
        )
        promote_done = time.monotonic()
        assert promoted.status_code == 200, promoted.text
        time.sleep(1.5)
        rollback_asked = time.monotonic()
        rolled = subprocess.run(
            [sys.executable, "-m", "upwell.cli", "models", "rollback", "fraud", "-p", str(project)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        rollback_done = time.monotonic()
        assert rolled.returncode == 0, rolled.stderr
        time.sleep(1.5)
        stop.set()
        for t in threads:
            t.join()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) in (0, -signal.SIGTERM)  # uvicorn re-raises it
    assert DRAINED in (project / "server.log").read_text()
    failures = [c for c in calls if c.status != 200]
    assert not failures, f"{len(failures)} of {len(calls)} requests failed: {failures[:3]}"
    assert len(calls) > 200
    refresh_s = 0.2 + 0.3  # the server's poll interval, plus slack for one poll's work
    for c in calls:
        if c.received < promote_asked:
            assert c.version == 1
        elif promote_done < c.sent and c.received < rollback_asked:
            assert c.version == 2
        elif c.sent > rollback_done + refresh_s:
            assert c.version == 1
    versions = {c.version for c in calls}
    assert versions == {1, 2}
    models = {1: world.v1, 2: world.v2}
    for c in calls[:: max(1, len(calls) // 100)]:
        x = pd.DataFrame(
            [[c.features[f] for f in HANDBOOK_FEATURES]], columns=list(HANDBOOK_FEATURES)
        )
        assert c.score == pytest.approx(models[c.version].predict_proba(x)[0, 1], rel=1e-12)


def test_shutdown_drains_requests_in_flight(tmp_path: Path) -> None:
    project = fraud_serving.write_project(tmp_path / "project", SERVER_TABLE)
    with uw.FeatureStore(fraud_serving.definitions(), path=project / "data") as store:
        world = fraud_serving.build_world(store)
        store.models.register("fraud", world.v1, features="fraud_detection", aliases=("champion",))
    rows = (_rows(fraud_serving.recent(world.transactions)) * 100)[:10_000]  # a slow request
    results: list[int] = []
    with serve_process(project) as (url, process):

        def big_request() -> None:
            response = httpx.post(
                f"{url}/v1/score", json={"model": "fraud", "entities": rows, "as_of": AS_OF},
                headers=HEADERS, timeout=60,
            )  # fmt: skip
            results.append(response.status_code)

        thread = threading.Thread(target=big_request)
        thread.start()
        time.sleep(0.2)  # the request is in flight
        process.send_signal(signal.SIGTERM)
        thread.join()
        assert process.wait(timeout=60) in (0, -signal.SIGTERM)
    assert results == [200]
    assert DRAINED in (project / "server.log").read_text()
