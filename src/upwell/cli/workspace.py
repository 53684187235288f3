"""The project a command works on: its configuration, definitions and feature store."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from upwell.cli.console import err
from upwell.config import ConfigError, ProjectConfig, load_config, load_definitions
from upwell.definitions.registry import Definition, Registry, validate
from upwell.runtime import FeatureStore

ProjectOption = Annotated[
    Path,
    typer.Option(
        "--project",
        "-p",
        help="The project directory (holding upwell.toml).",
        envvar="UPWELL_PROJECT",
        file_okay=False,
    ),
]


@dataclass(frozen=True)
class Workspace:
    """A project's configuration and its validated definitions.

    Args:
        config: The configuration.
        definitions: The definitions, as collected from the definitions file.
        registry: The definitions validated as a set.
    """

    config: ProjectConfig
    definitions: list[Definition]
    registry: Registry

    @property
    def models_path(self) -> Path:
        """The model registry's directory: ``[models] path``, default ``<data>/models``."""
        configured = self.config.sections.get("models", {}).get("path")
        if configured is None:
            return self.config.data / "models"
        if not isinstance(configured, str) or not configured.strip():
            msg = f"must be a non-empty string, got {configured!r}"
            raise ConfigError(
                msg, where=f"{self.config.file} [models] path", fix='write path = "models"'
            )
        return self.config.root / configured

    @contextmanager
    def store(self) -> Iterator[FeatureStore]:
        """Open the project's feature store; it is checkpointed and closed on exit.

        Another upwell command using the same data directory is waited for.

        Yields:
            The store.
        """
        with _exclusive(self.config.data):
            store = FeatureStore(
                self.definitions,
                path=self.config.data,
                fsync=self.config.fsync,
                models_path=self.models_path,
                online=self.config.online,
            )
            try:
                yield store
            finally:
                store.close()


@contextmanager
def _exclusive(data: Path) -> Iterator[None]:
    # The store's files are written by one process at a time (every command, reads
    # included, checkpoints on exit), so a second command waits for the first.
    data.mkdir(parents=True, exist_ok=True)
    if sys.platform == "win32":  # no flock; commands there must not overlap
        yield
        return
    import fcntl  # noqa: PLC0415 (POSIX only)

    with open(data / "lock", "a+b") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            err.print(f"Waiting for another upwell command that is using {data} ...")
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def load_workspace(project: Path) -> Workspace:
    """Load a project's configuration and definitions, and validate them as a set.

    Args:
        project: The project directory.

    Returns:
        The workspace.

    Raises:
        ConfigError: The configuration or definitions file is invalid.
        DefinitionError: The definitions are invalid.
    """
    config = load_config(project)
    definitions = load_definitions(config.definitions)
    return Workspace(config, definitions, validate(definitions))
