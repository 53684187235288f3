"""Feast's side of ``bench/serving.py``: run with the Feast venv's Python, never with upwell.

The fraud example's stored feature values, as upwell computed them as of the benchmark's
"now", arrive as two Parquet files (one row per customer, one per terminal). This script
defines the same features in Feast: two feature views keyed by ``CUSTOMER_ID`` and
``TERMINAL_ID`` whose fields carry the handbook's column names, and the three request-time
features as a Python-mode on-demand feature view over a request source (``TX_AMOUNT``,
and ``TX_TIME_S``: the transaction time in epoch seconds). The feature service
``fraud_detection`` holds all 15; ``fraud_stored`` only the 12 stored ones.

Commands (each prints one JSON object on the last line of its output):

    prepare  --repo DIR --data DIR --end ISO --online sqlite|redis --rows FILE
             write the repo, apply, materialize; then the 15 values of each entity row
    time     --repo DIR --rows FILE --calls N
             get_online_features latency, one entity row per call, for both services
    teardown --repo DIR
             remove the online store's tables or keys

``feast -c DIR serve`` serves a prepared repo over HTTP (``POST /get-online-features``).
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import feast
import numpy as np
import pandas as pd
from feast import (
    Entity,
    FeatureService,
    FeatureStore,
    FeatureView,
    Field,
    FileSource,
    RequestSource,
)
from feast.on_demand_feature_view import on_demand_feature_view
from feast.types import Float64, Int64

WINDOWS = (1, 7, 30)
CUSTOMER = [f"CUSTOMER_ID_{k}_{w}DAY_WINDOW" for w in WINDOWS for k in ("NB_TX", "AVG_AMOUNT")]
TERMINAL = [f"TERMINAL_ID_{k}_{w}DAY_WINDOW" for w in WINDOWS for k in ("NB_TX", "RISK")]
REQUEST = ["TX_AMOUNT_", "TX_DURING_WEEKEND", "TX_DURING_NIGHT"]
"""On-demand outputs; Feast refuses an output named like a request field, hence the ``_``."""
VIEWS = ("customer_spending", "terminal_risk")
SERVICES = {"all": "fraud_detection", "stored": "fraud_stored"}
WARM_CALLS = 500


def feature_store_yaml(repo: Path, online: str, redis: str, project: str) -> str:
    if online == "sqlite":
        store = f"online_store:\n  type: sqlite\n  path: {repo}/online.db\n"
    else:
        store = f'online_store:\n  type: redis\n  connection_string: "{redis}"\n'
    return (
        f"project: {project}\nregistry: {repo}/registry.db\nprovider: local\n{store}"
        "offline_store:\n  type: file\nentity_key_serialization_version: 3\n"
    )


def time_flags(inputs: dict[str, Any]) -> dict[str, Any]:
    """The handbook's request-time features from the request's amount and epoch seconds."""
    from datetime import UTC, datetime  # noqa: PLC0415 (Feast keeps the function's code alone)

    when = datetime.fromtimestamp(inputs["TX_TIME_S"], UTC)
    return {
        "TX_AMOUNT_": inputs["TX_AMOUNT"],
        "TX_DURING_WEEKEND": int(when.weekday() >= 5),
        "TX_DURING_NIGHT": int(when.hour <= 6),
    }


def definitions(data: Path) -> list[Any]:
    def kind(name: str) -> Any:
        return Int64 if "_NB_TX_" in name else Float64

    customer = Entity(name="customer", join_keys=["CUSTOMER_ID"])
    terminal = Entity(name="terminal", join_keys=["TERMINAL_ID"])
    entities = (customer, terminal)
    views = [
        FeatureView(
            name=name,
            entities=[entity],
            ttl=timedelta(0),  # no expiry: the values are as of the benchmark's "now"
            schema=[Field(name=f, dtype=kind(f)) for f in fields],
            online=True,
            source=FileSource(
                path=str(data / f"{name}.parquet"), timestamp_field="event_timestamp"
            ),
        )
        for name, entity, fields in zip(VIEWS, entities, (CUSTOMER, TERMINAL), strict=True)
    ]
    request = RequestSource(
        name="transaction",
        schema=[Field(name="TX_AMOUNT", dtype=Float64), Field(name="TX_TIME_S", dtype=Int64)],
    )
    flags = on_demand_feature_view(
        sources=[request],
        schema=[Field(name=f, dtype=Float64 if f == "TX_AMOUNT_" else Int64) for f in REQUEST],
        mode="python",
        singleton=True,
    )(time_flags)
    services = [
        FeatureService(name=SERVICES["all"], features=[*views, flags]),
        FeatureService(name=SERVICES["stored"], features=views),
    ]
    return [customer, terminal, *views, request, flags, *services]


def _rows(path: str) -> list[dict[str, Any]]:
    return json.loads(Path(path).read_text())


def cmd_prepare(a: argparse.Namespace) -> dict[str, Any]:
    repo = Path(a.repo)
    repo.mkdir(parents=True, exist_ok=True)
    (repo / "feature_store.yaml").write_text(feature_store_yaml(repo, a.online, a.redis, a.project))
    store = FeatureStore(repo_path=str(repo))
    store.apply(definitions(Path(a.data)))
    end = datetime.fromisoformat(a.end)
    started = time.perf_counter()
    store.materialize(end - timedelta(days=1), end + timedelta(seconds=1))
    seconds = time.perf_counter() - started
    service = store.get_feature_service(SERVICES["all"])
    values = []
    for row in _rows(a.rows):
        got = store.get_online_features(features=service, entity_rows=[row]).to_dict()
        values.append({k: v[0] for k, v in got.items()})
    entities = sum(len(pd.read_parquet(Path(a.data) / f"{n}.parquet")) for n in VIEWS)
    return {"materialize_s": seconds, "entities": entities, "values": values}


def time_service(store: FeatureStore, name: str, rows: list, calls: int) -> dict[str, Any]:
    service = store.get_feature_service(name)
    read = store.get_online_features
    for i in range(WARM_CALLS):
        read(features=service, entity_rows=[rows[i % len(rows)]]).to_dict()
    gc.collect()
    clock = time.perf_counter_ns
    latencies = np.empty(calls, dtype=np.int64)
    cpu, wall = time.process_time(), time.perf_counter()
    for i in range(calls):
        row = rows[i % len(rows)]
        started = clock()
        read(features=service, entity_rows=[row]).to_dict()
        latencies[i] = clock() - started
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    q = np.percentile(latencies / 1000.0, [50, 99, 99.9])
    return {"p50": q[0], "p99": q[1], "p99.9": q[2], "calls": calls, "wall_s": wall, "cpu_s": cpu}


def cmd_time(a: argparse.Namespace) -> dict[str, Any]:
    store = FeatureStore(repo_path=a.repo)
    rows = _rows(a.rows)
    return {key: time_service(store, name, rows, a.calls) for key, name in SERVICES.items()}


def cmd_teardown(a: argparse.Namespace) -> dict[str, Any]:
    FeatureStore(repo_path=a.repo).teardown()
    return {"teardown": a.repo}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("command", choices=["prepare", "time", "teardown"])
    p.add_argument("--repo", required=True)
    p.add_argument("--data", default="", help="the directory of the two Parquet files")
    p.add_argument("--end", default="", help="the benchmark's now, ISO 8601 with a zone")
    p.add_argument("--online", default="sqlite", choices=["sqlite", "redis"])
    p.add_argument("--redis", default="127.0.0.1:6379")
    p.add_argument("--project", default="upwell_bench", help="Feast project (Redis key prefix)")
    p.add_argument("--rows", default="", help="a JSON file: a list of entity rows")
    p.add_argument("--calls", type=int, default=20_000)
    a = p.parse_args()
    commands = {"prepare": cmd_prepare, "time": cmd_time, "teardown": cmd_teardown}
    out = commands[a.command](a)
    out["feast"] = feast.__version__
    print(json.dumps(out, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
