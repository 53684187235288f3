"""Scoring with the audit on versus off: throughput, latency, and the sink's own cost.

Two in-memory stores hold the same simulated fraud data and the same model; the second
records every prediction in an embedded audit (``store.enable_audit``: Parquet log,
bounded buffer, writer thread, ``fsync="never"``). Rounds alternate between them.

1. ``store.score("fraud", row)``, one row per call: calls/s, p50 and p99 latency, and the
   ratio on / off (the audit's overhead), for a LightGBM model (fast: the overhead shows)
   and a scikit-learn logistic-regression pipeline (as in bench/serving.py).
2. ``store.score("fraud", rows)`` with 100 rows per call: predictions/s on / off.
3. The sink alone: ``ScoringAudit.record`` on ready predictions (conversion to a
   ``PredictionRecord`` and the non-blocking append to the buffer), µs per prediction.

Before timing, it checks that both stores give the same scores, and after, that the log
holds every prediction the audited store made (none dropped). Exits 1 if not.
Usage: python bench/audit.py [--quick]
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import lightgbm
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

import upwell as uw
from upwell.audit import open_monitor
from upwell.examples.fraud import SimulationConfig, simulate
from upwell.examples.fraud.features import DEFINITIONS, HANDBOOK_FEATURES, LABEL_DELAY
from upwell.examples.fraud.stream import TRANSACTION_FIELDS, utc_transactions
from upwell.serving.audit_sink import ScoringAudit
from upwell.testing import ManualClock

SERVICE, MODEL = "fraud_detection", "fraud"
START = datetime(2018, 4, 1, tzinfo=UTC)


def build(customers: int, days: int, model: Any, audit_dir: Path | None) -> tuple[Any, ...]:
    frame = utc_transactions(
        simulate(SimulationConfig(n_customers=customers, n_terminals=2 * customers, nb_days=days))
    )
    end = START + timedelta(days=days)
    store = uw.FeatureStore(DEFINITIONS, clock=ManualClock(end))
    store.backfill("transactions", frame[list(TRANSACTION_FIELDS)])
    labels = frame[["TRANSACTION_ID", "CUSTOMER_ID", "TERMINAL_ID", "TX_FRAUD"]].assign(
        LABEL_TIME=frame["TX_DATETIME"] + LABEL_DELAY
    )
    store.backfill("fraud_labels", labels[labels["LABEL_TIME"] <= end])
    sample = frame.sample(n=min(20_000, len(frame)), random_state=0)
    anchors = sample[["CUSTOMER_ID", "TERMINAL_ID", "TX_AMOUNT", "TX_DATETIME"]].assign(
        timestamp=sample["TX_DATETIME"]
    )
    x = store.training_set(SERVICE, anchors)[list(HANDBOOK_FEATURES)].fillna(0.0).to_numpy()
    fitted = model().fit(x, sample["TX_FRAUD"].to_numpy())
    store.models.register(MODEL, fitted, features=SERVICE, aliases=("champion",))
    if audit_dir is not None:
        store.enable_audit(open_monitor(audit_dir, capacity=100_000))
    recent = frame[frame["TX_DATETIME"] > end - timedelta(days=1)]
    rows = recent[["CUSTOMER_ID", "TERMINAL_ID", "TX_AMOUNT", "TX_DATETIME"]].to_dict("records")
    for row in rows:
        row["TX_DATETIME"] = row["TX_DATETIME"].to_pydatetime()
    return store, rows


def time_calls(call: Callable[[], Any], calls: int) -> np.ndarray:
    clock = time.perf_counter_ns
    latencies = np.empty(calls, dtype=np.int64)
    for i in range(calls):
        started = clock()
        call()
        latencies[i] = clock() - started
    return latencies / 1000.0


def rounds(
    stores: dict[str, Any], rows: list[dict[str, Any]], calls: int, repeat: int, batch: int
) -> dict[str, dict[str, float]]:
    """Alternate off/on rounds; per mode the median over rounds of calls/s, p50, p99."""
    n = len(rows)
    chunks = [rows[i : i + batch] for i in range(0, n - batch + 1, batch)] if batch > 1 else None
    per: dict[str, list[tuple[float, float, float]]] = {m: [] for m in stores}
    for _ in range(repeat):
        for mode, store in stores.items():
            counter = iter(range(10**9))

            def call(store: Any = store, counter: Any = counter) -> Any:
                i = next(counter)
                what = chunks[i % len(chunks)] if chunks else rows[i % n]
                return store.score(MODEL, what)

            started = time.perf_counter()
            lat = time_calls(call, calls)
            wall = time.perf_counter() - started
            per[mode].append((calls * batch / wall, *np.percentile(lat, [50, 99])))
    return {
        m: dict(zip(("per_s", "p50", "p99"), np.median(np.array(v), axis=0), strict=True))
        for m, v in per.items()
    }


def check(stores: dict[str, Any], rows: list[dict[str, Any]]) -> bool:
    off = [p.score for p in stores["off"].score(MODEL, rows[:300])]
    on = [p.score for p in stores["on"].score(MODEL, rows[:300])]
    same = off == on
    print(f"  check: 300 scores, audit on vs off: {'equal' if same else 'DIFFER'}")
    return same


def sink_cost(store: Any, rows: list[dict[str, Any]], repeat: int) -> tuple[float, float]:
    """µs per prediction of ScoringAudit.record: batches of 1 and of 100 predictions."""
    predictions = store.score(MODEL, rows[:100])
    with tempfile.TemporaryDirectory() as tmp:
        monitor = open_monitor(tmp, capacity=10**6)
        sink = ScoringAudit(monitor, store.clock.now_ms)
        ones, hundreds = [], []
        for _ in range(repeat):
            started = time.perf_counter()
            for _ in range(50):
                for p in predictions:
                    sink.record([p])
            ones.append((time.perf_counter() - started) / 5_000 * 1e6)
            started = time.perf_counter()
            for _ in range(50):
                sink.record(predictions)
            hundreds.append((time.perf_counter() - started) / 5_000 * 1e6)
            monitor.log.flush()
        monitor.close()
    return float(np.median(ones)), float(np.median(hundreds))


MODELS: dict[str, Callable[[], Any]] = {
    "LightGBM (100 trees)": lambda: lightgbm.LGBMClassifier(
        n_estimators=100, num_leaves=31, n_jobs=1, verbose=-1
    ),
    "scikit-learn scaler + logistic regression": lambda: Pipeline(
        [("scale", StandardScaler()), ("model", LogisticRegression(max_iter=1000))]
    ),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run")
    args = parser.parse_args()
    customers, days = (200, 40) if args.quick else (1000, 60)
    calls, repeat = (500, 1) if args.quick else (4000, 3)
    print(
        f"upwell audit benchmark: python {platform.python_version()}, {platform.machine()};"
        f" fraud simulation {customers:,} customers, {days} days; {calls:,} calls per round,"
        f" median of {repeat} alternating rounds"
    )
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        for name, model in MODELS.items():
            audit_dir = Path(tmp) / name.split()[0]
            off, rows = build(customers, days, model, None)
            on, _ = build(customers, days, model, audit_dir)
            stores = {"off": off, "on": on}
            print(f"\n[{name}] {len(rows):,} entity rows (the last day's transactions)")
            ok &= check(stores, rows)
            for batch in (1, 100):
                r = rounds(stores, rows, calls if batch == 1 else calls // 20, repeat, batch)
                unit = "calls/s" if batch == 1 else "predictions/s"
                print(
                    f"  score, {batch} row(s) per call: off {r['off']['per_s']:,.0f} {unit},"
                    f" p50 {r['off']['p50']:,.1f} µs, p99 {r['off']['p99']:,.1f} µs |"
                    f" on {r['on']['per_s']:,.0f} {unit}, p50 {r['on']['p50']:,.1f} µs,"
                    f" p99 {r['on']['p99']:,.1f} µs | throughput ratio on/off"
                    f" {r['on']['per_s'] / r['off']['per_s']:.3f}, p50 ratio"
                    f" {r['on']['p50'] / r['off']['p50']:.3f}"
                )
            audit = on.audit
            audit.flush()
            stats = audit.monitor.stats()
            logged = audit.monitor.log.query("SELECT count(*) AS n FROM predictions")
            n = int(logged.column("n")[0].as_py())
            complete = n == stats.accepted and stats.dropped == 0 and stats.failed == 0
            print(
                f"  log: {n:,} predictions written of {stats.accepted:,} accepted,"
                f" {stats.dropped} dropped, {stats.failed} failed:"
                f" {'complete' if complete else 'INCOMPLETE'}"
            )
            ok &= complete
            one, hundred = sink_cost(off, rows, repeat)
            print(
                f"  the sink alone (PredictionRecord + non-blocking append):"
                f" {one:.2f} µs per prediction in batches of 1, {hundred:.2f} µs in batches of 100"
            )
            off.close()
            on.close()
    if not ok:
        print("FAILED: a check above did not hold")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
