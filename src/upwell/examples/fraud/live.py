"""The live loop: every event through the per-event path, scoring test transactions live."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from upwell.examples.fraud.features import HANDBOOK_FEATURES, fraud_detection
from upwell.examples.fraud.scoring import Scorer
from upwell.examples.fraud.stream import Progress, epoch_ms, event_order, events
from upwell.runtime import FeatureStore

Deploy = Callable[[FeatureStore], Mapping[str, Scorer]]
"""Builds a training set from the store, trains, and returns the deployed scorers."""


@dataclass
class LiveRun:
    """What the live loop saw: online features, live scores, latencies and timing."""

    features: np.ndarray
    scores: dict[str, np.ndarray] = field(default_factory=dict)
    latency_us: list[float] = field(default_factory=list)
    events: int = 0
    stream_seconds: float = 0.0
    deployed_at_row: int = -1


def run_live(
    store: FeatureStore,
    transactions: pd.DataFrame,
    deploy_before: pd.Timestamp,
    score_until: pd.Timestamp,
    deploy: Deploy,
    progress: Progress | None = None,
) -> LiveRun:
    """Stream every transaction and label; deploy models when the test period starts.

    For each transaction the loop pushes it, reads its 15 features online as of its own
    time (the serving path), and keeps them. Once the stream reaches ``deploy_before``
    it calls ``deploy`` (which trains on the event log) and from then on, until
    ``score_until``, scores every transaction with every deployed model as it arrives,
    timing features plus scores.

    Args:
        store: An empty store with the fraud definitions.
        transactions: UTC transactions in TRANSACTION_ID order (with TX_FRAUD).
        deploy_before: Deploy when the first transaction at or after this time arrives.
        score_until: Score live transactions before this time.
        deploy: Trains and returns scorers.
        progress: Progress callback.

    Returns:
        The run.
    """
    n = len(transactions)
    run = LiveRun(features=np.empty((n, len(HANDBOOK_FEATURES))))
    order = event_order(transactions)
    times = epoch_ms(transactions["TX_DATETIME"]).tolist()
    deploy_ms = _ms(deploy_before)
    until_ms = _ms(score_until)
    scorers: Mapping[str, Scorer] = {}
    total = len(order)
    started = time.perf_counter()
    for done, event in enumerate(events(transactions, order), start=1):
        store.push(event.source, event.row)
        if event.source == "transactions":
            tx_ms = times[event.index]
            if not scorers and tx_ms >= deploy_ms:
                run.stream_seconds += time.perf_counter() - started
                scorers = deploy(store)
                run.scores = {name: np.full(n, np.nan) for name in scorers}
                run.deployed_at_row = event.index
                started = time.perf_counter()
            _serve(store, event.row, event.index, run, scorers if tx_ms < until_ms else {})
        if progress is not None and (done % 20_000 == 0 or done == total):
            progress("stream", done, total)
    run.stream_seconds += time.perf_counter() - started
    run.events = total
    return run


def _serve(
    store: FeatureStore,
    row: Mapping[str, object],
    index: int,
    run: LiveRun,
    scorers: Mapping[str, Scorer],
) -> None:
    began = time.perf_counter_ns()
    values = store.get_features(fraud_detection, row, as_of=row["TX_DATETIME"])
    vector = np.fromiter(values.values(), dtype=np.float64, count=len(HANDBOOK_FEATURES))
    for name, scorer in scorers.items():
        run.scores[name][index] = scorer.score_one(vector)
    if scorers:
        run.latency_us.append((time.perf_counter_ns() - began) / 1_000)
    run.features[index] = vector


def _ms(when: pd.Timestamp) -> int:
    return int(when.value // 1_000_000)
