"""The ``upwell`` command: the typer application and its entry point.

Each command lives in its own module; this one only assembles them. Add a command
with ``app.command()(function)`` or a group with ``app.add_typer(group, name=...)``.
"""

from __future__ import annotations

import typer

from upwell.cli.demo import demo_app
from upwell.cli.features import features_app
from upwell.cli.ingest import ingest
from upwell.cli.project import apply, init
from upwell.cli.training import training_set

app = typer.Typer(
    name="upwell",
    help="Real-time ML features: define, ingest, serve, train.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)


@app.callback()
def _root() -> None:
    """Real-time ML features: define, ingest, serve, train."""


app.command()(init)
app.command()(apply)
app.command()(ingest)
app.add_typer(features_app, name="features")
app.command("training-set")(training_set)
app.add_typer(demo_app, name="demo")


def main() -> None:
    """Run the command line."""
    app()
