"""The fraud example with its online state in Redis gives what it gives embedded.

The same small simulation (the handbook's 183 days, fewer customers) runs twice through
``run_demo``: embedded, and with ``online=`` the real Redis on this machine. Oracle: the
embedded run. Every feature of every transaction, every metric of every model, and the
online == offline checks must be identical.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pandas as pd
import pytest

from contract.redis_support import REDIS_URL, delete_prefix, require_redis
from upwell.config import OnlineConfig
from upwell.examples.fraud import SimulationConfig, simulate
from upwell.examples.fraud.demo import run_demo

pytestmark = [pytest.mark.slow, pytest.mark.redis]

SMALLEST = SimulationConfig(n_customers=60, n_terminals=120)


def test_redis_online_state_gives_the_embedded_features_and_metrics(tmp_path: Path) -> None:
    require_redis()
    transactions = simulate(SMALLEST)
    embedded = run_demo(tmp_path / "embedded", transactions=transactions)
    prefix = f"upwell-test-{uuid.uuid4().hex[:12]}"
    try:
        on_redis = run_demo(
            tmp_path / "redis",
            transactions=transactions,
            online=OnlineConfig(url=REDIS_URL, prefix=prefix),
        )
    finally:
        delete_prefix(prefix)
    for name in ("features.parquet",):
        pd.testing.assert_frame_equal(
            pd.read_parquet(tmp_path / "redis" / name),
            pd.read_parquet(tmp_path / "embedded" / name),
        )
    assert on_redis["models"] == embedded["models"]
    assert on_redis["online_equals_offline"] is True
    assert embedded["online_equals_offline"] is True
    assert on_redis["registered"] == embedded["registered"]
    report = json.loads((tmp_path / "redis" / "report.json").read_text())
    assert report["events"] == embedded["events"] == 2 * len(transactions)
