"""The next-best-action report: ``report.json`` (numbers) and ``report.md`` (for humans)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from upwell.examples.next_best_action.simulation_types import SimulationConfig


def summarise(
    *,
    config: SimulationConfig,
    decisions: pd.DataFrame,
    actions: Sequence[str],
    rejections: Mapping[str, int],
    decide_us: Sequence[float],
    push_us: Sequence[float],
    redeliveries: Mapping[str, int],
    consent_changes: int,
    engine: Mapping[str, int],
    elapsed_s: float,
) -> dict[str, Any]:
    """Gather the run's figures.

    Args:
        config: The simulation's parameters.
        decisions: One row per decision (``decisions.parquet``).
        actions: The policy's action names.
        rejections: Rule name to how many times it rejected an action.
        decide_us: Latency of each decision, features included (µs).
        push_us: Latency of each push (µs).
        redeliveries: Counts about events delivered twice.
        consent_changes: How many consent changes were streamed.
        engine: The decision engine's counters.
        elapsed_s: Wall time of the whole run.

    Returns:
        The summary (JSON-serialisable).
    """
    taken = decisions.dropna(subset=["action"])
    return {
        "config": dataclasses.asdict(config),
        "events": {
            **{str(k): int(v) for k, v in decisions["source"].value_counts().items()},
            "consent_changes": consent_changes,
        },
        "decisions": len(decisions),
        "actions": {a: int((taken["action"] == a).sum()) for a in actions},
        "no_action": int(decisions["action"].isna().sum()),
        "customers_reached": {
            a: int(taken.loc[taken["action"] == a, "customer_id"].nunique()) for a in actions
        },
        "rejections": dict(sorted(rejections.items(), key=lambda item: -item[1])),
        "redeliveries": dict(redeliveries),
        "latency_us": {
            "decide_p50": _percentile(decide_us, 50),
            "decide_p99": _percentile(decide_us, 99),
            "push_p50": _percentile(push_us, 50),
            "push_p99": _percentile(push_us, 99),
        },
        "engine": dict(engine),
        "elapsed_s": round(elapsed_s, 3),
    }


def write_report(out_dir: Path, summary: Mapping[str, Any]) -> None:
    """Write ``report.json`` and ``report.md``.

    Args:
        out_dir: The output directory.
        summary: What :func:`summarise` returned.
    """
    (out_dir / "report.json").write_text(json.dumps(summary, indent=2) + "\n")
    (out_dir / "report.md").write_text(_markdown(summary))


def _percentile(values: Sequence[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 1) if len(values) else float("nan")


def _markdown(summary: Mapping[str, Any]) -> str:
    latency = summary["latency_us"]
    redeliveries = summary["redeliveries"]
    lines = [
        "# Next best action",
        "",
        f"{summary['decisions']:,} decisions on "
        + ", ".join(f"{n:,} {k}" for k, n in summary["events"].items())
        + f", in {summary['elapsed_s']:.1f} s.",
        "",
        "| action | decisions | customers |",
        "|---|---:|---:|",
        *(
            f"| {a} | {n:,} | {summary['customers_reached'][a]:,} |"
            for a, n in summary["actions"].items()
        ),
        f"| (none) | {summary['no_action']:,} | |",
        "",
        "| rejected by | times |",
        "|---|---:|",
        *(f"| {rule} | {n:,} |" for rule, n in summary["rejections"].items()),
        "",
        f"Redelivered events: {redeliveries['count']:,}; the same decision returned for "
        f"{redeliveries['same_decision']:,}; dropped by the feature store as duplicates: "
        f"{redeliveries['dropped_by_store']:,}.",
        "",
        f"Latency per decision, features included: p50 {latency['decide_p50']:.0f} µs, "
        f"p99 {latency['decide_p99']:.0f} µs; per push: p50 {latency['push_p50']:.0f} µs, "
        f"p99 {latency['push_p99']:.0f} µs.",
        "",
    ]
    return "\n".join(lines)
