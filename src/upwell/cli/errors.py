"""Errors of the command line's own arguments and files."""

from __future__ import annotations

from upwell.errors import UpwellError


class CommandError(UpwellError):
    """A command's argument, option or input file is invalid."""
