"""Engine benchmark on the fraud example's features: per-event path, columnar path, latency.

Every contender computes the same features on the same transactions in the same order;
its values are checked against the reference (pandas ``groupby().rolling()``, the
handbook's method) before any timing is printed. Ratios are upwell / baseline, measured
in this same run.

1. Per-event ingest + read: for each transaction, ``FeatureStore.push`` it, then
   ``get_features`` for its customer and terminal as of it (in memory, and durable on
   disk with fsync never). Baselines on the same events: a plain-Python loop with dicts
   of deques and running sums, River ``utils.TimeRolling(stats.Mean)`` per key, and
   pandas (batch, all rows at once).
2. Columnar: ``FeatureStore.backfill`` of every row, then ``event_training_set``; and the
   engine's ``compute_view`` on NumPy columns; against pandas on the same rows.
3. Latency of one push until readable (push, then get_features), per event, in µs.

``--profile N`` runs cProfile over the per-event path for the first N rows.

Usage: python bench/engine.py [--rows N] [--per-event-rows M] [--quick] [--only ...]
"""

from __future__ import annotations

import argparse
import collections
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
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import upwell as uw

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fraud_definitions as fd

DAY_MS = 86_400_000
TOLERANCE = 1e-9
TAIL = 1_000
WARM_ROWS = 10_000
Step = Callable[[Any], dict[str, Any]]


@dataclass(frozen=True)
class Stream:
    """One prefix of the transactions, pre-built for each contender outside the clock."""

    events: list[dict[str, Any]]
    """Push payloads with aware UTC datetimes; each is also its own entity row."""
    plain: list[tuple[Any, ...]]
    """(customer, terminal, epoch ms, amount, fraud, aware datetime) for the Python loop."""
    river: list[tuple[Any, ...]]
    """(customer, terminal, amount, fraud, aware datetime, naive UTC datetime) for River."""


def make_stream(frame: pd.DataFrame) -> Stream:
    when = frame["TX_DATETIME"].dt.to_pydatetime().tolist()
    naive = [t.replace(tzinfo=None) for t in when]  # River compares with a naive sentinel
    ms = frame["TX_DATETIME"].dt.as_unit("ms").astype("int64").tolist()
    tid, cust, term = (frame[c].tolist() for c in ("TRANSACTION_ID", "CUSTOMER_ID", "TERMINAL_ID"))
    amount, fraud = frame["TX_AMOUNT"].tolist(), frame["TX_FRAUD"].tolist()
    events = [
        {
            "TRANSACTION_ID": i,
            "TX_DATETIME": t,
            "CUSTOMER_ID": c,
            "TERMINAL_ID": k,
            "TX_AMOUNT": a,
            "TX_FRAUD": f,
        }
        for i, t, c, k, a, f in zip(tid, when, cust, term, amount, fraud, strict=True)
    ]
    plain = list(zip(cust, term, ms, amount, fraud, when, strict=True))
    river = list(zip(cust, term, amount, fraud, when, naive, strict=True))
    return Stream(events, plain, river)


# ---- the reference and batch baseline: pandas, the handbook's method -----------------------


def _rolling(indexed: pd.DataFrame, key: str, column: str, days: Sequence[int]) -> dict:
    """Per ``key``, right-closed rolling count and sum of ``column``, in the frame's row order."""
    order = np.argsort(indexed[key].to_numpy(), kind="stable")  # groups' order, rows in order
    grouped = indexed.groupby(key, sort=True)[column]
    out = {}
    for d in days:
        window = grouped.rolling(f"{d}D")
        count, total = np.empty(len(order)), np.empty(len(order))
        count[order] = window.count().to_numpy()
        total[order] = window.sum().to_numpy()
        out[d] = (count, total)
    return out


def pandas_features(frame: pd.DataFrame, names: Sequence[str]) -> dict[str, np.ndarray]:
    indexed = frame.set_index("TX_DATETIME")
    out: dict[str, np.ndarray] = {}
    if "TX_AMOUNT" in names:
        when = frame["TX_DATETIME"].dt
        out["TX_AMOUNT"] = frame["TX_AMOUNT"].to_numpy()
        out["TX_DURING_WEEKEND"] = (when.day_of_week >= 5).to_numpy().astype(np.int64)
        out["TX_DURING_NIGHT"] = (when.hour <= 6).to_numpy().astype(np.int64)
    spend = _rolling(indexed, "CUSTOMER_ID", "TX_AMOUNT", fd.WINDOW_DAYS)
    for w in fd.WINDOW_DAYS:
        count, total = spend[w]
        out[f"CUSTOMER_ID_NB_TX_{w}DAY_WINDOW"] = count
        out[f"CUSTOMER_ID_AVG_AMOUNT_{w}DAY_WINDOW"] = total / count
    days = (fd.DELAY_DAYS, *(fd.DELAY_DAYS + w for w in fd.WINDOW_DAYS))
    risk = _rolling(indexed, "TERMINAL_ID", "TX_FRAUD", days)
    delay_count, delay_frauds = risk[fd.DELAY_DAYS]
    for w in fd.WINDOW_DAYS:
        count, frauds = risk[fd.DELAY_DAYS + w]
        n, k = count - delay_count, frauds - delay_frauds
        out[f"TERMINAL_ID_NB_TX_{w}DAY_WINDOW"] = n
        out[f"TERMINAL_ID_RISK_{w}DAY_WINDOW"] = np.where(n > 0, k / np.maximum(n, 1), 0.0)
    return {name: out[name] for name in names}


# ---- per-event contenders: each a step(event) -> {feature: value} ---------------------------


def upwell_step(store: uw.FeatureStore, service: str) -> Step:
    push, get = store.push, store.get_features

    def step(event: dict[str, Any]) -> dict[str, Any]:
        push("transactions", event)
        return get(service, event, as_of=event["TX_DATETIME"])  # type: ignore[no-any-return]

    return step


def _request_values(amount: float, when: Any) -> dict[str, Any]:
    return {
        "TX_AMOUNT": amount,
        "TX_DURING_WEEKEND": int(when.weekday() >= 5),
        "TX_DURING_NIGHT": int(when.hour <= 6),
    }


def dict_of_deques_step(with_request: bool) -> Step:
    """A straightforward per-event loop: per key and window a deque and running sums."""
    customers: dict[int, list[list[Any]]] = {}
    terminals: dict[int, tuple[collections.deque, list[list[Any]]]] = {}
    spans = [w * DAY_MS for w in fd.WINDOW_DAYS]
    cust_names = list(zip(spans, fd.CUSTOMER_NAMES[::2], fd.CUSTOMER_NAMES[1::2], strict=True))
    term_names = list(zip(spans, fd.TERMINAL_NAMES[::2], fd.TERMINAL_NAMES[1::2], strict=True))
    delay = fd.DELAY_DAYS * DAY_MS

    def step(x: tuple[Any, ...]) -> dict[str, Any]:
        cid, tid, ts, amount, fraud, when = x
        out = _request_values(amount, when) if with_request else {}
        wins = customers.get(cid)
        if wins is None:
            wins = customers[cid] = [[collections.deque(), 0, 0.0] for _ in spans]
        for win, (span, nb_name, avg_name) in zip(wins, cust_names, strict=True):
            queue = win[0]
            queue.append((ts, amount))
            n, total, lim = win[1] + 1, win[2] + amount, ts - span
            while queue[0][0] <= lim:
                n -= 1
                total -= queue.popleft()[1]
            win[1], win[2] = n, total
            out[nb_name], out[avg_name] = n, total / n
        state = terminals.get(tid)
        if state is None:
            state = terminals[tid] = (
                collections.deque(),
                [[collections.deque(), 0, 0] for _ in spans],
            )
        _terminal(state, ts, fraud, delay, term_names, out)
        return out

    return step


def _terminal(state: tuple, ts: int, fraud: int, delay: int, names: list, out: dict) -> None:
    """Labels enter the windows 7 days after their transaction; windows drop them after w more."""
    pending, wins = state
    pending.append((ts, fraud))
    cutoff = ts - delay
    while pending[0][0] <= cutoff:
        event = pending.popleft()
        for win in wins:
            win[0].append(event)
            win[1] += 1
            win[2] += event[1]
    for win, (span, nb_name, risk_name) in zip(wins, names, strict=True):
        queue, lim = win[0], cutoff - span
        while queue and queue[0][0] <= lim:
            win[1] -= 1
            win[2] -= queue.popleft()[1]
        n = win[1]
        out[nb_name], out[risk_name] = n, win[2] / n if n else 0.0


def river_step(with_request: bool) -> Step:
    """River ``TimeRolling(stats.Mean)`` per key: 3 per customer, 4 per terminal.

    A terminal's window ``(t - 7d - w, t - 7d]`` is the handbook's difference of the
    rolling ``7 + w`` and ``7`` day windows, each giving a count (``n``) and a mean.
    """
    from river import stats, utils  # noqa: PLC0415 (optional)

    customers: dict[int, list[Any]] = {}
    terminals: dict[int, list[Any]] = {}
    term_days = (fd.DELAY_DAYS, *(fd.DELAY_DAYS + w for w in fd.WINDOW_DAYS))
    cust_names = list(zip(fd.CUSTOMER_NAMES[::2], fd.CUSTOMER_NAMES[1::2], strict=True))
    term_names = list(zip(fd.TERMINAL_NAMES[::2], fd.TERMINAL_NAMES[1::2], strict=True))

    def rolling(days: Sequence[int]) -> list[Any]:
        return [utils.TimeRolling(stats.Mean, period=timedelta(days=d)) for d in days]

    def step(x: tuple[Any, ...]) -> dict[str, Any]:
        cid, tid, amount, fraud, when, naive = x
        out = _request_values(amount, when) if with_request else {}
        means = customers.get(cid) or customers.setdefault(cid, rolling(fd.WINDOW_DAYS))
        for mean, (nb_name, avg_name) in zip(means, cust_names, strict=True):
            mean.update(amount, t=naive)
            out[nb_name], out[avg_name] = mean.obj.n, mean.get()
        risk = terminals.get(tid) or terminals.setdefault(tid, rolling(term_days))
        for mean in risk:
            mean.update(fraud, t=naive)
        n0, k0 = risk[0].obj.n, risk[0].obj.n * risk[0].get()
        for mean, (nb_name, risk_name) in zip(risk[1:], term_names, strict=True):
            n = mean.obj.n - n0
            out[nb_name] = n
            out[risk_name] = (mean.obj.n * mean.get() - k0) / n if n else 0.0
        return out

    return step


# ---- drivers -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Contender:
    """A per-event implementation: how to start it fresh and which inputs it takes."""

    name: str
    make: Callable[[], tuple[Step, Callable[[], None]]]
    inputs: Callable[[Stream], list[Any]]


def upwell_contender(service: str, *, durable: bool) -> Contender:
    def make() -> tuple[Step, Callable[[], None]]:
        if not durable:
            store = uw.FeatureStore(fd.DEFINITIONS)
            return upwell_step(store, service), store.close
        folder = tempfile.TemporaryDirectory(prefix="upwell-bench-")
        store = uw.FeatureStore(fd.DEFINITIONS, path=folder.name, fsync="never")

        def close() -> None:
            store.close()
            folder.cleanup()

        return upwell_step(store, service), close

    name = "upwell-disk(fsync never)" if durable else "upwell"
    return Contender(name, make, lambda s: s.events)


def timed_run(contender: Contender, inputs: list[Any]) -> tuple[float, float, list[dict[str, Any]]]:
    """Wall and CPU seconds for the whole loop; the last outputs are kept to check the run."""
    step, close = contender.make()
    tail: collections.deque[dict[str, Any]] = collections.deque(maxlen=TAIL)
    keep = tail.append
    cpu = time.process_time()
    started = time.perf_counter()
    for x in inputs:
        keep(step(x))
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu
    close()
    return elapsed, cpu, list(tail)


def checked_run(
    contender: Contender, inputs: list[Any], names: Sequence[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Every output value, and each step's latency in ns (the clock read around the step only)."""
    step, close = contender.make()
    values = np.empty((len(inputs), len(names)))
    latency = np.empty(len(inputs), dtype=np.int64)
    clock = time.perf_counter_ns
    for i, x in enumerate(inputs):
        started = clock()
        out = step(x)
        latency[i] = clock() - started
        values[i] = [out[name] for name in names]
    close()
    return values, latency


def mismatches(
    values: np.ndarray, reference: dict[str, np.ndarray], names: Sequence[str], first: int = 0
) -> tuple[int, list[str]]:
    """Rows whose values differ from the reference by more than 1e-9 * max(1, |reference|)."""
    bad = np.zeros(len(values), dtype=bool)
    notes = []
    for j, name in enumerate(names):
        got, want = values[:, j], np.asarray(reference[name][first : first + len(values)], float)
        close = np.abs(got - want) <= TOLERANCE * np.maximum(1.0, np.abs(want))
        close |= np.isnan(got) & np.isnan(want)
        for i in np.flatnonzero(~close)[:3]:
            notes.append(f"    row {first + i:,} {name}: got {got[i]!r}, expected {want[i]!r}")
        bad |= ~close
    return int(bad.sum()), notes


def tail_values(tail: list[dict[str, Any]], names: Sequence[str]) -> np.ndarray:
    return np.array([[out[name] for name in names] for out in tail], dtype=float)


def percentiles_us(latency_ns: np.ndarray) -> dict[str, float]:
    q = np.percentile(latency_ns, [50, 99, 99.9]) / 1000
    return {"p50": q[0], "p99": q[1], "p99.9": q[2], "max": latency_ns.max() / 1000}


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds:,.0f}"


# ---- 1 and 3: per-event ingest + read, and latency ------------------------------------------


def per_event_contenders(args: argparse.Namespace, service: str) -> list[Contender]:
    with_request = not args.windowed_only
    out = [
        upwell_contender(service, durable=False),
        upwell_contender(service, durable=True),
        Contender("dict-of-deques", lambda: (dict_of_deques_step(with_request), _noop), _plain),
    ]
    if not args.skip_river:
        out.append(Contender("river", lambda: (river_step(with_request), _noop), _river))
    return out


def _noop() -> None:
    return None


def _plain(stream: Stream) -> list[Any]:
    return stream.plain


def _river(stream: Stream) -> list[Any]:
    return stream.river


def check_contenders(
    contenders: list[Contender], stream: Stream, reference: dict, names: Sequence[str]
) -> dict[str, np.ndarray]:
    """Run each contender once over every row and check its values.

    Returns:
        The step latencies of the contenders whose values all agree.
    """
    latencies = {}
    for contender in contenders:
        timed_run(contender, contender.inputs(stream)[:WARM_ROWS])  # warm-up, discarded
        started = time.perf_counter()
        values, latency = checked_run(contender, contender.inputs(stream), names)
        bad, notes = mismatches(values, reference, names)
        verdict = "all equal" if bad == 0 else f"{bad:,} rows DIFFER"
        took = time.perf_counter() - started
        print(f"  check {contender.name}: {len(values):,} rows vs pandas, {verdict} ({took:.1f} s)")
        for note in notes[:12]:
            print(note)
        if bad == 0:
            latencies[contender.name] = latency
    return latencies


def time_contenders(
    contenders: list[Contender], stream: Stream, reference: dict, names: Sequence[str], repeat: int
) -> dict[str, float]:
    """Median seconds per contender over ``repeat`` fresh runs, each run's tail re-checked."""
    seconds = {}
    n = len(stream.events)
    for contender in contenders:
        runs, cpus = [], []
        for _ in range(repeat):
            elapsed, cpu, tail = timed_run(contender, contender.inputs(stream))
            bad, _ = mismatches(tail_values(tail, names), reference, names, first=n - len(tail))
            if bad:
                print(f"  timed run of {contender.name}: {bad} of its last {len(tail)} rows differ")
                break
            runs.append(elapsed)
            cpus.append(cpu)
        else:
            seconds[contender.name] = statistics.median(runs)
            spread = ", ".join(f"{s:.2f}" for s in runs)
            print(
                f"  timed {contender.name}: {spread} s ({rate(n, seconds[contender.name])} ev/s);"
                f" CPU {statistics.median(cpus):.2f} s"
            )
    return seconds


def report_per_event(seconds: dict[str, float], n: int, pandas_s: float) -> None:
    print(
        f"\nper-event ingest + read, {n:,} events (ratio = upwell / baseline, > 1: upwell faster)"
    )
    pairs = [
        ("upwell", "dict-of-deques"),
        ("upwell", "river"),
        ("upwell-disk(fsync never)", "dict-of-deques"),
        ("upwell-disk(fsync never)", "upwell"),
    ]
    for ours, theirs in pairs:
        if ours in seconds and theirs in seconds:
            print(
                f"per-event ingest+read: {ours} {rate(n, seconds[ours])} ev/s | "
                f"{theirs} {rate(n, seconds[theirs])} ev/s | "
                f"ratio {seconds[theirs] / seconds[ours]:.2f}"
            )
    if "upwell" in seconds:
        print(
            f"per-event ingest+read: upwell {rate(n, seconds['upwell'])} ev/s | pandas batch "
            f"(all rows at once, not per event) {rate(n, pandas_s)} rows/s | "
            f"ratio {pandas_s / seconds['upwell']:.2f}"
        )


def report_latency(latencies: dict[str, np.ndarray]) -> None:
    print("\npush until readable: one step (push, then get_features; for baselines update + read)")
    stats = {name: percentiles_us(lat) for name, lat in latencies.items()}
    for name, q in stats.items():
        figures = " | ".join(f"{k} {v:,.1f}" for k, v in q.items())
        print(f"latency, µs: {name} {figures} ({len(latencies[name]):,} events)")
    for ours in ("upwell", "upwell-disk(fsync never)"):
        if ours in stats and "dict-of-deques" in stats:
            theirs = stats["dict-of-deques"]
            print(
                " | ".join(
                    f"latency {k}: {ours} {stats[ours][k]:,.1f} µs vs dict-of-deques "
                    f"{theirs[k]:,.1f} µs (ratio {stats[ours][k] / theirs[k]:.1f})"
                    for k in ("p50", "p99")
                )
            )


def per_event(args: argparse.Namespace, frame: pd.DataFrame, reference: dict) -> bool:
    service, names = _service(args)
    rows = len(frame) if args.per_event_rows == 0 else min(args.per_event_rows, len(frame))
    prefix = frame.iloc[:rows]
    last = prefix["TX_DATETIME"].iloc[-1]
    print(
        f"\n[1] per-event ingest + read and [3] latency: the first {rows:,} of {len(frame):,} rows"
        f" ({prefix['TX_DATETIME'].iloc[0]:%Y-%m-%d} .. {last:%Y-%m-%d}), {len(names)} features,"
        f" one event at a time; warm-up {min(WARM_ROWS, rows):,} events each"
    )
    stream = make_stream(prefix)
    contenders = per_event_contenders(args, service)
    latencies = check_contenders(contenders, stream, reference, names)
    started = time.perf_counter()
    batch = pandas_features(prefix, names)
    pandas_s = time.perf_counter() - started
    bad, _ = mismatches(np.column_stack([batch[n] for n in names]), reference, names)
    print(f"  pandas on the {rows:,} rows: {pandas_s:.2f} s, {bad:,} rows differ from the full run")
    checked = [c for c in contenders if c.name in latencies]
    seconds = time_contenders(checked, stream, reference, names, args.repeat)
    report_per_event(seconds, rows, pandas_s)
    report_latency(latencies)
    return len(checked) == len(contenders) and bad == 0


def _service(args: argparse.Namespace) -> tuple[str, tuple[str, ...]]:
    if args.windowed_only:
        return fd.windowed_features.name, fd.WINDOWED_NAMES
    return fd.all_features.name, fd.ALL_NAMES


# ---- 2: the columnar path ------------------------------------------------------------------


def backfill_and_train(frame: pd.DataFrame, service: str) -> tuple[float, float, pd.DataFrame]:
    store = uw.FeatureStore(fd.DEFINITIONS)
    started = time.perf_counter()
    store.backfill("transactions", frame)
    loaded = time.perf_counter()
    table = store.event_training_set(service, "transactions")
    done = time.perf_counter()
    store.close()
    return loaded - started, done - loaded, table


def compute_views(frame: pd.DataFrame) -> tuple[float, dict[str, np.ndarray]]:
    """The engine's columnar kernel alone: both views over NumPy columns, event-anchored."""
    from upwell.engine.columnar import Anchors, compute_view  # noqa: PLC0415 (internal)
    from upwell.engine.plan import compile_view  # noqa: PLC0415 (internal)

    events = {c: frame[c].to_numpy() for c in fd.COLUMNS if c != "TX_DATETIME"}
    ts = frame["TX_DATETIME"].dt.as_unit("ms").astype("int64").to_numpy()
    events["TX_DATETIME"] = ts
    seq = np.arange(1, len(ts) + 1, dtype=np.int64)
    plans = [compile_view(v) for v in (fd.customer_spending, fd.terminal_risk)]
    started = time.perf_counter()
    raw = {}
    for plan in plans:
        anchors = Anchors(keys=[events[k] for k in plan.keys], ts=ts, seq=seq)
        for name, values in compute_view(plan, events, ts, seq, anchors).items():
            raw[f"{plan.view.name}.{name}"] = values
    elapsed = time.perf_counter() - started
    refs = fd.windowed_features.refs
    return elapsed, dict(zip(fd.WINDOWED_NAMES, (raw[r] for r in refs), strict=True))


def check_columns(
    label: str, got: dict[str, np.ndarray], reference: dict, names: Sequence[str]
) -> bool:
    values = np.column_stack([np.asarray(got[n], dtype=float) for n in names])
    bad, notes = mismatches(values, reference, names)
    print(
        f"  check {label}: {len(values):,} rows vs pandas, "
        + ("all equal" if bad == 0 else f"{bad:,} rows DIFFER")
    )
    for note in notes[:12]:
        print(note)
    return bad == 0


def columnar(
    args: argparse.Namespace, frame: pd.DataFrame, reference: dict, pandas_s: list[float]
) -> bool:
    service, names = _service(args)
    n = len(frame)
    print(f"\n[2] columnar: all {n:,} rows, {len(names)} features, in one call each")
    backfill_and_train(frame.iloc[:WARM_ROWS], service)  # warm-up, discarded
    compute_views(frame.iloc[:WARM_ROWS])
    runs = [backfill_and_train(frame, service) for _ in range(args.repeat)]
    table = runs[-1][2]
    order = np.argsort(table["TRANSACTION_ID"].to_numpy(), kind="stable")
    ok = check_columns(
        "upwell event_training_set",
        {c: table[c].to_numpy()[order] for c in names},
        reference,
        names,
    )
    view_runs = [compute_views(frame) for _ in range(args.repeat)]
    ok = check_columns("upwell compute_view", view_runs[-1][1], reference, fd.WINDOWED_NAMES) and ok
    while len(pandas_s) < args.repeat:
        started = time.perf_counter()
        pandas_features(frame, names)
        pandas_s.append(time.perf_counter() - started)
    if not ok:
        return False
    report_columnar(n, len(names), runs, [s for s, _ in view_runs], statistics.median(pandas_s))
    return True


def report_columnar(n: int, k: int, runs: list, view_s: list[float], pandas_s: float) -> None:
    backfill_s = statistics.median(r[0] for r in runs)
    train_s = statistics.median(r[1] for r in runs)
    total_s = statistics.median(r[0] + r[1] for r in runs)
    kernel_s = statistics.median(view_s)
    pandas = f"pandas groupby().rolling() {pandas_s:.2f} s ({rate(n, pandas_s)} rows/s)"
    print(f"\ncolumnar, {n:,} rows (ratio = pandas seconds / upwell seconds, > 1: upwell faster)")
    print(f"columnar: upwell backfill {backfill_s:.2f} s ({rate(n, backfill_s)} rows/s)")
    print(
        f"columnar: upwell event_training_set ({k} features) {train_s:.2f} s "
        f"({rate(n, train_s)} rows/s) | {pandas} | ratio {pandas_s / train_s:.2f}"
    )
    print(
        f"columnar: upwell backfill + event_training_set {total_s:.2f} s "
        f"({rate(n, total_s)} rows/s) | {pandas} | ratio {pandas_s / total_s:.2f}"
    )
    print(
        f"columnar: upwell compute_view (12 windowed features, 2 views) {kernel_s:.2f} s "
        f"({rate(n, kernel_s)} rows/s) | {pandas} | ratio {pandas_s / kernel_s:.2f}"
    )


# ---- profile of the per-event path -----------------------------------------------------------


def profile(args: argparse.Namespace, frame: pd.DataFrame) -> None:
    service, _ = _service(args)
    rows = min(args.profile, len(frame))
    stream = make_stream(frame.iloc[:rows])
    contender = upwell_contender(service, durable=args.profile_disk)
    timed_run(contender, stream.events[:WARM_ROWS])
    step, close = contender.make()
    profiler = cProfile.Profile()
    profiler.enable()
    for event in stream.events:
        step(event)
    profiler.disable()
    close()
    print(f"\n[profile] cProfile of {contender.name} push + get_features, first {rows:,} rows")
    stats = pstats.Stats(profiler, stream=sys.stdout)
    stats.sort_stats("tottime").print_stats(30)
    stats.sort_stats("cumulative").print_stats(30)
    if args.profile_out:
        profiler.dump_stats(args.profile_out)
        print(f"profile written to {args.profile_out} (python -m pstats {args.profile_out})")


# ---- main ------------------------------------------------------------------------------------


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument(
        "--rows", type=int, default=None, help="use the first N transactions (default all)"
    )
    p.add_argument(
        "--per-event-rows",
        type=int,
        default=400_000,
        help="per-event runs use the first M of those rows; 0 = all (default 400,000)",
    )
    p.add_argument("--quick", action="store_true", help="smoke run: 50,000 rows, 20,000 per event")
    p.add_argument("--repeat", type=int, default=1, help="timed runs per contender (median)")
    p.add_argument("--only", default="per-event,columnar", help="sections: per-event,columnar")
    p.add_argument("--windowed-only", action="store_true", help="the 12 windowed features only")
    p.add_argument("--skip-river", action="store_true", help="leave River out (it is slow)")
    p.add_argument("--profile", type=int, default=0, help="also cProfile N per-event rows")
    p.add_argument("--profile-disk", action="store_true", help="profile the durable store")
    p.add_argument("--profile-out", default=None, help="write the cProfile stats to this file")
    args = p.parse_args(argv)
    if args.quick:
        args.rows = args.rows or 50_000
        args.per_event_rows = min(args.per_event_rows, 20_000)
    return args


def describe() -> None:
    try:
        import river  # noqa: PLC0415 (versions only)

        river_version = river.__version__
    except ImportError:
        river_version = "not installed (use --skip-river)"
    print(
        f"upwell {uw.__version__}, python {platform.python_version()}, numpy {np.__version__}, "
        f"pandas {pd.__version__}, river {river_version}; {os.cpu_count()} CPUs, "
        f"load {os.getloadavg()[0]:.2f}; clock time.perf_counter; garbage collector on"
    )
    print(
        f"values must agree within {TOLERANCE:g} * max(1, |pandas value|) before a timing is"
        " printed; timed runs start from empty state and re-check their last"
        f" {TAIL:,} rows"
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    describe()
    frame, origin = fd.load_transactions(args.rows)
    print(f"data: {len(frame):,} transactions from {origin}")
    sections = set(args.only.split(","))
    ok = True
    if sections & {"per-event", "columnar"}:
        _, names = _service(args)
        pandas_features(frame.iloc[:WARM_ROWS], names)  # warm-up, discarded
        started = time.perf_counter()
        reference = pandas_features(frame, names)
        pandas_s = [time.perf_counter() - started]
        print(
            f"reference: pandas groupby().rolling() on all {len(frame):,} rows, {pandas_s[0]:.2f} s"
        )
        if "per-event" in sections:
            ok = per_event(args, frame, reference) and ok
        if "columnar" in sections:
            ok = columnar(args, frame, reference, pandas_s) and ok
    if args.profile:
        profile(args, frame)
    print(f"\nload average at the end: {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs)")
    if not ok:
        print("\nSOME VALUES DIFFER: their timings were not printed", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
