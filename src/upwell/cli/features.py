"""``upwell features get``: read online feature values for one entity row."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.markup import escape
from rich.table import Table

from upwell.cli.console import out, report_errors
from upwell.cli.entity_rows import parse_pairs, parse_time, row_types
from upwell.cli.errors import CommandError
from upwell.cli.workspace import ProjectOption, load_workspace
from upwell.definitions.registry import Registry

features_app = typer.Typer(help="Read feature values.", no_args_is_help=True)

FeaturesOption = Annotated[
    str | None,
    typer.Option("--features", "-f", help="Comma-separated qualified names, e.g. view.f1,view.f2."),
]
ServiceOption = Annotated[
    str | None, typer.Option("--service", "-s", help="A feature service's name.")
]


def select_features(
    registry: Registry, features: str | None, service: str | None
) -> str | list[str]:
    """Resolve ``--features`` or ``--service`` (exactly one of them) to what the store reads.

    Args:
        registry: The definitions.
        features: Comma-separated qualified feature names, or None.
        service: A service's name, or None.

    Returns:
        The service's name, or the list of feature names.

    Raises:
        CommandError: Both or neither are given, the service is unknown, or the list is empty.
    """
    if (features is None) == (service is None):
        msg = "give either --features or --service (exactly one)"
        raise CommandError(msg, fix="e.g. --service payment_scoring, or --features view.f1,view.f2")
    if service is not None:
        if service not in registry.services:
            msg = f"unknown feature service {service!r}"
            raise CommandError(
                msg, where="--service", fix=f"use one of {sorted(registry.services)}"
            )
        return service
    names = [n.strip() for n in (features or "").split(",") if n.strip()]
    if not names:
        msg = "lists no feature"
        raise CommandError(msg, where="--features", fix="write e.g. --features view.f1,view.f2")
    registry.expand(names)
    return names


@features_app.command("get")
@report_errors
def get(
    features: FeaturesOption = None,
    service: ServiceOption = None,
    entity: Annotated[
        list[str] | None,
        typer.Option("--entity", "-e", help="An entity key as key=value; repeat for several."),
    ] = None,
    request: Annotated[
        list[str] | None,
        typer.Option("--request", "-r", help="A request field as name=value; repeat for several."),
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Read as of this ISO-8601 time with offset; default now."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    project: ProjectOption = Path(),
) -> None:
    """Read the online features of one entity, as of now or a given time."""
    workspace = load_workspace(project)
    registry = workspace.registry
    target = select_features(registry, features, service)
    types = row_types(registry)
    row = parse_pairs(entity or [], types, "--entity")
    extra = parse_pairs(request or [], types, "--request")
    repeated = sorted(set(row) & set(extra))
    if repeated:
        msg = f"{repeated} given both as --entity and --request"
        raise CommandError(msg, fix="give each field once")
    row.update(extra)
    # "Now" is read here rather than in the store so that the title shows the exact time.
    moment = parse_time(as_of, "--as-of") if as_of is not None else datetime.now(UTC)
    with workspace.store() as store:
        values: dict[str, Any] = store.get_features(target, row, as_of=moment)
    if as_json:
        sys.stdout.write(orjson.dumps(values, option=_JSON).decode() + "\n")
        return
    out.print(_table(values, row, moment))


_JSON = orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def _table(values: Mapping[str, Any], row: Mapping[str, Any], when: datetime) -> Table:
    keys = ", ".join(f"{k}={v}" for k, v in row.items())
    title = f"{keys} as of {when.isoformat().replace('+00:00', 'Z')}"
    table = Table(title=escape(title), title_justify="left")
    table.add_column("feature")
    table.add_column("value", justify="right")
    for name, value in values.items():
        table.add_row(escape(name), escape(_show(value)))
    return table


def _show(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, float):
        return repr(value)
    return str(value)
