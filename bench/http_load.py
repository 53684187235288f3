"""An HTTP/1.1 load generator for ``bench/serving.py``: standard library only.

It POSTs JSON bodies (one per line of a file, taken in turn) over a few keep-alive
connections and prints one JSON object with the results.

Open loop (``--rate R``): request ``i`` is due at ``start + i / R`` whatever happened to
the requests before it. A connection takes the next due request when it is free, so when
every connection is busy a request waits, and its latency counts from the time it was due
(queueing included, no coordinated omission). The latency from the moment it was written
to the socket is reported beside it, and so is the sender's lag (written minus due), which
the event loop's timer resolution (about 1 ms) bounds when the sender keeps up.

Closed loop (``--rate 0``): each connection sends its next request as soon as the answer
to the last one arrives; the result is the most the server answers with that many
connections.

The first ``--warmup`` seconds are sent but left out of the figures. Requests still
unanswered ``--grace`` seconds after the last one was due are counted as unfinished. The
achieved rate is the counted answers over the time from the first one's due time to the
last answer. A run is marked overloaded when more than 0.1% are unfinished, the achieved
rate is below 95% of the asked one, or the last answer came more than 1 s after the last
request was due: the server did not keep up, and the percentiles then describe a queue
that grew during the run.

Usage: python bench/http_load.py --url http://127.0.0.1:8000/v1/score --bodies FILE
           [--rate 1000] [--duration 10] [--warmup 2] [--connections 8]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

PERCENTILES = (50.0, 99.0, 99.9)
BACKLOG_S = 1.0
"""Open loop: a run whose last answer came this long after the last due time fell behind."""


class Connection(asyncio.Protocol):
    """One keep-alive connection with at most one request in flight."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment] (a stream transport)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.waiter is None or self.waiter.done():
            return
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        lines = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
        length = next(
            (
                int(v)
                for k, _, v in (x.partition(":") for x in lines[1:])
                if k.lower() == "content-length"
            ),
            None,
        )
        if length is None:
            msg = "a response without Content-Length"
            self.waiter.set_exception(ConnectionError(msg))
            return
        total = end + 4 + length
        if len(self.buffer) >= total:
            body = bytes(self.buffer[end + 4 : total])
            del self.buffer[:total]
            self.waiter.set_result((int(lines[0].split(" ", 2)[1]), body))

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self.waiter is not None and not self.waiter.done():
            msg = f"connection lost: {exc}"
            self.waiter.set_exception(ConnectionError(msg))

    async def request(self, data: bytes) -> tuple[int, bytes]:
        if self.transport is None:
            msg = "connection closed"
            raise ConnectionError(msg)
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        return await self.waiter


@dataclass
class Tally:
    """What the counted (post-warm-up) requests did; times in seconds."""

    due_latency: list[float] = field(default_factory=list)
    wire_latency: list[float] = field(default_factory=list)
    lag: list[float] = field(default_factory=list)
    ok: int = 0
    first: float = float("inf")
    """When the first counted request was due (open loop) or sent (closed loop)."""
    last: float = float("-inf")
    """When the last counted answer arrived."""
    last_due: float = float("-inf")
    """When the last counted request was due."""
    answered: int = 0
    """Every 200 answer, warm-up included (for the server's CPU per request)."""
    errors: int = 0
    first_error: str = ""

    def record(self, due: float, sent: float, done: float, status: int, body: bytes) -> None:
        self.first, self.last = min(self.first, due), max(self.last, done)
        self.last_due = max(self.last_due, due)
        if status == 200:
            self.ok += 1
            self.due_latency.append(done - due)
            self.wire_latency.append(done - sent)
            self.lag.append(sent - due)
        else:
            self.fail(f"HTTP {status}: {body[:300]!r}")

    def fail(self, what: str) -> None:
        self.errors += 1
        self.first_error = self.first_error or what


def encode_requests(url: str, bodies: list[bytes]) -> list[bytes]:
    parts = urlsplit(url)
    head = (
        f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: application/json\r\n"
    )
    return [(head + f"Content-Length: {len(b)}\r\n\r\n").encode() + b for b in bodies]


async def connect(url: str) -> Connection:
    parts = urlsplit(url)
    loop = asyncio.get_running_loop()
    _, conn = await loop.create_connection(Connection, parts.hostname, parts.port)
    return conn


def close_all(conns: list[Connection]) -> None:
    for conn in conns:
        if conn.transport is not None:
            conn.transport.close()


async def run_open(a: argparse.Namespace, requests: list[bytes], tally: Tally) -> float:
    """Send ``rate`` requests a second on schedule; returns the counted span in seconds."""
    loop = asyncio.get_running_loop()
    conns = [await connect(a.url) for _ in range(a.connections)]
    total, warm = round(a.rate * (a.warmup + a.duration)), round(a.rate * a.warmup)
    start = loop.time() + 0.05
    stop = start + total / a.rate + a.grace
    cursor = [0]

    async def worker(k: int) -> None:
        while cursor[0] < total:
            i = cursor[0]
            cursor[0] += 1
            due = start + i / a.rate
            if due > loop.time():
                await asyncio.sleep(due - loop.time())
            if loop.time() >= stop:
                return
            sent = loop.time()
            try:
                status, body = await conns[k].request(requests[i % len(requests)])
            except ConnectionError as error:
                if loop.time() >= stop:
                    return  # unanswered when the run ended: counted as unfinished
                if i >= warm:
                    tally.fail(repr(error))
                conns[k] = await connect(a.url)
                continue
            tally.answered += status == 200
            if i >= warm:
                tally.record(due, sent, loop.time(), status, body)

    timer = loop.call_at(stop, close_all, conns)
    await asyncio.gather(*(worker(k) for k in range(len(conns))))
    timer.cancel()
    close_all(conns)
    return a.duration


async def run_closed(a: argparse.Namespace, requests: list[bytes], tally: Tally) -> float:
    """Each connection sends back to back; returns the counted span in seconds."""
    loop = asyncio.get_running_loop()
    conns = [await connect(a.url) for _ in range(a.connections)]
    begin = loop.time()
    counted, end = begin + a.warmup, begin + a.warmup + a.duration

    async def worker(k: int) -> None:
        i = k
        while (sent := loop.time()) < end:
            i += len(conns)
            try:
                status, body = await conns[k].request(requests[i % len(requests)])
            except ConnectionError as error:
                tally.fail(repr(error))
                conns[k] = await connect(a.url)
                continue
            tally.answered += status == 200
            if sent >= counted:
                tally.record(sent, sent, loop.time(), status, body)

    await asyncio.gather(*(worker(k) for k in range(len(conns))))
    close_all(conns)
    return end - counted


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile (the value at rank ceil(q/100 * n)); NaN when empty."""
    if not sorted_values:
        return float("nan")
    rank = max(1, -(-len(sorted_values) * q // 100))
    return sorted_values[min(len(sorted_values), int(rank)) - 1]


def summary(a: argparse.Namespace, tally: Tally, span: float, cpu: float) -> dict[str, object]:
    due, wire, lag = (sorted(x) for x in (tally.due_latency, tally.wire_latency, tally.lag))
    scheduled = round(a.rate * a.duration) if a.rate else None
    unfinished = 0 if scheduled is None else scheduled - tally.ok - tally.errors
    backlog = max(0.0, tally.last - tally.last_due) if tally.ok else 0.0
    if a.rate and tally.ok:  # the rate answers arrived at, however late
        span = max(tally.last - tally.first, a.duration)
    out: dict[str, object] = {
        "rate": a.rate,
        "connections": a.connections,
        "duration_s": span,
        "scheduled": scheduled,
        "ok": tally.ok,
        "answered": tally.answered,
        "errors": tally.errors,
        "unfinished": unfinished,
        "backlog_s": backlog,
        "overloaded": bool(a.rate)
        and (
            unfinished > max(1, 0.001 * (scheduled or 0))
            or tally.ok / span < 0.95 * a.rate
            or backlog > BACKLOG_S
        ),
        "throughput": tally.ok / span,
        "first_error": tally.first_error,
        "generator_cpu_s": cpu,
    }
    for q in PERCENTILES:
        out[f"p{q:g}_ms"] = percentile(due, q) * 1000
        out[f"wire_p{q:g}_ms"] = percentile(wire, q) * 1000
    out["lag_p99_ms"] = percentile(lag, 99.0) * 1000
    out["max_ms"] = (due[-1] if due else float("nan")) * 1000
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--url", required=True, help="the full URL to POST to")
    p.add_argument("--bodies", required=True, help="a file with one JSON body per line")
    p.add_argument("--rate", type=float, default=1000.0, help="requests/s; 0 = closed loop")
    p.add_argument("--duration", type=float, default=10.0, help="counted seconds")
    p.add_argument("--warmup", type=float, default=2.0, help="seconds sent first, not counted")
    p.add_argument("--connections", type=int, default=8)
    p.add_argument("--grace", type=float, default=5.0, help="open loop: wait this long at the end")
    a = p.parse_args(argv)
    bodies = [line.encode() for line in Path(a.bodies).read_text().splitlines() if line.strip()]
    requests = encode_requests(a.url, bodies)
    tally = Tally()
    cpu = time.process_time()
    runner = run_open if a.rate > 0 else run_closed
    span = asyncio.run(runner(a, requests, tally))
    print(json.dumps(summary(a, tally, span, time.process_time() - cpu)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
