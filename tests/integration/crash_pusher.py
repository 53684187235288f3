"""A process that pushes events into a durable FeatureStore until it is killed.

Run as ``python crash_pusher.py STORE_DIR``; once imported it reads a plan, one JSON
line on stdin, before it opens the store (so a parent can start it while the previous
process's store is still being checked). The plan gives a seed, the first fresh event
id, and events to push again first (redeliveries). Before every push
the program writes ``PUSH <source> <ids>`` to stdout, and once ``push()`` has returned
``ACK <source> <accepted> <duplicates> <late> <ids>``; each line is flushed at once, so
every ACK the parent reads names events that were acknowledged before the kill.
``FLUSH``/``CKPT`` lines bracket log flushes and snapshots.

Event contents are a pure function of (source, id), so the parent can rebuild any
event it was told about and check what the log holds field by field.
"""

from __future__ import annotations

import json
import random
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import upwell as uw

T0 = datetime(2024, 3, 1, tzinfo=UTC)
STEP_MS = 20_000
JITTER_MS = 30 * 60_000
LATENESS = "2h"
SLIDING = "1h"
CUSTOMERS = 5
SOURCES = ("tx", "clicks")
ID_FIELD = {"tx": "tid", "clicks": "click_id"}


def definitions() -> list[Any]:
    """Two sources on one entity, so write-ahead records of both interleave."""
    customer = uw.Entity(name="customer", keys=("cid",))
    tx = uw.EventSource(
        name="tx",
        schema={"tid": int, "cid": int, "amount": float, "ts": datetime},
        timestamp="ts",
        event_id="tid",
        entities=(customer,),
        allowed_lateness=LATENESS,
    )
    clicks = uw.EventSource(
        name="clicks",
        schema={"click_id": int, "cid": int, "page": str, "ts": datetime},
        timestamp="ts",
        event_id="click_id",
        entities=(customer,),
        allowed_lateness=LATENESS,
    )
    spend = uw.FeatureView(
        name="spend",
        entity=customer,
        source=tx,
        features=(
            uw.Feature(name="n_life", aggregation=uw.Count()),
            uw.Feature(name="sum_life", aggregation=uw.Sum("amount")),
            uw.Feature(name="mean_life", aggregation=uw.Mean("amount")),
            uw.Feature(name="n_1h", aggregation=uw.Count(), window=SLIDING),
            uw.Feature(name="sum_1h", aggregation=uw.Sum("amount"), window=SLIDING),
            uw.Feature(name="mean_1h", aggregation=uw.Mean("amount"), window=SLIDING),
        ),
    )
    activity = uw.FeatureView(
        name="activity",
        entity=customer,
        source=clicks,
        features=(
            uw.Feature(name="n_life", aggregation=uw.Count()),
            uw.Feature(name="n_1h", aggregation=uw.Count(), window=SLIDING),
        ),
    )
    return [spend, activity]


def event(source: str, event_id: int) -> dict[str, Any]:
    """The event with this id: the same fields every time it is (re)delivered."""
    rng = random.Random(f"{source}:{event_id}")
    ts = T0 + timedelta(milliseconds=event_id * STEP_MS - rng.randrange(JITTER_MS))
    row: dict[str, Any] = {ID_FIELD[source]: event_id, "cid": rng.randrange(CUSTOMERS), "ts": ts}
    if source == "tx":
        row["amount"] = round(rng.uniform(0.0, 100.0), 2)
    else:
        row["page"] = rng.choice(["home", "cart", "pay", "ü-page"])
    return row


def _emit(*parts: object) -> None:
    sys.stdout.write(" ".join(str(p) for p in parts) + "\n")
    sys.stdout.flush()


def _push(store: uw.FeatureStore, source: str, ids: list[int]) -> None:
    rows = [event(source, i) for i in ids]
    _emit("PUSH", source, *ids)
    result = store.push(source, rows[0] if len(rows) == 1 else rows)
    _emit("ACK", source, result.accepted, result.duplicates, result.late, *ids)


def _step(
    store: uw.FeatureStore, rng: random.Random, next_id: int, recent: dict[str, list[int]]
) -> int:
    roll = rng.random()
    if roll < 0.015:
        _emit("FLUSH-BEGIN")
        store.log.flush()
        _emit("FLUSH-END")
        return next_id
    if roll < 0.03:
        _emit("CKPT-BEGIN")
        store.checkpoint()
        _emit("CKPT-END")
        return next_id
    source = rng.choice(SOURCES)
    size = 1 if rng.random() < 0.5 else rng.randint(2, 8)
    ids = list(range(next_id, next_id + size))
    if rng.random() < 0.15:
        ids.append(ids[0])  # the same event twice in one batch
    mine = recent.setdefault(source, [])
    if mine and rng.random() < 0.15:
        ids.append(rng.choice(mine))  # an event this process pushed before
    _push(store, source, ids)
    mine.extend(range(next_id, next_id + size))
    del mine[:-50]
    return next_id + size


def main(directory: str) -> None:
    """Read the plan, open the store, push the redeliveries, then fresh events forever."""
    plan = json.loads(sys.stdin.readline())
    rng = random.Random(plan["seed"])
    store = uw.FeatureStore(definitions(), path=directory)
    _emit("READY")
    for source, ids in plan["redeliver"]:
        _push(store, source, ids)
    _emit("REDELIVERED")
    next_id = plan["first_id"]
    recent: dict[str, list[int]] = {}
    while True:
        next_id = _step(store, rng, next_id, recent)


if __name__ == "__main__":
    main(sys.argv[1])
