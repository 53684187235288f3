"""``upwell training-set``: point-in-time features for the rows of an entity file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pyarrow as pa
import typer

from upwell.cli.console import err, out, report_errors
from upwell.cli.data_files import check_output, read_table, write_table
from upwell.cli.entity_rows import row_types
from upwell.cli.errors import CommandError
from upwell.cli.features import FeaturesOption, ServiceOption, select_features
from upwell.cli.workspace import ProjectOption, load_workspace
from upwell.definitions.registry import Registry


@report_errors
def training_set(
    entities: Annotated[
        Path,
        typer.Option(
            help="Rows to compute features for (.csv, .parquet or .jsonl): "
            "entity keys, a timestamp column and any request fields."
        ),
    ],
    out_path: Annotated[
        Path, typer.Option("--out", "-o", help="The output file, .parquet or .csv.")
    ],
    features: FeaturesOption = None,
    service: ServiceOption = None,
    timestamp_column: Annotated[
        str, typer.Option(help="The column with each row's time.")
    ] = "timestamp",
    assume_utc: Annotated[
        bool, typer.Option("--assume-utc", help="Read timestamps without an offset as UTC.")
    ] = False,
    project: ProjectOption = Path(),
) -> None:
    """Build a point-in-time-correct training set and write it to a file.

    Each row gets the features as an online read as of its time would have returned
    them: every event with a time at or before it counts, later ones do not.
    """
    workspace = load_workspace(project)
    target = select_features(workspace.registry, features, service)
    check_output(out_path)
    table = _read_rows(workspace.registry, entities, timestamp_column, assume_utc)
    with (
        workspace.store() as store,
        err.status(f"Building features for {table.num_rows} rows..."),
    ):
        result: pa.Table = store.training_set(
            target, table, timestamp_column=timestamp_column, output="arrow"
        )
    write_table(result, out_path)
    out.print(f"wrote {result.num_rows} rows x {result.num_columns} columns to {out_path}")


def _read_rows(registry: Registry, path: Path, timestamp_column: str, assume_utc: bool) -> pa.Table:
    table = read_table(path, row_types(registry), [timestamp_column], assume_utc=assume_utc)
    if timestamp_column not in table.column_names:
        msg = f"has no column {timestamp_column!r} (columns: {table.column_names})"
        raise CommandError(
            msg, where=str(path), fix="name the column of each row's time with --timestamp-column"
        )
    return table
