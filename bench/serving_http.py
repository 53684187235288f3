"""The HTTP half of ``bench/serving.py``, and the Feast peer it runs beside upwell.

Each server runs in its own process (``upwell serve``; ``feast serve``); the load generator
(``bench/http_load.py``, and ``wrk`` for the closed loop when it is installed) in another.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
TARGET_HTTP_P99_MS, TARGET_HTTP_RATE = 3.0, 2000.0
Compare = Callable[[list[dict[str, Any]], list[dict[str, Any]], str], bool]
WRK_LUA = """
local bodies, i = {}, 0
function init(args)
  for line in io.lines(args[1]) do bodies[#bodies + 1] = line end
  i = math.random(#bodies)
end
function request()
  i = i % #bodies + 1
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, bodies[i])
end
"""
LOOP_CHECK = (
    "import importlib.util as u; print('uvloop' if u.find_spec('uvloop') else 'asyncio',"
    " 'httptools' if u.find_spec('httptools') else 'h11', sep=' + ')"
)


@dataclass
class Reference:
    """What upwell returned in process for the first rows: every other answer must equal it."""

    rows: list[dict[str, Any]]
    values: list[dict[str, Any]]
    scores: list[float]
    feast_rows: list[dict[str, Any]] = field(default_factory=list)


# ---- processes ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its children (a gunicorn worker)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return float("nan")
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(stat[11]) + int(stat[12])) / ticks + sum(cpu_seconds(int(c)) for c in children)


@contextmanager
def server(
    command: list[str], ready: str, log: Path, env: dict[str, str] | None = None
) -> Iterator[tuple[str, int]]:
    """Run a server (its command ends with the port option) until the block ends."""
    port = free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*command, str(port)], stdout=out, stderr=subprocess.STDOUT, env=env
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_ready(url + ready, process, log)
            yield url, process.pid
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()


def wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            msg = f"server exited with {process.returncode}: {log.read_text()[-2000:]}"
            raise RuntimeError(msg)
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    msg = f"{url} not ready after 120 s"
    raise TimeoutError(msg)


# ---- the Feast peer ----------------------------------------------------------------------


@dataclass
class FeastPeer:
    """Feast in its own venv, driven through ``bench/feast_peer.py``."""

    python: str | None
    why: str = ""
    repos: dict[str, Path] = field(default_factory=dict)
    """Prepared repos whose values were checked equal to upwell's, by online store."""

    @classmethod
    def find(cls, python: str, skip: bool) -> FeastPeer:
        if skip:
            return cls(None, "--skip-feast")
        if not Path(python).is_file():
            why = (
                f"{python} not found; create it with: python3 -m venv /tmp/peers/venv-feast &&"
                " /tmp/peers/venv-feast/bin/pip install 'feast[redis,duckdb]'"
            )
            return cls(None, why)
        return cls(python)

    def call(self, *args: str) -> dict[str, Any]:
        command = [str(self.python), str(HERE / "feast_peer.py"), *args]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            msg = f"feast_peer.py {args[0]} failed: {done.stderr[-3000:]}"
            raise RuntimeError(msg)
        return json.loads(done.stdout.strip().splitlines()[-1])

    def in_process(
        self, args: Any, root: Path, end: Any, ref: Reference, compare: Compare
    ) -> dict[str, Any]:
        """Prepare, check and time Feast's ``get_online_features`` (sqlite, then Redis)."""
        if self.python is None:
            print(f"\nFeast baseline skipped: {self.why}")
            return {}
        rows_file, check_file = root / "feast-rows.json", root / "feast-check.json"
        rows_file.write_text(json.dumps(ref.feast_rows))
        check_file.write_text(json.dumps(ref.feast_rows[: len(ref.values)]))
        stores = ["sqlite"] + (["redis"] if args.redis and reachable(args.redis) else [])
        out: dict[str, Any] = {"ok": True}
        for online in stores:
            repo = root / f"feast-{online}"
            ready = self.call(
                "prepare", "--repo", str(repo), "--data", str(root / "feast-data"),
                "--end", end.isoformat(), "--online", online, "--redis", args.redis,
                "--project", f"upwell_bench_{online}_{os.getpid()}", "--rows", str(check_file),
            )  # fmt: skip
            print(
                f"\nFeast {ready['feast']} ({online} online store, file offline store):"
                f" materialized {ready['entities']:,} entities in {ready['materialize_s']:.2f} s"
            )
            try:
                if not compare(ref.values, ready["values"], f"Feast {online} get_online_features"):
                    out["ok"] = False
                    continue
                self.repos[online] = repo
                timed = self.call(
                    "time", "--repo", str(repo), "--rows", str(rows_file),
                    "--calls", str(args.feast_calls),
                )  # fmt: skip
            finally:
                if online == "redis":
                    self.call("teardown", "--repo", str(repo))
            for what, label in (("all", "15 features"), ("stored", "12 stored features only")):
                out[online if what == "all" else f"{online}_stored"] = r = timed[what]
                print(
                    f"in-process Feast {online} get_online_features ({label}): p50"
                    f" {r['p50']:,.1f} µs | p99 {r['p99']:,.1f} µs | p99.9 {r['p99.9']:,.1f} µs"
                    f" ({r['calls']:,} calls; CPU {r['cpu_s']:.2f} s of {r['wall_s']:.2f} s wall)"
                )
        return out

    def loop(self) -> str:
        command = [str(self.python), "-c", LOOP_CHECK]
        return subprocess.run(command, capture_output=True, text=True, check=False).stdout.strip()


def reachable(address: str) -> bool:
    host, _, port = address.partition(":")
    try:
        with socket.create_connection((host, int(port or 6379)), timeout=1.0):
            return True
    except OSError:
        return False


# ---- request bodies and checks -----------------------------------------------------------


def iso(when: Any) -> str:
    return when.isoformat().replace("+00:00", "Z")


def upwell_entity(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "CUSTOMER_ID": int(row["CUSTOMER_ID"]),
        "TERMINAL_ID": int(row["TERMINAL_ID"]),
        "TX_AMOUNT": float(row["TX_AMOUNT"]),
        "TX_DATETIME": iso(row["TX_DATETIME"]),
    }


def write_bodies(root: Path, rows: list, feast_rows: list, end: Any) -> dict[str, Path]:
    """One JSON body per line, one entity row per request, for each route."""
    as_of = iso(end)
    bodies = {
        "score": [{"model": "fraud", "entities": [upwell_entity(r)], "as_of": as_of} for r in rows],
        "features": [
            {"features": "fraud_detection", "entities": [upwell_entity(r)], "as_of": as_of}
            for r in rows
        ],
        "feast": [
            {"feature_service": "fraud_detection", "entities": {k: [v] for k, v in r.items()}}
            for r in feast_rows
        ],
    }
    files = {}
    for name, items in bodies.items():
        files[name] = root / f"bodies-{name}.jsonl"
        files[name].write_text("\n".join(json.dumps(b, separators=(",", ":")) for b in items))
    return files


def check_upwell(url: str, ref: Reference, end: Any) -> bool:
    """The first score (timed: the model loads then), then every row's features and score."""
    entities = [upwell_entity(r) for r in ref.rows]
    with httpx.Client(timeout=120) as client:
        started = time.perf_counter()
        first = client.post(
            f"{url}/v1/score", json={"model": "fraud", "entities": entities[:1], "as_of": iso(end)}
        )
        first_s = time.perf_counter() - started
        body = {"features": "fraud_detection", "entities": entities, "as_of": iso(end)}
        features = client.post(f"{url}/v1/features", json=body).json()["features"]
        body = {"model": "fraud", "entities": entities, "as_of": iso(end)}
        answer = client.post(f"{url}/v1/score", json=body).json()["predictions"]
    print(
        f"  the first POST /v1/score after /readyz answered {first.status_code} in"
        f" {first_s * 1000:,.0f} ms (the champion is loaded on first use)"
    )
    same_values, same_scores = features == ref.values, [p["score"] for p in answer] == ref.scores
    print(
        f"  check: /v1/features for {len(entities)} rows vs in-process get_features:"
        f" {'equal' if same_values else 'DIFFER'}; /v1/score vs in-process score:"
        f" {'equal' if same_scores else 'DIFFER'}"
    )
    return same_values and same_scores


def check_feast_http(url: str, ref: Reference, compare: Compare) -> bool:
    values = []
    with httpx.Client(timeout=60) as client:
        for row in ref.feast_rows[: len(ref.values)]:
            entities = {k: [v] for k, v in row.items()}
            body = {"feature_service": "fraud_detection", "entities": entities}
            answer = client.post(f"{url}/get-online-features", json=body).json()
            names = answer["metadata"]["feature_names"]
            values.append(
                {n: r["values"][0] for n, r in zip(names, answer["results"], strict=True)}
            )
    return compare(ref.values, values, "feast serve POST /get-online-features")


# ---- load runs ---------------------------------------------------------------------------


def load(args: Any, url: str, bodies: Path, rate: float, pid: int) -> dict[str, Any]:
    duration = args.closed_duration if rate == 0 else args.duration
    command = [
        sys.executable, str(HERE / "http_load.py"), "--url", url, "--bodies", str(bodies),
        "--rate", str(rate), "--duration", str(duration), "--warmup", str(args.warmup),
        "--connections", str(args.connections), "--grace", str(args.grace),
    ]  # fmt: skip
    cpu = cpu_seconds(pid)
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=900)
    if done.returncode != 0:
        msg = f"http_load.py failed: {done.stderr[-3000:]}"
        raise RuntimeError(msg)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["server_cpu_us"] = (cpu_seconds(pid) - cpu) / max(1, result["answered"]) * 1e6
    return result


def wrk(args: Any, url: str, bodies: Path, root: Path) -> dict[str, Any] | None:
    """Closed loop with ``wrk`` (one thread), when it is installed."""
    binary = shutil.which("wrk")
    if binary is None:
        return None
    script = root / "bodies.lua"
    script.write_text(WRK_LUA)
    duration = max(1, round(args.closed_duration))
    command = [binary, "-t1", f"-c{args.connections}", f"-d{duration}s", "--latency", "-s",
               str(script), url, "--", str(bodies)]  # fmt: skip
    text = subprocess.run(command, capture_output=True, text=True, check=False).stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", text)
    if rate is None:
        print(f"  wrk gave no result: {text[-500:]}")
        return None
    scale = {"us": 1e-3, "ms": 1.0, "s": 1e3}
    found = {
        pct: float(value) * scale[unit]
        for pct, value, unit in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
    }
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses:\s+(\d+)", text))
    socket_errors = re.search(r"Socket errors:(.*)", text)
    return {
        "throughput": float(rate.group(1)),
        "p50_ms": found.get("50", float("nan")),
        "p99_ms": found.get("99", float("nan")),
        "errors": errors,
        "socket_errors": socket_errors.group(1).strip() if socket_errors else "none",
    }


def line(label: str, r: dict[str, Any]) -> str:
    if not r["ok"]:
        return f"{label}: none of {r['scheduled']:,} answered in time ({r['errors']} errors)"
    text = (
        f"{label}: achieved {r['throughput']:,.0f}/s | p50 {r['p50_ms']:,.2f} ms | p99"
        f" {r['p99_ms']:,.2f} ms | p99.9 {r['p99.9_ms']:,.2f} ms | max {r['max_ms']:,.1f} ms |"
        f" errors {r['errors']}"
    )
    if r["rate"]:
        text += (
            f" | unfinished {r['unfinished']:,} (from send: p50 {r['wire_p50_ms']:,.2f} ms, p99"
            f" {r['wire_p99_ms']:,.2f} ms; queued before send p99 {r['lag_p99_ms']:,.2f} ms;"
            f" last answer {r['backlog_s']:,.2f} s after the last due time"
        )
    else:
        text += " (closed loop"
    text += f"; server CPU {r['server_cpu_us']:,.0f} µs/request)"
    if r["overloaded"]:
        text += "\n    OVERLOADED: it did not keep up; percentiles are over the answered requests"
    if r["errors"]:
        text += f"\n    first error: {r['first_error']}"
    return text


def drive(args: Any, label: str, url: str, bodies: Path, pid: int, root: Path) -> dict[Any, Any]:
    """Every open-loop rate, then the closed loop (Python generator, and wrk if installed)."""
    results: dict[Any, Any] = {}
    for rate in args.rates:
        results[rate] = r = load(args, url, bodies, rate, pid)
        print(line(f"{label} @ {rate:,.0f}/s", r), flush=True)
    results["closed"] = r = load(args, url, bodies, 0, pid)
    print(line(f"{label}, closed loop, {args.connections} connections, Python generator", r))
    results["wrk"] = w = wrk(args, url, bodies, root)
    if w is not None:
        print(
            f"{label}, closed loop, {args.connections} connections, wrk: {w['throughput']:,.0f}/s"
            f" | p50 {w['p50_ms']:,.2f} ms | p99 {w['p99_ms']:,.2f} ms | non-2xx {w['errors']} |"
            f" socket errors {w['socket_errors']}",
            flush=True,
        )
    return results


def run_http(
    args: Any, world: Any, feast: FeastPeer, root: Path, ref: Reference, compare: Compare
) -> bool:
    """Serve, check and load upwell, then Feast; print the figures and the ratios."""
    files = write_bodies(root, world.rows, ref.feast_rows, world.end)
    rates = ", ".join(f"{r:,.0f}" for r in args.rates)
    print(
        f"\n[2] HTTP: one entity row per request (bodies taken in turn from {len(world.rows):,}"
        f" rows); open loop at {rates} requests/s, {args.duration:g} s counted after"
        f" {args.warmup:g} s warm-up, {args.connections} keep-alive connections; latency from"
        " each request's due time, so queueing counts; the load generator runs in its own"
        " process"
    )
    command = [sys.executable, "-m", "upwell.cli", "serve", "--project", str(world.project)]
    env = dict(os.environ)
    if args.server_path:  # e.g. a directory with uvloop and httptools (pip install --target)
        env["PYTHONPATH"] = os.pathsep.join([args.server_path, env.get("PYTHONPATH", "")])
    ours: dict[str, Any] = {}
    log = root / "upwell-serve.log"
    with server([*command, "--port"], "/readyz", log, env) as (url, pid):
        print(f"upwell serve: uvicorn, one process, {uvicorn_loop(args.server_path)}")
        if not check_upwell(url, ref, world.end):
            return False
        for route in ("score", "features"):
            label = f"http upwell POST /v1/{route}"
            ours[route] = drive(args, label, f"{url}/v1/{route}", files[route], pid, root)
    theirs: dict[Any, Any] = {}
    ok = True
    if "sqlite" in feast.repos:
        binary = str(Path(str(feast.python)).parent / "feast")
        command = [binary, "-c", str(feast.repos["sqlite"]), "serve", "--no-access-log",
                   "--workers", "1", "--max-requests", "0", "-p"]  # fmt: skip
        with server(command, "/health", root / "feast-serve.log") as (url, pid):
            print(
                "feast serve: gunicorn with one uvicorn worker (no restarts: --max-requests 0),"
                f" {feast.loop()}, sqlite online store"
            )
            ok = check_feast_http(url, ref, compare)
            if ok:
                label, target = "http Feast POST /get-online-features", f"{url}/get-online-features"
                theirs = drive(args, label, target, files["feast"], pid, root)
    else:
        print(f"Feast HTTP baseline skipped: {feast.why or 'its values differ from upwell'}")
    report_http(args, ours, theirs)
    return ok


def uvicorn_loop(extra: str) -> str:
    """The event loop and HTTP parser uvicorn's "auto" picks for the server."""

    def found(name: str) -> bool:
        on_path = bool(extra) and (Path(extra) / name).is_dir()
        return on_path or importlib.util.find_spec(name) is not None

    loop = "uvloop" if found("uvloop") else "asyncio"
    parser = "httptools" if found("httptools") else "h11"
    return f"{loop} + {parser}" + (f" (with {extra} on its path)" if extra else "")


def report_http(args: Any, ours: dict[str, Any], theirs: dict[Any, Any]) -> None:
    if theirs:
        print(
            "\nHTTP, ratios (latency: Feast / upwell, > 1 means upwell is faster; closed-loop"
            " throughput: upwell / Feast, > 1 means upwell answers more)"
        )
    features = ours.get("features", {})
    for rate in args.rates:
        if rate in theirs and rate in features:
            a, b = features[rate], theirs[rate]
            if a["overloaded"] or b["overloaded"]:
                who = " and ".join(n for n, r in (("upwell", a), ("Feast", b)) if r["overloaded"])
                print(f"http features @ {rate:,.0f}/s: no ratio, {who} did not keep up")
                continue
            print(
                f"http features @ {rate:,.0f}/s: upwell p50 {a['p50_ms']:,.2f} ms, p99"
                f" {a['p99_ms']:,.2f} ms | Feast p50 {b['p50_ms']:,.2f} ms, p99"
                f" {b['p99_ms']:,.2f} ms | ratio p50 {b['p50_ms'] / a['p50_ms']:.1f}, p99"
                f" {b['p99_ms'] / a['p99_ms']:.1f}"
            )
    for key, label in (("closed", "Python generator"), ("wrk", "wrk")):
        a, b = features.get(key), theirs.get(key)
        if a and b:
            print(
                f"http features, most requests/s ({label}, closed loop): upwell"
                f" {a['throughput']:,.0f}/s | Feast {b['throughput']:,.0f}/s | ratio"
                f" {a['throughput'] / b['throughput']:.1f}"
            )
    target = ours.get("score", {}).get(TARGET_HTTP_RATE)
    if target is not None and not target["ok"]:
        print(
            f"target (DESIGN.md) HTTP score p99 <= {TARGET_HTTP_P99_MS:g} ms at"
            f" {TARGET_HTTP_RATE:,.0f} requests/s: upwell answered none in time"
        )
    elif target is not None:
        print(
            f"target (DESIGN.md) HTTP score p99 <= {TARGET_HTTP_P99_MS:g} ms at"
            f" {TARGET_HTTP_RATE:,.0f} requests/s: upwell p99 {target['p99_ms']:,.2f} ms"
            f" ({target['p99_ms'] / TARGET_HTTP_P99_MS:,.2f} x target), achieved"
            f" {target['throughput']:,.0f}/s, errors {target['errors']}, unfinished"
            f" {target['unfinished']:,}{' (did not keep up)' if target['overloaded'] else ''}"
        )
