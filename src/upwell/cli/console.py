"""Where the command line writes: results to stdout, progress and errors to stderr.

Keeping progress and errors on stderr leaves stdout to the result alone, so
``upwell features get --json > out.json`` writes only the JSON.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from upwell.errors import UpwellError

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True, highlight=False)

P = ParamSpec("P")
R = TypeVar("R")


def report_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn upwell's errors in a command into a one-line red message and exit code 1.

    Anything else is a bug and keeps its traceback.

    Args:
        command: The command function.

    Returns:
        The wrapped function.
    """

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except UpwellError as error:
            err.print(f"[bold red]Error:[/] [red]{escape(_one_line(str(error)))}[/]")
            raise typer.Exit(code=1) from None

    return wrapper


def _one_line(text: str) -> str:
    return " ".join(text.split())
