"""The ``upwell`` command: the typer application and its entry point.

Each command lives in its own module; this one only assembles them. Add a command
with ``app.command()(function)`` or a group with ``app.add_typer(group, name=...)``.
"""

from __future__ import annotations

import typer

from upwell.cli.audit import audit_app
from upwell.cli.demo import demo_app
from upwell.cli.features import features_app
from upwell.cli.ingest import ingest
from upwell.cli.models import models_app
from upwell.cli.privacy import consent, erase
from upwell.cli.project import apply, init
from upwell.cli.serve import serve
from upwell.cli.training import training_set
from upwell.cli.worker import worker

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
app.command()(serve)
app.add_typer(models_app, name="models")
app.command()(worker)
app.add_typer(audit_app, name="audit")
app.command()(consent)
app.command()(erase)


def main() -> None:
    """Run the command line."""
    app()
