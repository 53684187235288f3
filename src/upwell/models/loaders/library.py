"""Importing a model library only when its format is used."""

from __future__ import annotations

import importlib
from types import ModuleType

from upwell.models.errors import ModelError
from upwell.models.protocol import ModelFormat

INSTALL_FIX = "Install the model libraries: pip install 'upwell[models]'."


def import_library(name: str, fmt: ModelFormat) -> ModuleType:
    """Import the library a format needs, or say how to install it.

    Args:
        name: The module to import, e.g. ``"lightgbm"`` or ``"skops.io"``.
        fmt: The format that needs it (named in the error).

    Returns:
        The imported module.

    Raises:
        ModelError: The library is not installed.
    """
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        msg = (
            f"{fmt.value} models need the Python package {name.split('.', maxsplit=1)[0]!r}, "
            f"which is not installed ({exc})"
        )
        raise ModelError(
            msg,
            where=name,
            fix=INSTALL_FIX,
        ) from exc
