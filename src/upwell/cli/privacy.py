"""``upwell consent`` and ``upwell erase``: a person's consent, and erasure of their data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from upwell.cli.console import out, report_errors
from upwell.cli.errors import CommandError
from upwell.cli.workspace import ProjectOption, load_workspace

EntityArgument = Annotated[str, typer.Argument(help="The entity's name, e.g. customer.")]
KeyArgument = Annotated[
    str, typer.Argument(help="Its key: the value, or a JSON list for several key columns.")
]


def _key(text: str) -> Any:
    if text.startswith("["):
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            msg = f"{text!r} is not a JSON list"
            raise CommandError(msg, where="KEY", fix="write e.g. '[\"DE\", 7]'") from None
    return text


@report_errors
def consent(
    entity: EntityArgument,
    key: KeyArgument,
    grant: Annotated[
        str | None, typer.Option("--grant", help="Record consent to this purpose.")
    ] = None,
    withdraw: Annotated[
        str | None, typer.Option("--withdraw", help="Record withdrawal of this purpose.")
    ] = None,
    source: Annotated[str, typer.Option(help="Where the change was collected.")] = "cli",
    project: ProjectOption = Path(),
) -> None:
    """Show an entity's consent per purpose, or grant or withdraw one (as of now)."""
    if grant is not None and withdraw is not None:
        msg = "give at most one of --grant and --withdraw"
        raise CommandError(msg, fix="change one purpose per command")
    workspace = load_workspace(project)
    with workspace.store() as store:
        subject_key = _key(key)
        if grant is None and withdraw is None:
            record = store.consent(entity, subject_key)
        else:
            purpose = grant if grant is not None else str(withdraw)
            record = store.set_consent(
                entity, subject_key, purpose, granted=grant is not None, source=source
            )
    purposes = {
        name: {"status": c.status.value, "at_ms": c.at_ms, "source": c.source}
        for name, c in record.changes.items()
    }
    out.print_json(orjson.dumps({"subject": record.entity_key, "purposes": purposes}).decode())


@report_errors
def erase(
    entity: EntityArgument,
    key: KeyArgument,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    project: ProjectOption = Path(),
) -> None:
    """Erase an entity's data from every store of the project, and record the erasure."""
    if not yes:
        typer.confirm(f"Erase every record of {entity} {key}? This cannot be undone", abort=True)
    workspace = load_workspace(project)
    with workspace.store() as store:
        record = store.erase(entity, _key(key))
    out.print_json(orjson.dumps(record.to_json()).decode())
