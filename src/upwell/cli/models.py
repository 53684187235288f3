"""``upwell models``: list, register, promote, roll back, shadow and canary.

These commands work on the model registry's directory alone, so they run while
``upwell serve`` holds the store; servers pick changes up within their refresh interval.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.table import Table

from upwell.cli.console import out, report_errors
from upwell.cli.errors import CommandError
from upwell.cli.workspace import ProjectOption, Workspace, load_workspace
from upwell.models.metadata import ModelVersion
from upwell.models.registry import ModelRegistry
from upwell.models.routing import CHAMPION, Rollout

models_app = typer.Typer(help="Register, promote and roll back models.", no_args_is_help=True)
AliasOption = Annotated[str, typer.Option("--alias", "-a", help="The alias to move.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _registry(project: Path) -> tuple[Workspace, ModelRegistry]:
    workspace = load_workspace(project)
    return workspace, ModelRegistry(workspace.models_path)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _print_version(version: ModelVersion, verb: str) -> None:
    out.print(f"{verb} {version.name} version {version.version} ({version.format.value})")


@models_app.command("list")
@report_errors
def list_models(project: ProjectOption = Path(), as_json: JsonOption = False) -> None:
    """Every model with its aliases and rollout."""
    _, registry = _registry(project)
    rows = [{"name": n, **registry.routing(n).to_json()} for n in registry.names()]
    if as_json:
        out.print_json(orjson.dumps(rows).decode())
        return
    table = Table("model", "aliases", "rollout")
    for row in rows:
        aliases = ", ".join(f"{a}={v}" for a, v in sorted(row["aliases"].items()))
        table.add_row(row["name"], aliases, f"{row['rollout']} {row['canary_share']:g}")
    out.print(table)


@models_app.command("show")
@report_errors
def show(name: str, project: ProjectOption = Path(), as_json: JsonOption = False) -> None:
    """A model's versions with their metadata."""
    _, registry = _registry(project)
    versions = [v.to_json() for v in registry.versions(name)]
    if as_json:
        out.print_json(orjson.dumps(versions).decode())
        return
    table = Table("version", "format", "features", "metrics", "created (ms)", "sha256")
    for v in versions:
        metrics = ", ".join(f"{k}={val:.4g}" for k, val in v["metrics"].items())
        table.add_row(
            str(v["version"]), v["format"], v["features"], metrics, str(v["created_ms"]),
            v["sha256"][:12],
        )  # fmt: skip
    out.print(table)


@models_app.command("register")
@report_errors
def register(
    name: str,
    file: Annotated[Path, typer.Argument(help="The model file.", dir_okay=False)],
    features: Annotated[str, typer.Option("--features", "-f", help="The feature service.")],
    project: ProjectOption = Path(),
    alias: Annotated[list[str] | None, typer.Option("--alias", "-a")] = None,
    metric: Annotated[list[str] | None, typer.Option("--metric", help="name=value")] = None,
    trust_type: Annotated[list[str] | None, typer.Option("--trust-type")] = None,
    allow_pickle: Annotated[bool, typer.Option(help="Accept a pickle (runs code).")] = False,
    description: str = "",
) -> None:
    """Check a model file against its feature service and register it as a new version."""
    workspace, registry = _registry(project)
    service = workspace.registry.services.get(features)
    if service is None:
        msg = f"unknown feature service {features!r}"
        raise CommandError(
            msg, where="--features", fix=f"use one of {sorted(workspace.registry.services)}"
        )
    version = registry.register(
        name,
        file,
        features=service.name,
        inputs=service.columns,
        definitions_fingerprint=workspace.registry.fingerprint,
        now_ms=_now_ms(),
        metrics=_metrics(metric or []),
        trust_types=tuple(trust_type or ()),
        allow_pickle=allow_pickle,
        description=description,
        aliases=tuple(alias or ()),
    )
    _print_version(version, "registered")


@models_app.command("promote")
@report_errors
def promote(
    name: str, version: str, project: ProjectOption = Path(), alias: AliasOption = CHAMPION
) -> None:
    """Point an alias (default champion) at a version."""
    _, registry = _registry(project)
    _print_version(registry.promote(name, version, alias=alias, now_ms=_now_ms()), "serving")


@models_app.command("rollback")
@report_errors
def rollback(name: str, project: ProjectOption = Path(), alias: AliasOption = CHAMPION) -> None:
    """Point an alias back at the version it served before its last move."""
    _, registry = _registry(project)
    _print_version(registry.rollback(name, alias=alias, now_ms=_now_ms()), "serving")


@models_app.command("rollout")
@report_errors
def rollout(
    name: str,
    mode: Annotated[Rollout, typer.Argument(help="off, shadow or canary.")],
    project: ProjectOption = Path(),
    share: Annotated[float, typer.Option(help="Canary share of entities, 0..1.")] = 0.0,
) -> None:
    """Shadow the challenger, canary it to a share of entities, or turn that off."""
    _, registry = _registry(project)
    routing = registry.set_rollout(name, mode, canary_share=share)
    out.print(f"{name}: {routing.rollout.value} {routing.canary_share:g}")


def _metrics(pairs: list[str]) -> dict[str, float]:
    metrics: dict[str, float] = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        try:
            metrics[key.strip()] = float(value)
        except ValueError:
            msg = f"{pair!r} is not name=number"
            raise CommandError(msg, where="--metric", fix="write e.g. --metric auc=0.87") from None
    return metrics
