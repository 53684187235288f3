"""``upwell audit``: logged predictions, live quality, drift and alerts, as tables or JSON.

The commands open the project's audit folder read-only (or its PostgreSQL tables), so they
run beside a server that is writing it (they see every prediction it has written).
Spans are of event time and end, by default, at the newest logged prediction.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import orjson
import pandas as pd
import typer
from rich.table import Table

from upwell.audit import AlertLog, Monitor, MonitorConfig, Window, open_monitor
from upwell.cli.console import out, report_errors
from upwell.cli.errors import CommandError
from upwell.cli.workspace import ProjectOption, load_workspace
from upwell.server import audit_queries as queries
from upwell.server.audit_settings import load_audit_settings
from upwell.serving.audit_reference import load_references

audit_app = typer.Typer(
    help="Query the audit: predictions, live quality, drift, alerts.", no_args_is_help=True
)
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
ModelOption = Annotated[str | None, typer.Option("--model", "-m", help="Only this model.")]
VersionOption = Annotated[int | None, typer.Option("--version", "-v", help="Only this version.")]
StartOption = Annotated[
    str | None, typer.Option(help="Span start (exclusive), ISO time (UTC if naive).")
]
EndOption = Annotated[
    str | None, typer.Option(help="Span end (inclusive); default the newest prediction.")
]
SpanOption = Annotated[str, typer.Option(help="How far back from the end: 7d, 1h, all.")]
WindowOption = Annotated[str, typer.Option("--window", "-w", help="Window length, e.g. 1d.")]
StepOption = Annotated[
    str | None, typer.Option(help="Between window ends, e.g. 1h (sliding); default the window.")
]


@contextmanager
def _audit(project: Path) -> Iterator[tuple[Monitor, Path]]:
    workspace = load_workspace(project)
    where = f"{workspace.config.file} [audit]"
    settings = load_audit_settings(
        workspace.config.sections.get("audit", {}), workspace.config.data, where
    )
    directory = settings.directory or workspace.config.data / "audit"
    if settings.postgres is not None:
        monitor = _postgres(settings.postgres, settings.monitor)
    elif (directory / "predictions").is_dir():
        monitor = open_monitor(directory, config=settings.monitor, read_only=True)
    else:
        msg = f"no prediction log in {directory}"
        raise CommandError(
            msg, where=where, fix="serve the project (upwell serve) and score some requests"
        )
    for (model, version), profile in load_references(workspace.models_path).items():
        monitor.set_reference(model, version, profile)
    try:
        yield monitor, directory
    finally:
        monitor.close()


def _postgres(conninfo: str, config: MonitorConfig) -> Monitor:
    from upwell.audit.postgres_labels import PostgresLabelStore  # noqa: PLC0415 (extra)
    from upwell.audit.postgres_log import PostgresPredictionLog  # noqa: PLC0415 (extra)

    log = PostgresPredictionLog(conninfo, capacity=1)  # read only: nothing is recorded
    return Monitor(log, PostgresLabelStore(conninfo), config=config)


def _ms(text: str | None, name: str) -> int | None:
    if text is None:
        return None
    try:
        stamp = pd.Timestamp(text)
    except ValueError:
        msg = f"{text!r} is not a time"
        raise CommandError(msg, where=f"--{name}", fix="write e.g. 2018-09-30T12:00") from None
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return int(stamp.value // 1_000_000)


def _span(monitor: Monitor, start: str | None, end: str | None, span: str) -> Window:
    return queries.resolve_span(monitor, _ms(start, "start"), _ms(end, "end"), span)


def _model(monitor: Monitor, model: str | None) -> str:
    if model is not None:
        return model
    names = sorted({str(v["model"]) for v in queries.versions(monitor)})
    if not names:
        msg = "the prediction log is empty"
        raise CommandError(msg, where="upwell audit", fix="score some requests first")
    return names[0]


def _time(ms: int | None) -> str:
    return (
        "-" if ms is None else str(pd.Timestamp(ms, unit="ms", tz="UTC").strftime("%Y-%m-%d %H:%M"))
    )


def _num(value: Any) -> str:
    return "-" if value is None else f"{value:.4g}"


def _print(rows: Any, table: Table, as_json: bool) -> None:
    if as_json:
        out.print_json(orjson.dumps(rows, option=orjson.OPT_SERIALIZE_NUMPY).decode())
    else:
        out.print(table)


@audit_app.command("predictions")
@report_errors
def predictions(
    project: ProjectOption = Path(),
    model: ModelOption = None,
    version: VersionOption = None,
    start: StartOption = None,
    end: EndOption = None,
    span: SpanOption = "all",
    limit: Annotated[int, typer.Option(min=1, help="How many, newest first.")] = 20,
    as_json: JsonOption = False,
) -> None:
    """The newest logged predictions, with features and explanations in JSON."""
    with _audit(project) as (monitor, _):
        rows = queries.recent(monitor, model, version, _span(monitor, start, end, span), limit)
    table = Table("time", "request", "model", "version", "route", "score", "latency µs")
    for r in rows:
        table.add_row(
            _time(r["ts_ms"]), r["request_id"], r["model"], str(r["version"]), r["route"],
            _num(r["score"]), _num(r["latency_us"]),
        )  # fmt: skip
    _print(rows, table, as_json)


@audit_app.command("quality")
@report_errors
def quality(
    project: ProjectOption = Path(),
    model: ModelOption = None,
    version: VersionOption = None,
    start: StartOption = None,
    end: EndOption = None,
    span: SpanOption = "all",
    window: WindowOption = "1d",
    step: StepOption = None,
    as_json: JsonOption = False,
) -> None:
    """Live quality per version and window, from logged predictions and late labels."""
    with _audit(project) as (monitor, _):
        name = _model(monitor, model)
        at = _span(monitor, start, end, span)
        numbers = queries.model_versions(monitor, name, version)
        window_ms, step_ms = _lengths(window, step)
        found = queries.quality(monitor, name, numbers, at, window_ms, step_ms)
    table = Table(
        "window end", "version", "predictions", "labelled", "positives", "AUC ROC",
        "avg precision", "card P@k", "Brier", "ECE",
    )  # fmt: skip
    for r in [*found["reports"], *found["overall"]]:
        is_overall = r in found["overall"]
        card, calibration = r["card_precision"], r["calibration"]
        table.add_row(
            "whole span" if is_overall else _time(r["window"]["end_ms"]), str(r["version"]),
            str(r["predictions"]), str(r["labelled"]), str(r["positives"]), _num(r["auc_roc"]),
            _num(r["average_precision"]), _num(card and card["mean"]), _num(r["brier"]),
            _num(calibration and calibration["ece"]), end_section=is_overall,
        )  # fmt: skip
    _print({"model": name, **found}, table, as_json)


_DRIFT = ("psi", "ks_statistic", "js_distance", "missing_rate", "out_of_range_rate")


@audit_app.command("drift")
@report_errors
def drift(
    project: ProjectOption = Path(),
    model: ModelOption = None,
    version: VersionOption = None,
    start: StartOption = None,
    end: EndOption = None,
    span: SpanOption = "1d",
    window: WindowOption = "1d",
    step: StepOption = None,
    column: Annotated[
        list[str] | None, typer.Option("--column", "-c", help="Only these columns.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Drift of each feature (and the score) against the version's training data."""
    with _audit(project) as (monitor, _):
        name = _model(monitor, model)
        at = _span(monitor, start, end, span)
        window_ms, step_ms = _lengths(window, step)
        numbers = queries.model_versions(monitor, name, version)
        found = queries.drift(monitor, name, numbers, at, window_ms, step_ms)
    rows = [r for r in found["reports"] if not column or r["column"] in column]
    table = Table("window end", "version", "column", "values", *_DRIFT, "freshness s")
    for r in rows:
        fresh = r["freshness_ms"]
        table.add_row(
            _time(r["window"]["end_ms"]), str(r["version"]), r["column"], str(r["n"]),
            *(_num(r[m]) for m in _DRIFT), _num(None if fresh is None else fresh / 1000),
        )  # fmt: skip
    reference = found["without_reference"]
    _print({"model": name, "reports": rows, "without_reference": reference}, table, as_json)


def _lengths(window: str, step: str | None) -> tuple[int, int | None]:
    step_ms = None if step is None else queries.parse_duration(step, "step")
    return queries.parse_duration(window, "window"), step_ms


@audit_app.command("alerts")
@report_errors
def alerts(project: ProjectOption = Path(), as_json: JsonOption = False) -> None:
    """Every fired and cleared alert, newest first."""
    with _audit(project) as (_, directory):
        found = queries.alerts(AlertLog(directory))
    table = Table("window end", "rule", "event", "metric", "model", "version", "column", "value")
    for e in found["events"]:
        table.add_row(
            _time(e["ts_ms"]), e["rule"], e["kind"], e["metric"], e["model"], str(e["version"]),
            e["column"] or "", _num(e["value"]),
        )  # fmt: skip
    _print(found["events"], table, as_json)
