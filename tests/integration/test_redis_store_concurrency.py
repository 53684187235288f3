"""Several processes apply the same events to one Redis namespace at once: each once.

Three worker processes (this module run as a script) open one namespace and push the
same 400 events, each in its own shuffled order and batching, as a broker consumer
group would after rebalances: check a batch, take global log positions, apply what was
accepted (one by one, or the batch at once). Each also applies a fifth of the events
again without checking (two workers that both passed the check before either recorded
it). Few entities, so updates of one
entity constantly race.

Afterwards every feature equals an embedded store fed each event once, bit for bit,
and a pandas oracle; every event id is admitted; the global positions are unique.

Run as ``python test_redis_store_concurrency.py URL PREFIX WORKER``.
"""

from __future__ import annotations

import random
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

import upwell as uw
from upwell.engine.admission import Verdict
from upwell.stores.memory import MemoryStore
from upwell.stores.redis import RedisStore

HOUR = 3_600_000
T0 = 1_704_067_200_000
N_EVENTS = 400
WORKERS = 3
CUSTOMER = uw.Entity(name="customer", keys=("cid",))
TX = uw.EventSource(
    name="tx",
    schema={"tid": int, "cid": int, "amount": float, "ts": datetime},
    timestamp="ts",
    event_id="tid",
    entities=(CUSTOMER,),
    allowed_lateness="30d",  # a shuffled delivery is never late
)
WINDOWS = {"1h": HOUR, "1d": 24 * HOUR, "life": None}
VIEW = uw.FeatureView(
    name="spend",
    entity=CUSTOMER,
    source=TX,
    features=[
        feature
        for label, window in WINDOWS.items()
        for feature in (
            uw.Feature(name=f"n_{label}", aggregation=uw.Count(), window=window),
            uw.Feature(name=f"sum_{label}", aggregation=uw.Sum("amount"), window=window),
            uw.Feature(name=f"max_{label}", aggregation=uw.Max("amount"), window=window),
            uw.Feature(name=f"last_{label}", aggregation=uw.Last("amount"), window=window),
        )
    ],
)
REGISTRY = uw.validate([VIEW])


def events() -> list[dict[str, Any]]:
    """Distinct times (so the order of ties cannot differ), three customers."""
    rng = random.Random(7)
    times = sorted(rng.sample(range(T0, T0 + 3 * 24 * HOUR), N_EVENTS))
    return [
        {"tid": i, "cid": rng.randrange(3), "amount": round(rng.uniform(-20, 80), 2), "ts": ts}
        for i, ts in enumerate(times)
    ]


def work(url: str, prefix: str, worker: int) -> None:
    """One worker: wait for the start signal, then push every event in its own order."""
    rng = random.Random(worker)
    order = events()
    rng.shuffle(order)
    store = RedisStore(REGISTRY, url, prefix=prefix, writer=f"worker-{worker}")
    client = store.connection.client
    client.rpush(f"{prefix}:ready", worker)
    client.blpop([f"{prefix}:go"], timeout=60)
    at = 0
    while at < len(order):
        batch = order[at : at + rng.randint(1, 12)]
        at += len(batch)
        verdicts = store.check("tx", [e["ts"] for e in batch], [e["tid"] for e in batch])
        accepted = [e for e, v in zip(batch, verdicts, strict=True) if v is Verdict.ACCEPTED]
        first = store.next_seq(len(accepted)) if accepted else 0
        if worker % 2:
            for i, event in enumerate(accepted):
                store.apply("tx", event, event["ts"], first + i, event["tid"])
        else:  # a consumer applying its batch at once
            store.apply_many(
                [("tx", e, e["ts"], first + i, e["tid"]) for i, e in enumerate(accepted)]
            )
        for event in batch:
            if rng.random() < 0.2:  # a second delivery racing the first
                store.apply("tx", event, event["ts"], store.next_seq(), event["tid"])
    store.close()
    print(f"worker {worker}: {store.states.conflicts} conflicts")


@pytest.mark.redis
def test_concurrent_workers_apply_each_event_once(tmp_path: Path) -> None:
    from contract.redis_support import RedisNamespace, require_redis  # noqa: PLC0415

    require_redis()
    namespace = RedisNamespace()
    client = namespace.store(REGISTRY).connection.client
    try:
        workers = [
            subprocess.Popen(
                [sys.executable, __file__, namespace.url, namespace.prefix, str(w)],
                cwd=Path(__file__).resolve().parents[2],
            )
            for w in range(WORKERS)
        ]
        for _ in range(WORKERS):
            assert client.blpop([f"{namespace.prefix}:ready"], timeout=60) is not None
        client.rpush(f"{namespace.prefix}:go", *range(WORKERS))
        assert [w.wait(timeout=120) for w in workers] == [0] * WORKERS

        _check_once(namespace.store(REGISTRY), events())
    finally:
        namespace.cleanup()


def _check_once(store: RedisStore, sent: list[dict[str, Any]]) -> None:
    embedded = MemoryStore(REGISTRY)
    for seq, event in enumerate(sent, start=1):
        embedded.apply("tx", event, event["ts"], seq, event["tid"])
    keys = [(c,) for c in range(3)]
    times = [sent[k]["ts"] for k in (0, 57, 199, 200, 333, -1)] + [sent[-1]["ts"] + 2 * HOUR]
    for as_of in times:
        got = store.read("spend", keys, as_of)
        assert got == embedded.read("spend", keys, as_of), as_of
        for (cid,), features in zip(keys, got, strict=True):
            _check_oracle(features, [e for e in sent if e["cid"] == cid], as_of)
    assert store.check("tx", [e["ts"] for e in sent], [e["tid"] for e in sent]) == [
        Verdict.DUPLICATE
    ] * len(sent)
    assert store.watermarks() == {"tx": sent[-1]["ts"]}


def _check_oracle(features: dict[str, Any], mine: list[dict[str, Any]], as_of: int) -> None:
    for label, window in WINDOWS.items():
        lo = -1 if window is None else as_of - window
        inside = [e["amount"] for e in mine if lo < e["ts"] <= as_of]
        assert features[f"n_{label}"] == len(inside)
        assert features[f"sum_{label}"] == pytest.approx(sum(inside), rel=1e-12, abs=1e-9)
        assert features[f"max_{label}"] == (max(inside) if inside else None)
        assert features[f"last_{label}"] == (inside[-1] if inside else None)


if __name__ == "__main__":
    work(sys.argv[1], sys.argv[2], int(sys.argv[3]))
