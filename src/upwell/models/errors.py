"""Errors of the model registry and loaders."""

from __future__ import annotations

from upwell.errors import UpwellError


class ModelError(UpwellError):
    """A model file, format, metadata or registry operation is invalid.

    Registering or loading a bad model raises this and changes nothing: the registry
    and whatever is serving stay as they were.
    """


class ModelNotFoundError(ModelError):
    """No model, version or alias has the name asked for."""

    not_found = True
