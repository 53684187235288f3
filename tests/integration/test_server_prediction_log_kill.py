"""``upwell serve`` killed with SIGKILL under scoring load: what its prediction log keeps.

Four clients score batches with unique request ids while another scrapes ``/metrics``;
then the server is SIGKILLed and started again. Oracles: the clients' own record of the
requests the server answered, and the counters it published before it died. The
documented bound (docs/audit.md): everything counted as written survives; what is lost
is at most what was buffered, never more than the buffer's capacity; nothing is logged
twice or invented; the restarted server reports what it recovered from the write-ahead
file in ``upwell_prediction_log_recovered``.
"""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import httpx
import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families

import fraud_serving
import upwell as uw
from live_server import serve_process
from upwell.audit import open_monitor

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::UserWarning")]

AS_OF = fraud_serving.END.isoformat()
BATCH = 20
CAPACITY = 10_000  # the default buffer: the documented most a crash can lose


def _rows(frame: pd.DataFrame) -> list[dict[str, object]]:
    rows = frame[["CUSTOMER_ID", "TERMINAL_ID", "TX_AMOUNT", "TX_DATETIME"]].copy()
    rows["TX_DATETIME"] = rows["TX_DATETIME"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    return rows.to_dict("records")


def _metrics(url: str) -> dict[str, float]:
    text = httpx.get(f"{url}/metrics", timeout=5).text
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        if family.name.startswith("upwell_prediction_log")
        for sample in family.samples
        if not sample.name.endswith("_created")
    }


def _client(
    url: str,
    rows: list[dict[str, object]],
    name: str,
    stop: threading.Event,
    sent: list[str],
    acked: list[str],
) -> None:
    with httpx.Client(base_url=url, timeout=10) as client:
        n = 0
        while not stop.is_set():
            ids = [f"{name}-{n}-{i}" for i in range(BATCH)]
            sent.extend(ids)
            n += 1
            body = {"model": "fraud", "entities": rows[:BATCH], "request_ids": ids, "as_of": AS_OF}
            try:
                response = client.post("/v1/score", json=body)
            except httpx.HTTPError:
                return  # the server is gone
            if response.status_code == 200:
                acked.extend(ids)


def _scrape(url: str, stop: threading.Event, seen: list[dict[str, float]]) -> None:
    while not stop.is_set():
        try:
            seen.append(_metrics(url))
        except httpx.HTTPError:
            return
        time.sleep(0.05)


def test_sigkill_loses_at_most_the_buffer_and_the_restart_says_what_it_recovered(
    tmp_path: Path,
) -> None:
    project = fraud_serving.write_project(tmp_path / "project")
    with uw.FeatureStore(fraud_serving.definitions(), path=project / "data") as store:
        world = fraud_serving.build_world(store)
        store.models.register("fraud", world.v1, features="fraud_detection", aliases=("champion",))
    rows = _rows(fraud_serving.recent(world.transactions))
    acked: dict[str, list[str]] = {f"c{i}": [] for i in range(4)}
    sent: dict[str, list[str]] = {name: [] for name in acked}
    scrapes: list[dict[str, float]] = []
    stop = threading.Event()
    with serve_process(project) as (url, process):
        threads = [
            threading.Thread(target=_client, args=(url, rows, name, stop, sent[name], ids))
            for name, ids in acked.items()
        ]
        threads.append(threading.Thread(target=_scrape, args=(url, stop, scrapes)))
        for t in threads:
            t.start()
        _wait_for(lambda: scrapes and scrapes[-1]["upwell_prediction_log_written_total"] > 2000)
        process.send_signal(signal.SIGKILL)
        assert process.wait(timeout=30) == -signal.SIGKILL
        stop.set()
        for t in threads:
            t.join()
    answered = [i for ids in acked.values() for i in ids]
    last = scrapes[-1]
    assert last["upwell_prediction_log_capacity"] == CAPACITY
    assert max(s["upwell_prediction_log_buffered"] for s in scrapes) <= CAPACITY
    assert last["upwell_prediction_log_dropped_total"] == 0
    assert (
        last["upwell_prediction_log_accepted_total"] >= last["upwell_prediction_log_written_total"]
    )

    with serve_process(project) as (url, _):
        after = _metrics(url)
        logged = _logged(project)
        restarted = httpx.post(
            f"{url}/v1/score",
            json={
                "model": "fraud",
                "entities": rows[:3],
                "request_ids": ["a", "b", "c"],
                "as_of": AS_OF,
            },
        )
        assert restarted.status_code == 200, restarted.text
    assert len(set(logged)) == len(logged)  # nothing twice
    assert set(logged) <= {i for ids in sent.values() for i in ids}  # nothing invented
    assert len(logged) >= last["upwell_prediction_log_written_total"]  # written survives
    lost = set(answered) - set(logged)
    assert len(lost) <= CAPACITY  # at most the buffer
    assert after["upwell_prediction_log_recovered"] == len(logged)  # all came from wal.log
    assert after["upwell_prediction_log_accepted_total"] == 0  # a fresh process
    final = _logged(project)
    assert final == [*logged, "a", "b", "c"]


def _logged(project: Path) -> list[str]:
    """Request ids in the log, read beside the running server (read-only)."""
    monitor = open_monitor(project / "data" / "audit", read_only=True)
    try:
        ids: list[str] = monitor.log.read()["request_id"].tolist()
    finally:
        monitor.close()
    return ids


def _wait_for(check, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    pytest.fail("the server never wrote enough predictions")
