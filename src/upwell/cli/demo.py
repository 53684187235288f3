"""``upwell demo``: runnable end-to-end examples."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeRemainingColumn
from rich.table import Table

from upwell.config import OnlineConfig

demo_app = typer.Typer(help="Run an end-to-end example.", no_args_is_help=True)

_PHASES = {"stream": "streaming transactions and labels"}


@demo_app.command("fraud")
def fraud(
    out: Annotated[Path, typer.Option(help="Directory for the report, features and store.")] = Path(
        "fraud-run"
    ),
    transactions: Annotated[
        Path | None,
        typer.Option(help="Read the handbook's transactions from this Parquet file."),
    ] = None,
    online: Annotated[
        str | None,
        typer.Option(help="Keep the online state in Redis, e.g. redis://127.0.0.1:6379/0."),
    ] = None,
) -> None:
    """Real-time card-fraud detection reproducing the fraud-detection handbook."""
    from upwell.examples.fraud.demo import run_demo  # noqa: PLC0415 (heavy imports)

    console = Console()
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,}/{task.total:,}"),
        TimeRemainingColumn(),
        console=console,
    ) as bar:
        tasks: dict[str, TaskID] = {}

        def progress(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(_PHASES.get(phase, phase), total=total)
            bar.update(tasks[phase], completed=done)

        console.print("simulating or loading transactions; the stream starts next")
        config = None if online is None else OnlineConfig(url=online, prefix="upwell-fraud-demo")
        summary = run_demo(out, transactions, progress, online=config)
    _print_summary(console, summary, out)


def _print_summary(console: Console, summary: dict[str, object], out: Path) -> None:
    table = Table(title="Test week (handbook protocol)")
    for column in ("model", "AUC ROC", "average precision", "card precision@100"):
        table.add_column(column)
    models = summary["models"]
    assert isinstance(models, dict)  # noqa: S101 (the demo's own summary)
    for name, result in models.items():
        test = result["test"]
        table.add_row(
            name,
            f"{test['auc_roc']:.3f}",
            f"{test['average_precision']:.3f}",
            f"{test['card_precision_at_100']:.3f}",
        )
    console.print(table)
    latency = summary["latency_us"]
    assert isinstance(latency, dict)  # noqa: S101 (the demo's own summary)
    console.print(
        f"online == offline: {summary['online_equals_offline']}  |  "
        f"features + 5 scores: p50 {latency['p50']:.0f} µs, p99 {latency['p99']:.0f} µs  |  "
        f"stream: {summary['throughput_events_per_s']:,.0f} events/s"
    )
    console.print(f"wrote {out / 'report.json'}, {out / 'report.html'}, {out / 'features.parquet'}")
    console.print_json(json.dumps({"online_equals_offline": summary["online_equals_offline"]}))


@demo_app.command("next-best-action")
def next_best_action(
    out: Annotated[
        Path, typer.Option(help="Directory for the report, decisions and decision state.")
    ] = Path("nba-run"),
    customers: Annotated[int, typer.Option(help="Number of simulated customers.")] = 200,
    days: Annotated[int, typer.Option(help="Number of simulated days.")] = 120,
    seed: Annotated[int, typer.Option(help="Seed of the simulation.")] = 7,
) -> None:
    """Next best action in banking: offers and alerts decided on live account events."""
    from upwell.examples.next_best_action.demo import run_demo  # noqa: PLC0415 (heavy imports)
    from upwell.examples.next_best_action.simulation_types import (  # noqa: PLC0415
        SimulationConfig,
    )

    console = Console()
    config = SimulationConfig(n_customers=customers, n_days=days, seed=seed)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,}/{task.total:,}"),
        TimeRemainingColumn(),
        console=console,
    ) as bar:
        tasks: dict[str, TaskID] = {}

        def progress(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task("streaming events and deciding", total=total)
            bar.update(tasks[phase], completed=done)

        summary = run_demo(out, config, progress=progress)
    table = Table(title="Next best action")
    for column in ("action", "decisions", "customers"):
        table.add_column(column)
    for action, count in summary["actions"].items():
        table.add_row(action, f"{count:,}", f"{summary['customers_reached'][action]:,}")
    console.print(table)
    latency = summary["latency_us"]
    console.print(
        f"{summary['decisions']:,} decisions in {summary['elapsed_s']:.1f} s  |  "
        f"decide + features: p50 {latency['decide_p50']:.0f} µs, "
        f"p99 {latency['decide_p99']:.0f} µs  |  redelivered events answered the same: "
        f"{summary['redeliveries']['same_decision']:,}/{summary['redeliveries']['count']:,}"
    )
    console.print(f"wrote {out / 'report.json'}, {out / 'report.md'}, {out / 'decisions.parquet'}")
