"""``upwell demo next-best-action``: offers and alerts decided on live account events.

1. Simulate customers' card transactions, savings deposits and consent changes.
2. Stream them in time order: push each account event into an embedded
   :class:`~upwell.runtime.FeatureStore`, then decide for its customer (the event id is
   the request id) with the example's policy; consent changes go to the consent store.
3. Deliver some events twice, as an at-least-once broker may: the store drops the
   duplicate and the engine returns the stored decision.
4. Write ``decisions.parquet`` (one row per decision), ``report.json`` and
   ``report.md``, and return the summary.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from upwell.decisions.consent import grant, withdraw
from upwell.decisions.consent_memory import MemoryConsentStore
from upwell.decisions.decision import Decision, DecisionInputs
from upwell.decisions.engine import DecisionEngine
from upwell.decisions.memory_state import MemoryDecisionState
from upwell.decisions.policy_check import check_policy
from upwell.decisions.purpose import Purpose
from upwell.examples.next_best_action import report
from upwell.examples.next_best_action.features import DEFINITIONS, next_best_action
from upwell.examples.next_best_action.policy import POLICY
from upwell.examples.next_best_action.simulation_types import ConsentAction, SimulationConfig
from upwell.examples.next_best_action.simulator import simulate
from upwell.examples.next_best_action.stream import EventKind, StreamEvent, account_events
from upwell.runtime import FeatureStore, SystemClock

Progress = Callable[[str, int, int], None]
"""A progress callback: ``(phase, done, total)``."""

DECISION_COLUMNS = ("event_id", "customer_id", "ts_ms", "source", "action", "refused")
"""The columns of ``decisions.parquet``."""


@dataclass
class _Run:
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    first: dict[str, tuple[str, ...]] = field(default_factory=dict)
    rejections: Counter[str] = field(default_factory=Counter)
    decide_us: list[float] = field(default_factory=list)
    push_us: list[float] = field(default_factory=list)
    redelivered: int = 0
    redelivered_same: int = 0
    duplicates: int = 0


def run_demo(
    out: str | Path,
    config: SimulationConfig | None = None,
    *,
    redeliver_every: int = 97,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Run the next-best-action example end to end and write its outputs to ``out``.

    Args:
        out: Output directory (``decisions.parquet``, ``report.json``, ``report.md``, and
            the decision and consent state under ``state/``).
        config: The simulation's size and seed; the default streams about 23,000 events.
        redeliver_every: Deliver every n-th account event twice; 0 for never.
        progress: Progress callback ``(phase, done, total)``.

    Returns:
        The report's summary.
    """
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(out_dir / "state", ignore_errors=True)
    config = config or SimulationConfig()
    started = time.perf_counter()
    events = account_events(simulate(config), redeliver_every=redeliver_every)
    clock = SystemClock()
    engine = DecisionEngine(
        MemoryDecisionState(out_dir / "state", clock=clock),
        MemoryConsentStore(out_dir / "state"),
        clock=clock,
    )
    store = FeatureStore(DEFINITIONS)
    check_policy(POLICY, store.registry)
    try:
        run = _stream(store, engine, events, progress)
    finally:
        store.close()
        engine.close()
    frame = pd.DataFrame(run.rows, columns=list(DECISION_COLUMNS))
    frame.to_parquet(out_dir / "decisions.parquet", index=False)
    summary = report.summarise(
        config=config,
        decisions=frame,
        actions=[a.name for a in POLICY.actions],
        rejections=run.rejections,
        decide_us=run.decide_us,
        push_us=run.push_us,
        redeliveries={
            "count": run.redelivered,
            "same_decision": run.redelivered_same,
            "dropped_by_store": run.duplicates,
        },
        consent_changes=sum(1 for e in events if e.kind is EventKind.CONSENT),
        engine=dataclasses.asdict(engine.counters),
        elapsed_s=time.perf_counter() - started,
    )
    report.write_report(out_dir, summary)
    return summary


def _stream(
    store: FeatureStore,
    engine: DecisionEngine,
    events: list[StreamEvent],
    progress: Progress | None,
) -> _Run:
    run = _Run()
    for done, event in enumerate(events, 1):
        if event.kind is EventKind.CONSENT:
            change = grant if event.row["action"] == ConsentAction.GRANT.value else withdraw
            change(engine.consent, str(event.customer_id), Purpose.MARKETING, at_ms=event.ts_ms)
        else:
            _account_event(store, engine, event, run)
        if progress is not None and (done % 2_000 == 0 or done == len(events)):
            progress("stream", done, len(events))
    return run


def _account_event(
    store: FeatureStore, engine: DecisionEngine, event: StreamEvent, run: _Run
) -> None:
    began = time.perf_counter_ns()
    pushed = store.push(event.kind.value, event.row)
    run.push_us.append((time.perf_counter_ns() - began) / 1_000)
    run.duplicates += pushed.duplicates
    began = time.perf_counter_ns()
    decision = engine.decide(
        POLICY, event.customer_id, event.event_id, _inputs(store, event), now_ms=event.ts_ms
    )
    run.decide_us.append((time.perf_counter_ns() - began) / 1_000)
    if event.redelivered:
        run.redelivered += 1
        run.redelivered_same += int(run.first[event.event_id] == decision.actions)
        return
    run.first[event.event_id] = decision.actions
    _tally(run, event, decision)


def _inputs(store: FeatureStore, event: StreamEvent) -> Callable[[], DecisionInputs]:
    def compute() -> DecisionInputs:
        values = store.get_features(
            next_best_action, {"customer_id": event.customer_id}, as_of=event.row["ts"]
        )
        return DecisionInputs(values=values)

    return compute


def _tally(run: _Run, event: StreamEvent, decision: Decision) -> None:
    run.rows.append(
        (
            event.event_id,
            event.customer_id,
            event.ts_ms,
            event.kind.value,
            decision.action,
            decision.refused,
        )
    )
    for consideration in decision.considered:
        if consideration.rule is not None:
            run.rejections[consideration.rule.value] += 1
