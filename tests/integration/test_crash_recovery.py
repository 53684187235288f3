"""Acknowledged events survive SIGKILL, and no event is ever applied twice.

A child process (``crash_pusher.py``) pushes single events and small batches, with
duplicates inside batches and redeliveries after each restart, flushing the log and
snapshotting the state now and then; it reports every push before it starts and
every push that returned. The test kills it with SIGKILL at a random moment, many
times over the same store directory, so restarts accumulate. After each kill it
reopens a copy of the directory and checks it against the child's reports:

- every acknowledged event is in the log exactly once, with the fields it was sent;
- the log holds nothing that was never pushed, and log positions never repeat;
- online features (count, sum, mean; lifetime and a 1h sliding window) equal a pandas
  oracle over the logged events;
- a redelivered acknowledged event is refused (duplicate, or late when too old).

A second test reproduces, deterministically, the state a kill inside ``load_batch``
leaves behind.
"""

from __future__ import annotations

import functools
import json
import random
import shutil
import signal
import subprocess
import sys
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest

import upwell as uw
from upwell.training import batch_tables

from .crash_pusher import CUSTOMERS, ID_FIELD, SOURCES, T0, definitions, event

CHILD = Path(__file__).with_name("crash_pusher.py")
TRIALS = 20
MAX_DELAY_S = 0.5
START_TIMEOUT_S = 120.0
HOUR_MS = 3_600_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SPEND = ("n_life", "sum_life", "mean_life", "n_1h", "sum_1h", "mean_1h")
ACTIVITY = ("n_life", "n_1h")


@dataclass
class Ledger:
    """What the children reported, over every trial."""

    attempted: dict[str, set[int]] = field(default_factory=lambda: {s: set() for s in SOURCES})
    acked: dict[str, set[int]] = field(default_factory=lambda: {s: set() for s in SOURCES})
    redelivered_acked: int = 0
    kills: Counter[str] = field(default_factory=Counter)

    @property
    def next_id(self) -> int:
        return 1 + max((max(ids, default=0) for ids in self.attempted.values()), default=0)


class Child:
    """A ``crash_pusher`` process, started early: it imports, then waits for its plan."""

    def __init__(self, directory: Path, stderr_path: Path) -> None:
        self.stderr_path = stderr_path
        with open(stderr_path, "wb") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, str(CHILD), str(directory)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                encoding="utf-8",
            )
        self.lines: list[str] = []
        self.ready = threading.Event()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)
            if line == "READY\n":
                self.ready.set()
        self.ready.set()  # the child ended (or was killed): stop waiting either way

    def run(self, plan: dict[str, Any], delay_s: float) -> list[str]:
        """Hand over the plan, wait until the store is open, kill after ``delay_s``."""
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(plan) + "\n")
        self.process.stdin.flush()
        self.ready.wait(START_TIMEOUT_S)
        threading.Event().wait(delay_s)
        self.kill()
        problem = self.stderr_path.read_text(encoding="utf-8")
        assert self.process.returncode == -signal.SIGKILL, f"the child ended itself:\n{problem}"
        assert "READY\n" in self.lines, f"the child never opened the store:\n{problem}"
        # A line cut short by the kill was never finished: the push it announces never began.
        return [line for line in self.lines if line.endswith("\n")]

    def kill(self) -> None:
        """SIGKILL the process (if still running) and collect what it wrote."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self.reader.join()
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()


def _record(ledger: Ledger, lines: list[str], plan: dict[str, Any]) -> None:
    redeliveries = iter(plan["redeliver"][: plan["acked_redeliveries"]])
    in_redelivery = True
    for line in lines:
        kind, *rest = line.split()
        if kind == "PUSH":
            ledger.attempted[rest[0]].update(int(i) for i in rest[1:])
        elif kind == "ACK":
            source, counts, ids = rest[0], [int(c) for c in rest[1:4]], rest[4:]
            ledger.acked[source].update(int(i) for i in ids)
            expected = next(redeliveries, None) if in_redelivery else None
            if expected is not None:
                assert counts[0] == 0, f"redelivered acknowledged events {ids} were applied again"
                assert counts[1] + counts[2] == len(ids)
                ledger.redelivered_acked += len(ids)
        elif kind == "REDELIVERED":
            in_redelivery = False
    last = lines[-1].split()[0]
    ledger.kills[
        {"PUSH": "push", "FLUSH-BEGIN": "flush", "CKPT-BEGIN": "checkpoint"}.get(
            last, "between calls"
        )
    ] += 1


def _plan(ledger: Ledger, rng: random.Random, trial: int) -> dict[str, Any]:
    redeliver: list[tuple[str, list[int]]] = []
    for source in SOURCES:
        acked = sorted(ledger.acked[source])
        if acked:
            redeliver.append((source, acked[-rng.randint(1, 4) :]))  # recent: duplicates
            redeliver.append((source, rng.sample(acked, min(3, len(acked)))))  # maybe late
    acked_redeliveries = len(redeliver)
    for source in SOURCES:  # pushed, never acknowledged: maybe logged, maybe not
        unacked = sorted(ledger.attempted[source] - ledger.acked[source])
        if unacked:
            redeliver.append((source, unacked))
    return {
        "seed": trial,
        "first_id": ledger.next_id,
        "redeliver": redeliver,
        "acked_redeliveries": acked_redeliveries,
    }


@functools.cache
def _expected_row(source: str, event_id: int) -> dict[str, Any]:
    row = event(source, event_id)
    row["ts"] = (row["ts"] - EPOCH) // timedelta(milliseconds=1)
    return row


def _check_log(store: uw.FeatureStore, ledger: Ledger) -> dict[str, pd.DataFrame]:
    frames: dict[str, pd.DataFrame] = {}
    seqs: list[int] = []
    for source in SOURCES:
        rows = store.events(source).to_pylist()
        ids = [row[ID_FIELD[source]] for row in rows]
        twice = sorted(i for i, n in Counter(ids).items() if n > 1)
        assert not twice, f"{source}: events {twice[:10]} are logged more than once"
        lost = sorted(ledger.acked[source] - set(ids))
        assert not lost, f"{source}: acknowledged events {lost[:10]} are not in the log"
        invented = sorted(set(ids) - ledger.attempted[source])
        assert not invented, f"{source}: events {invented[:10]} were never pushed"
        for row in rows:
            seqs.append(row.pop("__seq__"))
            assert row == _expected_row(source, row[ID_FIELD[source]])
        frames[source] = pd.DataFrame(rows, columns=list(_expected_row(source, 0)))
    assert len(set(seqs)) == len(seqs), "a log position was used twice"
    return frames


def _oracle(frame: pd.DataFrame, cid: int, as_of: int, value: str | None) -> dict[str, Any]:
    mine = frame[(frame["cid"] == cid) & (frame["ts"] <= as_of)]
    recent = mine[mine["ts"] > as_of - HOUR_MS]
    out: dict[str, Any] = {"n_life": len(mine), "n_1h": len(recent)}
    if value is not None:
        for suffix, part in (("life", mine), ("1h", recent)):
            out[f"sum_{suffix}"] = float(part[value].sum())
            out[f"mean_{suffix}"] = float(part[value].mean()) if len(part) else None
    return out


def _check_features(store: uw.FeatureStore, frames: dict[str, pd.DataFrame]) -> None:
    as_of = max(int(f["ts"].max()) for f in frames.values() if len(f))
    at = EPOCH + timedelta(milliseconds=as_of)
    refs = [f"spend.{n}" for n in SPEND] + [f"activity.{n}" for n in ACTIVITY]
    for cid in [*range(CUSTOMERS), 999]:
        online = store.get_features(refs, {"cid": cid}, as_of=at)
        expected = {
            **{f"spend.{k}": v for k, v in _oracle(frames["tx"], cid, as_of, "amount").items()},
            **{f"activity.{k}": v for k, v in _oracle(frames["clicks"], cid, as_of, None).items()},
        }
        for ref, want in expected.items():
            got = online[ref]
            if want is None or isinstance(want, int):
                assert got == want, f"{ref} for customer {cid}: online {got}, oracle {want}"
            else:
                assert got == pytest.approx(want, rel=1e-9, abs=1e-9), (ref, cid)


def _verify(directory: Path, copy: Path, ledger: Ledger) -> None:
    """Reopen a copy, so checking never changes what the next child recovers from."""
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(directory, copy)
    store = uw.FeatureStore(definitions(), path=copy)
    try:
        _check_features(store, _check_log(store, ledger))
    finally:
        store.close()


@pytest.mark.slow
def test_acknowledged_events_survive_sigkill_exactly_once(tmp_path: Path) -> None:
    directory, copy = tmp_path / "store", tmp_path / "verify"
    ledger = Ledger()
    rng = random.Random(20240301)
    child = Child(directory, tmp_path / "stderr-0.txt")
    try:
        for trial in range(TRIALS):
            plan = _plan(ledger, rng, trial)
            lines = child.run(plan, rng.uniform(0.0, MAX_DELAY_S))
            # The next process imports while this one's store is checked.
            child = Child(directory, tmp_path / f"stderr-{trial + 1}.txt")
            _record(ledger, lines, plan)
            _verify(directory, copy, ledger)
    finally:
        child.kill()
    assert sum(len(ids) for ids in ledger.acked.values()) > 1_000
    assert ledger.redelivered_acked > 0
    # The real directory, opened and closed cleanly, then reopened from its snapshot alone.
    for _ in range(2):
        store = uw.FeatureStore(definitions(), path=directory)
        try:
            _check_features(store, _check_log(store, ledger))
        finally:
            store.close()
    print(f"kills landed in: {dict(ledger.kills)}")


def test_batch_rows_written_before_a_kill_are_served_after_restart(tmp_path: Path) -> None:
    group = uw.BatchFeatures(name="profile", entity=definitions()[0].entity, schema={"age": int})
    with_profile = [*definitions(), group]
    rows = pa.table(
        {"cid": [3], "valid_from": pa.array([0], pa.timestamp("ms", tz="UTC")), "age": [41]}
    )
    store = uw.FeatureStore(with_profile, path=tmp_path)
    store.push("tx", event("tx", 1))
    store.checkpoint()  # a snapshot that holds an event
    # load_batch keeps the table durably first, then updates the online state, then
    # snapshots it; a kill between the first and the last step leaves exactly this.
    store.batch_tables.append(group, batch_tables.validate(group, rows))
    restarted = uw.FeatureStore(with_profile, path=tmp_path)
    try:
        offline = restarted.training_set(
            ["profile.age"], pd.DataFrame({"cid": [3], "timestamp": [T0]})
        )
        assert offline["profile.age"].tolist() == [41]  # training sets see the row
        assert restarted.get_features(["profile.age"], {"cid": 3}) == {"profile.age": 41}
    finally:
        restarted.close()
