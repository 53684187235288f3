"""Erasing a customer leaves none of their data in any file of an audited store.

The fraud world (60 customers, 30 days) is loaded into an embedded store with the audit
on (labels fed from the ``fraud_labels`` events); recent transactions are scored, a
triage policy decides on some, consent is recorded, live transactions are pushed (so
some sit in the event log's write-ahead file) and a late one goes to the dead letters.
Then one customer is erased.

Oracle: every file under the store's directory is parsed by this test on its own terms
(Parquet columns, the framed write-ahead files, JSON and JSON lines), and no value of
the customer's key column, no prediction of theirs, no label of their transactions and
no subject key ``customer:<id>`` is left. Other customers' features read before equal
those read after (also after a restart), and the log holds exactly the events it held
before minus the customer's, counted from the simulated data.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest

import fraud_serving
import upwell as uw
from contract.redis_support import RedisNamespace, require_redis
from upwell.config import OnlineConfig
from upwell.decisions.policy import Policy
from upwell.decisions.purpose import Purpose
from upwell.decisions.rules import Thresholds
from upwell.examples.fraud.features import customer
from upwell.examples.next_best_action.features import DEFINITIONS
from upwell.examples.next_best_action.policy import POLICY
from upwell.serving.audit_sink import LabelFeed
from upwell.serving.lineage import UnknownPredictionError
from upwell.testing import ManualClock

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

KEY = "CUSTOMER_ID"
TRIAGE = Policy(
    name="fraud_triage",
    entity=customer,
    thresholds=Thresholds(review_at=0.3, decline_at=0.8, model="fraud"),
    purposes=(Purpose.FRAUD_PREVENTION,),
)


def _frames(path: Path) -> Iterator[bytes]:
    """The payloads of a framed write-ahead file: u32 length, u32 crc32, payload."""
    data = path.read_bytes()
    pos = 0
    while pos + 8 <= len(data):
        length, crc = struct.unpack_from("<II", data, pos)
        payload = data[pos + 8 : pos + 8 + length]
        if len(payload) != length or zlib.crc32(payload) != crc:
            break
        yield payload
        pos += 8 + length


def _walk(value: Any, found: list[str], victim: int, where: str) -> None:
    """Find the customer in parsed JSON: a CUSTOMER_ID field or the subject key."""
    if isinstance(value, dict):
        if value.get(KEY) == victim:
            found.append(f"{where}: {KEY}={victim}")
        if "f" in value and "r" in value and KEY in value["f"]:  # event log batch
            index = value["f"].index(KEY)
            found += [f"{where}: event row" for row in value["r"] if row[index] == victim]
        for item in value.values():
            _walk(item, found, victim, where)
    elif isinstance(value, list):
        for item in value:
            _walk(item, found, victim, where)
    elif value == f"customer:{victim}":
        found.append(f"{where}: subject key")


def _scan_parquet(path: Path, name: str, victim: int, gone_keys: set[str]) -> list[str]:
    found: list[str] = []
    table = pq.read_table(path)
    if KEY in table.column_names:
        found += [f"{name}: {KEY}" for v in table[KEY].to_pylist() if v == victim]
    if "entity" in table.column_names:  # the prediction log: the entity as JSON text
        for text in table["entity"].to_pylist():
            _walk(json.loads(text), found, victim, name)
    if "key" in table.column_names:  # labels: keyed by request or transaction id
        found += [f"{name}: label {k}" for k in table["key"].to_pylist() if k in gone_keys]
    return found


def _scan_file(path: Path, name: str, victim: int) -> list[str]:
    found: list[str] = []
    if path.name == "wal.log":  # event log and prediction log write-ahead files
        for payload in _frames(path):
            _walk(json.loads(payload), found, victim, name)
    elif path.name == "snapshot.json" and path.parent.name == "state":  # online state
        state = json.loads(path.read_bytes())["state"]
        found += [f"{name}: state" for k, _ in state["views"]["customer_spending"] if k == [victim]]
    elif path.suffix == ".json":
        _walk(json.loads(path.read_bytes()), found, victim, name)
    elif path.suffix == ".jsonl":
        for line in path.read_bytes().splitlines():
            if line.strip():
                _walk(json.loads(line), found, victim, name)
    else:
        assert path.suffix in _OPAQUE or path.name.endswith("lock"), f"unknown file {name}"
    return found


_OPAQUE = (".lock", ".salt", ".skops", ".joblib", ".pkl", ".onnx", ".txt", "")
"""Files holding no entity data: locks, the erasure salt, model files."""


def _scan(root: Path, victim: int, gone_keys: set[str]) -> tuple[list[str], list[str]]:
    """Look for the customer in every file; returns what was found and what was read."""
    found: list[str] = []
    read: list[str] = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        name = str(path.relative_to(root))
        read.append(name)
        if path.suffix == ".parquet":
            found += _scan_parquet(path, name, victim, gone_keys)
        else:
            found += _scan_file(path, name, victim)
    return found, read


def _open(path: Path) -> uw.FeatureStore:
    return uw.FeatureStore(fraud_serving.definitions(), path=path, clock=fraud_serving.clock())


def _features(store: uw.FeatureStore, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return list(store.get_features(fraud_serving.SERVICE, rows))


def test_erase_leaves_no_trace_and_keeps_others(tmp_path: Path) -> None:
    path = tmp_path / "store"
    store = _open(path)
    try:
        victim, others, before, gone = _erase_and_scan(store, path)
    finally:
        store.close()
    found, _ = _scan(path, victim, gone)  # what closing wrote (snapshots, journals)
    assert found == [], found
    reopened = _open(path)
    try:
        assert _features(reopened, others) == before
        assert victim not in set(reopened.events("transactions")[KEY].to_pylist())
    finally:
        reopened.close()


def _erase_and_scan(
    store: uw.FeatureStore, path: Path
) -> tuple[int, list[dict[str, Any]], list[dict[str, Any]], set[str]]:
    built = fraud_serving.build_world(store)
    frame = built.transactions
    store.models.register("fraud", built.v1, features="fraud_detection", aliases=("champion",))
    feed = LabelFeed(source="fraud_labels", key="TRANSACTION_ID", field="TX_FRAUD")
    audit = store.enable_audit(path / "audit", labels=feed)
    store.decisions.add(TRIAGE)
    recent = fraud_serving.recent(frame)
    counts = recent[KEY].value_counts()
    victim, other = int(counts.index[0]), int(counts.index[1])  # the busiest customers
    rows = fraud_serving.entity_rows(recent)
    ids = [str(t) for t in recent["TRANSACTION_ID"]]
    store.score("fraud", rows, request_id=ids)  # logged under the transaction ids
    for row, rid in zip(rows[:20], ids[:20], strict=True):
        assert store.decide("fraud_triage", row, f"triage-{rid}").triage is not None
    _check_prediction_lineage(store, frame, victim, ids, rows)
    store.set_consent("customer", victim, Purpose.MARKETING)
    last = frame["TX_DATETIME"].max()
    live = pd.DataFrame(
        {
            "TRANSACTION_ID": [90_001, 90_002, 90_003],
            "TX_DATETIME": [last + timedelta(seconds=s) for s in (1, 2, 3)],
            KEY: [victim, other, victim],
            "TERMINAL_ID": [1, 2, 3],
            "TX_AMOUNT": [10.0, 20.0, 30.0],
        }
    )
    store.push("transactions", live)  # stays in the write-ahead file
    late = live.iloc[[0]].assign(TRANSACTION_ID=90_004, TX_DATETIME=last - timedelta(days=2))
    assert store.push("transactions", late).late == 1  # a dead letter of the victim's
    audit.flush()

    others = [r for r in rows if r[KEY] != victim]
    before = _features(store, others)
    events_before = {s: store.events(s).num_rows for s in ("transactions", "fraud_labels")}
    victim_tx = set(frame.loc[frame[KEY] == victim, "TRANSACTION_ID"].astype(str))
    victim_rids = {rid for rid, r in zip(ids, rows, strict=True) if r[KEY] == victim}
    gone = victim_tx | victim_rids | {"90001", "90003"}
    found, _ = _scan(path, victim, gone)
    assert found, "the scan finds the customer before the erasure"

    record = store.erase("customer", victim)

    audit.flush()
    found, read = _scan(path, victim, gone)
    assert found == [], found
    assert "erasures/erasures.jsonl" in read
    simulated = int((frame[KEY] == victim).sum())
    triaged = sum(r[KEY] == victim for r in rows[:20])
    assert record.removed["events"] == 2 * simulated + 2  # transactions, labels, live ones
    assert record.removed["predictions"] == len(victim_rids) + triaged
    assert record.removed["labels"] == simulated  # one per simulated transaction
    assert record.removed["dead_letters"] == 1
    assert record.removed["consent_records"] == 1
    assert record.removed["logged_decisions"] == triaged
    assert store.erasures("customer", victim) == [record]
    assert _features(store, others) == before
    assert store.events("transactions").num_rows == events_before["transactions"] - simulated - 2
    assert store.events("fraud_labels").num_rows == events_before["fraud_labels"] - simulated
    assert victim not in set(store.events("transactions")[KEY].to_pylist())
    assert store.consent("customer", victim).changes == {}
    erased = store.get_features(fraud_serving.SERVICE, rows[[r[KEY] for r in rows].index(victim)])
    assert erased["CUSTOMER_ID_NB_TX_1DAY_WINDOW"] == 0
    with pytest.raises(UnknownPredictionError):  # its lineage went with it
        store.prediction_lineage(min(victim_rids))
    return victim, others, before, gone


def _check_prediction_lineage(
    store: uw.FeatureStore, frame: pd.DataFrame, victim: int, ids: list[str], rows: list[Any]
) -> None:
    """The events a prediction's lineage lists are the customer's, counted by pandas."""
    rid = min(r for r, row in zip(ids, rows, strict=True) if row[KEY] == victim)
    lineage = store.prediction_lineage(rid, model="fraud")
    assert (lineage["model"], lineage["version"]) == ("fraud", 1)
    assert lineage["registered_with_definitions"] == store.registry.fingerprint
    week = next(f for f in lineage["features"] if f["feature"] == "customer_spending.nb_tx_7d")
    end = fraud_serving.END
    mine = frame[(frame[KEY] == victim) & (frame["TX_DATETIME"] > end - timedelta(days=7))]
    expected = sorted(mine.loc[mine["TX_DATETIME"] <= end, "TRANSACTION_ID"])
    assert sorted(e["TRANSACTION_ID"] for e in week["events"]) == expected
    assert lineage["prediction"]["features"]["CUSTOMER_ID_NB_TX_7DAY_WINDOW"] == len(expected)


@pytest.mark.redis
def test_erase_from_redis_online_store_and_decision_state(tmp_path: Path) -> None:
    """With the online state in Redis, erasure deletes the customer's keys there too."""
    require_redis()
    namespace = RedisNamespace()
    now = pd.Timestamp("2024-03-01T12:00:00Z").to_pydatetime()
    online = OnlineConfig(url=namespace.url, prefix=namespace.prefix)
    store = uw.FeatureStore(DEFINITIONS, path=tmp_path, online=online, clock=ManualClock(now))
    client = store.store.connection.client
    try:
        store.decisions.add(POLICY)
        events = [
            {
                "event_id": f"tx-{c}-{i}",
                "customer_id": c,
                "ts": now - timedelta(minutes=20 - i - 3 * (c - 41)),  # in time order
                "amount": 10.0,
                "balance": 4_600.0 + c,
                "credit_limit": 5_000.0,
                "category": "tax_payment",
            }
            for c in (41, 42, 43)
            for i in range(3)
        ]
        assert store.push("card_transactions", events).accepted == 9
        for c in (41, 42, 43):
            store.set_consent("customer", c, Purpose.MARKETING)
            assert store.decide("next_best_action", {"customer_id": c}, f"r-{c}").action
        before = store.get_features("next_best_action", [{"customer_id": c} for c in (41, 43)])

        def tagged(c: int) -> list[bytes]:
            keys = client.scan_iter(match=f"{namespace.prefix}:*", count=1_000)
            return [k for k in keys if f"{{customer:{c}}}".encode() in k]

        assert tagged(42), "the customer has online state, decision state and consent"
        record = store.erase("customer", 42)
        assert tagged(42) == []
        assert tagged(41)
        assert tagged(43)
        assert record.removed["online_states"] == 1  # the card view (no savings events)
        assert record.removed["decision_states"] == 1
        assert record.removed["consent_records"] == 1
        assert store.get_features("next_best_action", [{"customer_id": c} for c in (41, 43)]) == (
            before
        )
        assert store.events("card_transactions").num_rows == 6
    finally:
        store.close()
        namespace.cleanup()
