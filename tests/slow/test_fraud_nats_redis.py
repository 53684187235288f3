"""The fraud example's stream through NATS JetStream and ``upwell worker`` into Redis.

Transactions and their fraud labels (7 days later) are published to two JetStream
streams; one ``upwell worker`` process per stream applies them to the Redis online store.
Oracle: an embedded FeatureStore fed the same events. After the streams drain, the 15
fraud features of every customer and terminal read from Redis equal the embedded ones.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

import fraud_serving
import upwell as uw
from contract.redis_support import REDIS_URL, delete_prefix, require_redis
from integration.brokers import Broker, fresh_stream, servers_for, unique
from upwell.config import OnlineConfig
from upwell.examples.fraud.features import LABEL_DELAY
from upwell.examples.fraud.stream import TRANSACTION_FIELDS
from upwell.testing import ManualClock

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.nats]


def _worker(
    project: Path, url: str, source: str, prefix: str, log: Path
) -> subprocess.Popen[bytes]:
    command = [
        sys.executable, "-m", "upwell.cli", "worker", "--source", url, "--event-source", source,
        "--store", REDIS_URL, "--store-prefix", prefix, "--log", str(log),
        "--name", f"{source}-worker", "--stop-when-idle", "3", "--project", str(project),
    ]  # fmt: skip
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def test_the_fraud_stream_through_nats_into_redis_gives_the_embedded_features(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    require_redis()
    servers = servers_for(Broker.NATS, request)
    frame = fraud_serving.transactions()
    transactions = frame[list(TRANSACTION_FIELDS)].to_dict("records")
    labels = (
        frame[["TRANSACTION_ID", "CUSTOMER_ID", "TERMINAL_ID", "TX_FRAUD"]]
        .assign(LABEL_TIME=frame["TX_DATETIME"] + LABEL_DELAY)
        .to_dict("records")
    )
    project = fraud_serving.write_project(tmp_path / "project")
    prefix = unique("upwell-test-")
    try:
        with (
            fresh_stream(Broker.NATS, servers, "TRANSACTION_ID", ack_wait_s=5) as tx,
            fresh_stream(Broker.NATS, servers, "TRANSACTION_ID", ack_wait_s=5) as lb,
        ):
            tx.publisher.publish(transactions)
            lb.publisher.publish(labels)
            workers = [
                _worker(project, tx.url, "transactions", prefix, tmp_path / "log"),
                _worker(project, lb.url, "fraud_labels", prefix, tmp_path / "log"),
            ]
            for worker in workers:
                output, _ = worker.communicate(timeout=300)
                assert worker.returncode == 0, output.decode()[-2000:]
        end = frame["TX_DATETIME"].max() + LABEL_DELAY + timedelta(minutes=1)
        clock = ManualClock(end.to_pydatetime())
        with uw.FeatureStore(fraud_serving.definitions(), clock=clock) as embedded:
            fraud_serving.load(embedded, frame)
            rows = fraud_serving.entity_rows(frame.drop_duplicates(["CUSTOMER_ID", "TERMINAL_ID"]))
            expected = embedded.get_features("fraud_detection", rows)
        counts = [r["CUSTOMER_ID_NB_TX_30DAY_WINDOW"] for r in expected]
        risks = [r["TERMINAL_ID_NB_TX_30DAY_WINDOW"] for r in expected]
        assert sum(counts) > len(rows)  # windows hold events: the comparison is not vacuous
        assert sum(risks) > len(rows)
        online = OnlineConfig(url=REDIS_URL, prefix=prefix)
        with uw.FeatureStore(fraud_serving.definitions(), clock=clock, online=online) as shared:
            assert shared.get_features("fraud_detection", rows) == expected
    finally:
        delete_prefix(prefix)
