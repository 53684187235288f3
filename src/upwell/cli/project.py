"""``upwell init`` and ``upwell apply``: create a project, check and show its definitions."""

from __future__ import annotations

import json
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from upwell.cli.console import out, report_errors
from upwell.cli.errors import CommandError
from upwell.cli.workspace import ProjectOption, load_workspace
from upwell.definitions.durations import format_ms
from upwell.definitions.expressions import Col
from upwell.definitions.feature_view import Feature
from upwell.definitions.registry import Registry
from upwell.definitions.request import RequestFeatureView, RequestSource

# Template files are stored under names a package may hold; some are renamed on the way out.
_RENAMED = {"gitignore": ".gitignore"}
_RENDERED = ("upwell.toml", "README.md")


@report_errors
def init(
    directory: Annotated[Path, typer.Argument(help="Where to create the project.")],
    name: Annotated[
        str | None, typer.Option(help="The project's name; default: the directory's name.")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite files of an existing project.")
    ] = False,
) -> None:
    """Create a runnable example project: configuration, definitions and sample data."""
    directory = directory.expanduser().resolve()
    if directory.exists() and not directory.is_dir():
        msg = f"{str(directory)!r} exists and is not a directory"
        raise CommandError(msg, where="upwell init", fix="choose another path")
    project_name = name or directory.name
    template = files("upwell") / "templates" / "project"
    plan = [(source, directory / target) for source, target in _template_files(template)]
    existing = [str(p.relative_to(directory)) for _, p in plan if p.exists()]
    if existing and not force:
        msg = f"{directory} already holds {existing}"
        raise CommandError(
            msg, where="upwell init", fix="choose an empty directory or pass --force"
        )
    for source, target in plan:
        target.parent.mkdir(parents=True, exist_ok=True)
        data = source.read_bytes()
        if source.name in _RENDERED:
            data = _render(data.decode("utf-8"), project_name).encode("utf-8")
        target.write_bytes(data)
    out.print(f"Created project [bold]{escape(project_name)}[/] in {escape(str(directory))}:")
    for _, target in plan:
        out.print(f"  {escape(str(target.relative_to(directory)))}")
    out.print(
        f"Next: cd {escape(str(directory))} and follow README.md (start with `upwell apply`)."
    )


def _template_files(root: Traversable, prefix: str = "") -> list[tuple[Traversable, str]]:
    found: list[tuple[Traversable, str]] = []
    for item in sorted(root.iterdir(), key=lambda t: t.name):
        if item.name == "__pycache__" or item.name.endswith(".pyc"):
            continue
        if item.is_dir():
            found.extend(_template_files(item, f"{prefix}{item.name}/"))
        else:
            found.append((item, prefix + _RENAMED.get(item.name, item.name)))
    return found


def _render(text: str, name: str) -> str:
    # A JSON string is a valid TOML basic string, so any name is quoted safely.
    return text.replace("{name}", json.dumps(name)).replace("{title}", name)


@report_errors
def apply(project: ProjectOption = Path()) -> None:
    """Validate the definitions as a set, open the store, and show what is defined."""
    workspace = load_workspace(project)
    with workspace.store() as store:
        logged = store.log.last_seq()
    registry = workspace.registry
    out.print(_definitions_table(registry))
    out.print(_features_table(registry))
    config = workspace.config
    out.print(f"project      {escape(config.name)} ({escape(str(config.file))})")
    out.print(f"fingerprint  [bold]{registry.fingerprint}[/]")
    out.print(f"data         {escape(str(config.data))} ({logged} events logged)")


def _definitions_table(registry: Registry) -> Table:
    table = Table(title="Definitions", title_justify="left")
    table.add_column("kind", no_wrap=True)
    table.add_column("name", overflow="fold")
    table.add_column("details", overflow="fold")
    for entity in registry.entities.values():
        table.add_row("entity", entity.name, "keys: " + ", ".join(entity.keys))
    for source in registry.sources.values():
        fields = ", ".join(f"{n}: {_type(k)}" for n, k in source.schema.items())
        lateness = format_ms(source.allowed_lateness_ms) if source.allowed_lateness_ms else "0"
        details = f"{fields}; time: {source.timestamp}; id: {source.event_id}; late: {lateness}"
        table.add_row("event source", source.name, escape(details))
    for name, group in registry.groups.items():
        count = len(group.feature_refs)
        table.add_row(_group_kind(group), name, f"{count} feature{'' if count == 1 else 's'}")
    for service in registry.services.values():
        table.add_row("feature service", service.name, escape(", ".join(service.columns)))
    return table


def _group_kind(group: object) -> str:
    if isinstance(group, RequestSource):
        return "request source"
    if isinstance(group, RequestFeatureView):
        return "request features"
    return "feature view" if hasattr(group, "source") else "batch features"


def _features_table(registry: Registry) -> Table:
    table = Table(title="Features", title_justify="left")
    table.add_column("feature", no_wrap=True)
    table.add_column("computed as", overflow="fold")
    table.add_column("window", no_wrap=True)
    table.add_column("where", overflow="fold")
    for view in registry.views.values():
        for f in view.features:
            window = f.window_spec.label
            if f.offset_ms:
                window += f", offset {format_ms(f.offset_ms)}"
            where = "" if f.where is None else repr(f.where)
            table.add_row(f"{view.name}.{f.name}", escape(_aggregation(f)), window, escape(where))
    for name, batch in registry.batches.items():
        for column, kind in batch.schema.items():
            table.add_row(f"{name}.{column}", f"batch {_type(kind)}", "as of valid_from", "")
    for name, group in registry.groups.items():
        if isinstance(group, RequestSource):
            for field, kind in group.schema.items():
                table.add_row(f"{name}.{field}", f"request field, {_type(kind)}", "", "")
        if isinstance(group, RequestFeatureView):
            for rf in group.features:
                call = f"{getattr(rf.function, '__name__', 'function')}({', '.join(rf.inputs)})"
                table.add_row(f"{name}.{rf.name}", escape(call), "", "")
    return table


def _aggregation(feature: Feature) -> str:
    inputs = ", ".join(
        e.name if isinstance(e, Col) else repr(e) for e in feature.aggregation.inputs
    )
    return f"{feature.aggregation.label}({inputs})"


def _type(kind: object) -> str:
    return str(getattr(kind, "value", kind))
