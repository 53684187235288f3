"""Serving benchmark on the fraud example's definitions: in-process reads and scores, HTTP.

1. In process: ``store.get_features("fraud_detection", row)`` and ``store.score("fraud",
   row)`` (the features plus a scikit-learn logistic-regression pipeline), one entity row
   per call: a customer, a terminal and the transaction's request fields (15 features).
2. HTTP: ``upwell serve`` in its own process, driven by ``bench/http_load.py`` from
   another: ``POST /v1/score`` and ``POST /v1/features`` at fixed request rates (open
   loop), then as fast as the server answers (closed loop; also with ``wrk`` if installed).
3. Baseline: Feast (in its own venv, through ``bench/feast_peer.py``) holding the same
   values: ``get_online_features`` in process (sqlite, and Redis when it answers), and
   ``feast serve`` (``POST /get-online-features``) at the same rates. Feast's values are
   checked equal to upwell's before any Feast timing is printed.

Exits with status 1 only if values disagree. Usage:
python bench/serving.py [--quick] [--skip-feast] [--skip-http] [--profile N]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import platform
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sklearn
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

import upwell as uw
from upwell.examples.fraud import SimulationConfig, simulate
from upwell.examples.fraud.features import (
    DEFINITIONS,
    HANDBOOK_FEATURES,
    LABEL_DELAY,
    customer_spending,
    terminal_risk,
)
from upwell.examples.fraud.stream import TRANSACTION_FIELDS, utc_transactions
from upwell.testing import ManualClock

sys.path.insert(0, str(Path(__file__).resolve().parent))
import serving_http as http

SERVICE, MODEL = "fraud_detection", "fraud"
START = datetime(2018, 4, 1, tzinfo=UTC)
WARM_CALLS = 2_000
CHECK_ROWS = 300
TARGET_P50_US, TARGET_P99_US = 10.0, 25.0
FEAST_VENV = "/tmp/peers/venv-feast/bin/python"  # noqa: S108 (where bench/README.md puts it)


@dataclass
class World:
    """The simulated transactions in a store with a registered model, and the rows to read."""

    store: uw.FeatureStore
    project: Path
    end: datetime
    rows: list[dict[str, Any]]
    model: Pipeline
    ids: dict[str, list[int]]
    """Every customer's and terminal's id in the data, by key field."""


def write_project(root: Path) -> Path:
    """A project directory serving the fraud definitions (data under ``root/data``)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "features.py").write_text(
        "from upwell.examples.fraud.features import DEFINITIONS\ndefinitions = list(DEFINITIONS)\n"
    )
    (root / "upwell.toml").write_text(
        '[project]\nname = "fraud"\ndefinitions = "features.py"\ndata = "data"\n'
    )
    return root


def build_world(args: argparse.Namespace, root: Path) -> World:
    config = SimulationConfig(
        n_customers=args.customers, n_terminals=2 * args.customers, nb_days=args.days
    )
    started = time.perf_counter()
    frame = utc_transactions(simulate(config))
    end = START + timedelta(days=args.days)
    project = write_project(root / "project")
    store = uw.FeatureStore(DEFINITIONS, path=project / "data", clock=ManualClock(end))
    store.backfill("transactions", frame[list(TRANSACTION_FIELDS)])
    labels = frame[["TRANSACTION_ID", "CUSTOMER_ID", "TERMINAL_ID", "TX_FRAUD"]].assign(
        LABEL_TIME=frame["TX_DATETIME"] + LABEL_DELAY
    )
    store.backfill("fraud_labels", labels[labels["LABEL_TIME"] <= end])  # known by "now"
    model = fit_model(store, frame)
    store.models.register(MODEL, model, features=SERVICE, aliases=("champion",))
    recent = frame[frame["TX_DATETIME"] > end - timedelta(days=1)]
    rows = recent[["CUSTOMER_ID", "TERMINAL_ID", "TX_AMOUNT", "TX_DATETIME"]].to_dict("records")
    for row in rows:
        row["TX_DATETIME"] = row["TX_DATETIME"].to_pydatetime()
    print(
        f"data: simulate({config.n_customers:,} customers, {config.n_terminals:,} terminals,"
        f" {config.nb_days} days): {len(frame):,} transactions, backfilled with the labels"
        f" known by now = {end:%Y-%m-%d %H:%M} UTC (a ManualClock) into a durable store; model"
        f" fitted and registered; {time.perf_counter() - started:.1f} s. Entity rows: the"
        f" {len(rows):,} transactions of the last day"
    )
    ids = {k: sorted(int(v) for v in frame[k].unique()) for k in ("CUSTOMER_ID", "TERMINAL_ID")}
    return World(store, project, end, rows, model, ids)


def fit_model(store: uw.FeatureStore, frame: pd.DataFrame) -> Pipeline:
    """A logistic regression on the training-set builder's features of 20,000 transactions."""
    sample = frame.sample(n=min(20_000, len(frame)), random_state=0)
    anchors = sample[["CUSTOMER_ID", "TERMINAL_ID", "TX_AMOUNT", "TX_DATETIME"]].assign(
        timestamp=sample["TX_DATETIME"]
    )
    x = store.training_set(SERVICE, anchors)[list(HANDBOOK_FEATURES)].fillna(0.0)
    model = Pipeline([("scale", StandardScaler()), ("model", LogisticRegression(max_iter=1000))])
    return model.fit(x, sample["TX_FRAUD"].to_numpy())


# ---- 1: in process -----------------------------------------------------------------------


def time_calls(call: Callable[..., Any], name: str, rows: list, calls: int) -> dict[str, Any]:
    """Latency of ``call(name, row)`` over ``calls`` calls, rows taken in turn; µs."""
    n = len(rows)
    for i in range(WARM_CALLS):
        call(name, rows[i % n])
    clock = time.perf_counter_ns
    latencies = np.empty(calls, dtype=np.int64)
    cpu, wall = time.process_time(), time.perf_counter()
    for i in range(calls):
        row = rows[i % n]
        started = clock()
        call(name, row)
        latencies[i] = clock() - started
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    q = np.percentile(latencies / 1000.0, [50, 99, 99.9])
    return {"p50": q[0], "p99": q[1], "p99.9": q[2], "calls": calls, "wall_s": wall, "cpu_s": cpu}


def check_scores(world: World) -> bool:
    """Scores equal the pipeline's ``predict_proba`` on the features they carry; those
    features equal ``get_features``, and none is null."""
    rows = world.rows[:CHECK_ROWS]
    predictions = world.store.score(MODEL, rows)
    features = world.store.get_features(SERVICE, rows)
    x = pd.DataFrame([[p.features[c] for c in HANDBOOK_FEATURES] for p in predictions])
    x.columns = list(HANDBOOK_FEATURES)
    expected = world.model.predict_proba(x)[:, 1]
    same_scores = bool(np.allclose([p.score for p in predictions], expected, rtol=1e-12, atol=0))
    same_features = [p.features for p in predictions] == features
    nulls = sum(v is None for f in features for v in f.values())
    print(
        f"  check: {len(rows)} scores vs predict_proba on their features: "
        f"{'equal' if same_scores else 'DIFFER'}; their features vs get_features: "
        f"{'equal' if same_features else 'DIFFER'}; {nulls} null values"
    )
    return same_scores and same_features and nulls == 0


def in_process(args: argparse.Namespace, world: World) -> dict[str, dict[str, Any]]:
    print(
        f"\n[1] in process: one entity row per call, {len(HANDBOOK_FEATURES)} features, read as"
        f" of now, {WARM_CALLS:,} warm-up calls first; garbage collector on"
    )
    store, rows = world.store, world.rows
    results = {
        "get_features": time_calls(store.get_features, SERVICE, rows, args.calls),
        "score": time_calls(store.score, MODEL, rows, args.score_calls),
    }
    print(f'in-process get_features("{SERVICE}", row): {figures_us(results["get_features"])}')
    print(f'in-process score("{MODEL}", row): {figures_us(results["score"])}')
    parts = [store.score(MODEL, rows[i % len(rows)]).timings_us for i in range(1000)]
    medians = {k: statistics.median(p[k] for p in parts) for k in ("features", "model", "total")}
    print(
        "  score's own timings (Prediction.timings_us, median of 1,000): features"
        f" {medians['features']:,.1f} µs, model {medians['model']:,.1f} µs, total"
        f" {medians['total']:,.1f} µs (the model: a StandardScaler + LogisticRegression pipeline"
        " fitted on named columns)"
    )
    return results


def figures_us(r: dict[str, Any]) -> str:
    return (
        f"p50 {r['p50']:,.1f} µs | p99 {r['p99']:,.1f} µs | p99.9 {r['p99.9']:,.1f} µs"
        f" ({r['calls']:,} calls, {r['calls'] / r['wall_s']:,.0f} calls/s; CPU {r['cpu_s']:.2f} s"
        f" of {r['wall_s']:.2f} s wall)"
    )


def report_in_process(ours: dict[str, Any], theirs: dict[str, Any]) -> None:
    read = ours["get_features"]
    if len(theirs) > 1:
        print("\nin process, ratios (Feast µs / upwell µs: > 1 means upwell is faster)")
    for key, label in (
        ("sqlite", "Feast sqlite, 15 features"),
        ("sqlite_stored", "Feast sqlite, 12 stored features only"),
        ("redis", "Feast Redis, 15 features"),
        ("redis_stored", "Feast Redis, 12 stored features only"),
    ):
        if key in theirs:
            f = theirs[key]
            print(
                f"in-process read: upwell p50 {read['p50']:,.1f} µs, p99 {read['p99']:,.1f} µs |"
                f" {label} p50 {f['p50']:,.1f} µs, p99 {f['p99']:,.1f} µs |"
                f" ratio p50 {f['p50'] / read['p50']:.1f}, p99 {f['p99'] / read['p99']:.1f}"
            )
    print(
        f"target (DESIGN.md) in-process read p50 <= {TARGET_P50_US:g} µs, p99 <="
        f" {TARGET_P99_US:g} µs: upwell p50 {read['p50']:,.1f} µs"
        f" ({read['p50'] / TARGET_P50_US:.2f} x target), p99 {read['p99']:,.1f} µs"
        f" ({read['p99'] / TARGET_P99_US:.2f} x target)"
    )


def profile(world: World, calls: int) -> None:
    for name, call, what in (
        ("get_features", world.store.get_features, SERVICE),
        ("score", world.store.score, MODEL),
    ):
        profiler = cProfile.Profile()
        rows, n = world.rows, len(world.rows)
        profiler.enable()
        for i in range(calls):
            call(what, rows[i % n])
        profiler.disable()
        print(f"\n[profile] cProfile of {calls:,} {name} calls (top 20 by own time)")
        pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(20)


# ---- the same values for Feast -------------------------------------------------------------


def export_values(world: World, data: Path) -> list[dict[str, Any]]:
    """Every customer's and terminal's stored values as of now, as upwell serves them, as
    Parquet for Feast; returns the Feast entity rows matching ``world.rows``."""
    data.mkdir(parents=True, exist_ok=True)
    stamp = pd.Timestamp(world.end - timedelta(seconds=1))
    for view, key in ((customer_spending, "CUSTOMER_ID"), (terminal_risk, "TERMINAL_ID")):
        ids = world.ids[key]
        table = pd.DataFrame(
            world.store.get_features(list(view.feature_refs), [{key: i} for i in ids])
        )
        table.columns = [feast_name(key, ref) for ref in view.feature_refs]
        for column in table.columns:
            if "_NB_TX_" in column:
                table[column] = table[column].astype("int64")
        table.insert(0, key, np.array(ids, dtype=np.int64))
        table.insert(1, "event_timestamp", stamp)
        table.to_parquet(data / f"{view.name}.parquet", index=False, coerce_timestamps="us")
    return [
        {
            "CUSTOMER_ID": int(r["CUSTOMER_ID"]),
            "TERMINAL_ID": int(r["TERMINAL_ID"]),
            "TX_AMOUNT": float(r["TX_AMOUNT"]),
            "TX_TIME_S": int(r["TX_DATETIME"].timestamp()),
        }
        for r in world.rows
    ]


def feast_name(key: str, ref: str) -> str:
    """``customer_spending.avg_amount_7d`` -> ``CUSTOMER_ID_AVG_AMOUNT_7DAY_WINDOW``."""
    stem, days = ref.split(".", 1)[1].rsplit("_", 1)
    return f"{key}_{stem.upper()}_{days.removesuffix('d')}DAY_WINDOW"


def compare(ours: list[dict[str, Any]], theirs: list[dict[str, Any]], label: str) -> bool:
    """All 15 values equal, floats exactly (Parquet, protobuf and JSON carry them losslessly)."""
    bad = []
    for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        got = {("TX_AMOUNT" if k == "TX_AMOUNT_" else k): v for k, v in b.items()}
        bad += [
            f"    row {i} {name}: upwell {a[name]!r}, Feast {got.get(name, 'missing')!r}"
            for name in HANDBOOK_FEATURES
            if got.get(name, "missing") != a[name]
        ]
    verdict = "all 15 values equal" if not bad else f"{len(bad)} values DIFFER"
    print(f"  check {label}: {len(ours)} entity rows vs upwell, {verdict}")
    for line in bad[:10]:
        print(line)
    return not bad


# ---- main --------------------------------------------------------------------------------


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    add = p.add_argument
    add("--quick", action="store_true", help="smoke run (about a minute and a half)")
    add("--customers", type=int, default=2000, help="simulated customers (twice as many terminals)")
    add("--days", type=int, default=60, help="simulated days")
    add("--calls", type=int, default=50_000, help="in-process get_features calls")
    add("--score-calls", type=int, default=20_000, help="in-process score calls")
    add("--feast-calls", type=int, default=20_000, help="Feast in-process calls per service")
    add("--rates", default="500,1000,2000", help="open-loop request rates, per second")
    add("--duration", type=float, default=15.0, help="counted seconds per open-loop run")
    add("--warmup", type=float, default=2.0, help="seconds sent before counting")
    add("--closed-duration", type=float, default=10.0, help="counted closed-loop seconds")
    add("--grace", type=float, default=5.0, help="open loop: how long late answers are awaited")
    add("--connections", type=int, default=8, help="HTTP keep-alive connections")
    add("--skip-http", action="store_true", help="in-process measurements only")
    add("--server-path", default="", help="a directory put on upwell serve's PYTHONPATH")
    add("--skip-feast", action="store_true", help="leave the Feast baseline out")
    add("--feast-python", default=FEAST_VENV, help="the Feast venv's python")
    add("--redis", default="127.0.0.1:6379", help="Redis for Feast's Redis store; '' to skip")
    add("--profile", type=int, default=0, help="also cProfile N in-process calls of each")
    args = p.parse_args(argv)
    if args.quick:
        args.customers, args.days = min(args.customers, 500), min(args.days, 40)
        args.calls, args.score_calls = min(args.calls, 20_000), min(args.score_calls, 2_000)
        args.feast_calls, args.redis = min(args.feast_calls, 2_000), ""
        args.duration, args.warmup = min(args.duration, 1.0), min(args.warmup, 0.5)
        args.closed_duration, args.grace = min(args.closed_duration, 2.0), min(args.grace, 1.0)
    args.rates = [float(r) for r in args.rates.split(",") if r]
    return args


def describe(args: argparse.Namespace) -> None:
    load = os.getloadavg()
    print(
        f"upwell {uw.__version__}, python {platform.python_version()}, numpy {np.__version__},"
        f" pandas {pd.__version__}, scikit-learn {sklearn.__version__}; {os.cpu_count()} CPUs;"
        f" load average at start {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; clock"
        " time.perf_counter_ns"
    )
    if args.quick:
        print("--quick: a smoke run (fewer calls, 1 s per rate); its figures are indicative only")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    describe(args)
    feast = http.FeastPeer.find(args.feast_python, args.skip_feast)
    with tempfile.TemporaryDirectory(prefix="upwell-bench-serving-") as tmp:
        root = Path(tmp)
        world = build_world(args, root)
        if not check_scores(world):
            world.store.close()
            print("\nupwell's values DIFFER from its own oracle: nothing timed", file=sys.stderr)
            return 1
        ours = in_process(args, world)
        checked = world.rows[:CHECK_ROWS]
        ref = http.Reference(
            rows=checked,
            values=world.store.get_features(SERVICE, checked),
            scores=[p.score for p in world.store.score(MODEL, checked)],
        )
        ref.feast_rows = export_values(world, root / "feast-data") if feast.python else []
        if args.profile:
            profile(world, args.profile)
        world.store.close()  # the server opens the same directory
        theirs = feast.in_process(args, root, world.end, ref, compare)
        report_in_process(ours, theirs)
        ok = theirs.get("ok", True)
        if not args.skip_http:
            ok = http.run_http(args, world, feast, root, ref, compare) and ok
    print(f"\nload average at the end: {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs)")
    if not ok:
        print("\nSOME VALUES DIFFER: their timings were not printed", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
