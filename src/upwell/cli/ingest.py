"""``upwell ingest``: push or backfill a file of events into a source."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pyarrow as pa
import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from upwell.cli.console import err, out, report_errors
from upwell.cli.data_files import read_table
from upwell.cli.errors import CommandError
from upwell.cli.workspace import ProjectOption, load_workspace
from upwell.definitions.registry import Registry
from upwell.definitions.types import FieldType
from upwell.ingest.columnar_batch import validate_columns
from upwell.ingest.pusher import PushResult
from upwell.runtime import FeatureStore


@report_errors
def ingest(
    file: Annotated[Path, typer.Argument(help="Events as .csv, .parquet or .jsonl.")],
    source: Annotated[str, typer.Option("--source", "-s", help="The event source's name.")],
    backfill: Annotated[
        bool,
        typer.Option(
            "--backfill", help="Load history through the columnar path (sorted by event time)."
        ),
    ] = False,
    batch_size: Annotated[
        int, typer.Option(min=1, help="Events per push (without --backfill).")
    ] = 10_000,
    assume_utc: Annotated[
        bool, typer.Option("--assume-utc", help="Read timestamps without an offset as UTC.")
    ] = False,
    project: ProjectOption = Path(),
) -> None:
    """Ingest a file of events; print how many were accepted, duplicates, or late.

    Every column is checked (types, nulls, numbers, timestamps) before anything is stored.
    Without --backfill, events are pushed in file order, in batches, as a live stream
    would deliver them; with it, they are loaded in event-time order in one pass.
    """
    workspace = load_workspace(project)
    table = _read_events(workspace.registry, file, source, assume_utc)
    with workspace.store() as store:
        if backfill:
            with err.status(f"Backfilling {table.num_rows} events into {source!r}..."):
                result = store.backfill(source, table)
        else:
            result = _push(store, source, table, batch_size)
        letters = getattr(store.dead_letters, "path", "the dead-letter sink")
    mode = "backfilled" if backfill else "pushed"
    out.print(f"{file.name}: {table.num_rows} events {mode} into source {source!r}")
    out.print(f"accepted {result.accepted}  duplicates {result.duplicates}  late {result.late}")
    if result.late:
        out.print(f"late events were written to {escape(str(letters))}")


def _read_events(registry: Registry, file: Path, source: str, assume_utc: bool) -> pa.Table:
    spec = registry.sources.get(source)
    if spec is None:
        msg = f"unknown source {source!r}"
        raise CommandError(msg, where="--source", fix=f"use one of {sorted(registry.sources)}")
    timestamps = [n for n, kind in spec.schema.items() if kind is FieldType.TIMESTAMP]
    table = read_table(file, spec.schema, timestamps, assume_utc=assume_utc)
    validate_columns(table, spec.schema, f"{file.name} (source {source!r})")
    return table.select(list(spec.schema))


def _push(store: FeatureStore, source: str, table: pa.Table, batch_size: int) -> PushResult:
    accepted = duplicates = late = 0
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err) as progress:
        task = progress.add_task(f"Pushing to {source}", total=table.num_rows)
        for start in range(0, table.num_rows, batch_size):
            batch = table.slice(start, batch_size)
            result = store.push(source, batch)
            accepted += result.accepted
            duplicates += result.duplicates
            late += result.late
            progress.advance(task, batch.num_rows)
    return PushResult(accepted=accepted, duplicates=duplicates, late=late)
