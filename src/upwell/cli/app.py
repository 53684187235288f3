"""The ``upwell`` command: the typer application and its entry point."""

from __future__ import annotations

import typer

app = typer.Typer(name="upwell", help="Real-time ML features: define, ingest, serve, train.")


@app.callback()
def _root() -> None:
    """Real-time ML features: define, ingest, serve, train."""


def main() -> None:
    """Run the command line."""
    app()
