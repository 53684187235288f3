"""Many simultaneous decisions for one customer take each allowed action exactly once.

The next-best-action policy allows, for a customer who paid a tax bill an hour ago and
whose card is 96% used (with marketing consent): one tax alert (24h cooldown), one
balance-transfer offer (credit offers exclude each other for 30 days), and then nothing
(the policy caps all actions at 2 per 7 days). So, whatever the interleaving, the
oracle is: exactly one ``tax_alert``, one ``balance_transfer_offer``, no other action,
and every retried request id answered with the same decision.

- Two server replicas, each its own process with its own data directory, share the
  online state, decision state and consent in Redis; four client processes fire 120
  requests (100 distinct request ids, 20 retried on the other replica) at once.
- The embedded default: 120 threads deciding in one process.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

import upwell as uw
from integration.test_decisions_support import REDIS_URL, connect_redis, disconnect
from live_server import free_port, wait_ready
from upwell.config import OnlineConfig
from upwell.decisions.purpose import Purpose
from upwell.decisions.redis_state import RedisDecisionState
from upwell.examples.next_best_action.features import DEFINITIONS
from upwell.examples.next_best_action.policy import POLICY

UNIQUE, RETRIED, PROCESSES = 100, 20, 4
Answer = tuple[str, str | None, int, int, bool]
"""request id, action, state version, decision time, replayed."""


def _events(now: datetime) -> list[dict[str, Any]]:
    return [
        {
            "event_id": "tx-1",
            "customer_id": 42,
            "ts": now - timedelta(hours=1),
            "amount": 120.0,
            "balance": 4_800.0,
            "credit_limit": 5_000.0,
            "category": "tax_payment",
        }
    ]


def _requests() -> list[str]:
    ids = [f"evt-{i}" for i in range(UNIQUE)]
    return ids + ids[:RETRIED]


def _check(answers: list[Answer]) -> None:
    by_id: dict[str, set[tuple[str | None, int, int]]] = {}
    for request_id, action, version, decided_at, _ in answers:
        by_id.setdefault(request_id, set()).add((action, version, decided_at))
    assert len(by_id) == UNIQUE
    assert all(len(found) == 1 for found in by_id.values()), "a retried id got two answers"
    taken = Counter(action for found in by_id.values() for action, _, _ in found)
    assert taken == Counter({"tax_alert": 1, "balance_transfer_offer": 1, None: UNIQUE - 2}), taken


def _post_all(urls: list[str], request_ids: list[str], offset: int, barrier: Any) -> list[Answer]:
    def one(index: int) -> Answer:
        request_id = request_ids[index]
        url = urls[(index + offset) % len(urls)]
        body = {"policy": POLICY.name, "entity": {"customer_id": 42}, "request_id": request_id}
        with httpx.Client(timeout=60) as client:
            barrier.wait(timeout=120)
            response = client.post(f"{url}/v1/decisions", json=body)
        assert response.status_code == 200, response.text
        d = response.json()
        return request_id, d["action"], d["state_version"], d["decided_at_ms"], d["replayed"]

    with ThreadPoolExecutor(max_workers=len(request_ids)) as pool:
        return list(pool.map(one, range(len(request_ids))))


def _client_process(
    urls: list[str], request_ids: list[str], offset: int, barrier: Any, results: Any
) -> None:
    results.put(_post_all(urls, request_ids, offset, barrier))


@contextmanager
def _replica(project: Path, data: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    log = open(data.with_suffix(".log"), "wb")  # noqa: SIM115
    env = {**os.environ, "UPWELL_DATA": str(data)}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "upwell.cli",
            "serve",
            "--project",
            str(project),
            "--port",
            str(port),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    try:
        yield f"http://127.0.0.1:{port}", process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
        log.close()


def _project(root: Path, prefix: str) -> Path:
    root.mkdir()
    (root / "features.py").write_text(
        "from upwell.examples.next_best_action.features import DEFINITIONS\n"
        "from upwell.examples.next_best_action.policy import POLICY\n"
        "definitions = list(DEFINITIONS)\n"
    )
    (root / "upwell.toml").write_text(
        '[project]\nname = "nba"\ndefinitions = "features.py"\ndata = "data"\n\n'
        f'[online]\nurl = "{REDIS_URL}"\nprefix = "{prefix}"\n'
    )
    return root


@pytest.mark.redis
@pytest.mark.slow
def test_two_replicas_sharing_redis_take_each_allowed_action_once(tmp_path: Path) -> None:
    client = connect_redis()
    prefix = f"upwell-test-{uuid.uuid4().hex[:12]}"
    try:
        _run_replicas(tmp_path, prefix, client)
    finally:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1_000))
        if keys:
            client.delete(*keys)
        disconnect(client)


def _run_replicas(tmp_path: Path, prefix: str, client: Any) -> None:
    project = _project(tmp_path / "project", prefix)
    online = OnlineConfig(url=REDIS_URL, prefix=prefix)
    with uw.FeatureStore(DEFINITIONS, path=tmp_path / "seed", online=online) as seed:
        seed.push("card_transactions", _events(datetime.now(UTC)))
        seed.set_consent("customer", 42, Purpose.MARKETING)
    with (
        _replica(project, tmp_path / "replica-1") as (url_1, process_1),
        _replica(project, tmp_path / "replica-2") as (url_2, process_2),
    ):
        wait_ready(url_1, process=process_1)
        wait_ready(url_2, process=process_2)
        ids = _requests()
        batches = [ids[p::PROCESSES] for p in range(PROCESSES)]
        context = multiprocessing.get_context("spawn")
        barrier = context.Barrier(len(ids))
        results = context.Queue()
        workers = [
            context.Process(
                target=_client_process, args=([url_1, url_2], batch, p, barrier, results)
            )
            for p, batch in enumerate(batches)
        ]
        for worker in workers:
            worker.start()
        answers = [a for _ in workers for a in results.get(timeout=240)]
        for worker in workers:
            worker.join(timeout=60)
        assert [w.exitcode for w in workers] == [0] * PROCESSES
    _check(answers)
    assert sum(a[4] for a in answers) >= RETRIED  # the retries were answered as replays
    state = RedisDecisionState(client, namespace=prefix).load(POLICY.name, "customer:42", "-").state
    assert state.version == 2
    assert sorted(t.action for t in state.history) == ["balance_transfer_offer", "tax_alert"]


def test_threads_on_the_embedded_store_take_each_allowed_action_once(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    with uw.FeatureStore(DEFINITIONS, path=tmp_path) as store:
        store.decisions.add(POLICY)
        store.push("card_transactions", _events(now))
        store.set_consent("customer", 42, Purpose.MARKETING)
        ids = _requests()
        barrier = threading.Barrier(len(ids))

        def one(request_id: str) -> Answer:
            barrier.wait(timeout=60)
            d = store.decide(POLICY.name, {"customer_id": 42}, request_id)
            return request_id, d.action, d.state_version, d.decided_at_ms, d.replayed

        with ThreadPoolExecutor(max_workers=len(ids)) as pool:
            answers = list(pool.map(one, ids))
        _check(answers)
        assert len(store.decisions.log.read("customer:42")) == UNIQUE  # retries not logged
    with uw.FeatureStore(DEFINITIONS, path=tmp_path) as reopened:  # the state is durable
        assert reopened.decide(POLICY, {"customer_id": 42}, "evt-0").replayed
        assert reopened.decide(POLICY, {"customer_id": 42}, "evt-new").action is None
