"""Project configuration: ``upwell.toml``, its environment overrides, and the definitions.

A project is a directory holding ``upwell.toml``::

    [project]
    name = "shop"
    definitions = "features.py"   # Python file with the definitions, relative to the project
    data = ".upwell"              # where the feature store keeps its state
    fsync = "never"               # "never", "every_second" or "always"

``UPWELL_DATA`` and ``UPWELL_FSYNC`` override ``data`` and ``fsync``. Relative paths,
in the file and in ``UPWELL_DATA`` alike, are relative to the project directory.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import tomllib
import traceback
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, cast, get_args

from upwell.definitions.registry import Definition
from upwell.errors import UpwellError
from upwell.eventlog.protocol import Fsync

CONFIG_FILE = "upwell.toml"
DEFINITION_TYPES: tuple[type, ...] = get_args(Definition)
_KEYS = ("name", "definitions", "data", "fsync")
_FSYNC_CHOICES = [f.value for f in Fsync]


class ConfigError(UpwellError):
    """The project configuration or its definitions module is invalid or missing."""


@dataclass(frozen=True, kw_only=True)
class ProjectConfig:
    """A loaded, validated project configuration; paths are absolute.

    Args:
        root: The project directory.
        name: The project's name.
        definitions: The Python file holding the definitions.
        data: The feature store's directory.
        fsync: When the event log forces acknowledged events to stable storage.
    """

    root: Path
    name: str
    definitions: Path
    data: Path
    fsync: Fsync

    @property
    def file(self) -> Path:
        """The project's ``upwell.toml``."""
        return self.root / CONFIG_FILE


def load_config(project: str | Path, environ: Mapping[str, str] | None = None) -> ProjectConfig:
    """Read and validate ``upwell.toml`` in a project directory.

    Args:
        project: The project directory.
        environ: The environment to read overrides from; defaults to ``os.environ``.
            Empty variables count as unset.

    Returns:
        The configuration.

    Raises:
        ConfigError: The file is missing or unreadable, is not valid TOML, has unknown
            tables or keys, or a value (or an override) is of the wrong type or out of range.
    """
    env = os.environ if environ is None else environ
    root = Path(project).expanduser().resolve()
    file = root / CONFIG_FILE
    table = _project_table(_read_toml(file), file)
    name = _string(table, "name", root.name, file)
    definitions = _string(table, "definitions", "features.py", file)
    if not definitions.endswith(".py"):
        msg = f"{definitions!r} is not a Python file"
        raise ConfigError(msg, where=f"{file} [project] definitions", fix=_fix_definitions())
    # The file is checked in full even where the environment overrides it.
    file_data = _string(table, "data", ".upwell", file)
    data = env.get("UPWELL_DATA") or file_data
    fsync = _fsync(_string(table, "fsync", Fsync.NEVER.value, file), f"{file} [project] fsync")
    if env.get("UPWELL_FSYNC"):
        fsync = _fsync(env["UPWELL_FSYNC"], "environment variable UPWELL_FSYNC")
    return ProjectConfig(
        root=root,
        name=name,
        definitions=root / definitions,
        data=root / Path(data).expanduser(),
        fsync=fsync,
    )


def _fix_definitions() -> str:
    return 'name the Python file with the definitions, e.g. definitions = "features.py"'


def _read_toml(file: Path) -> dict[str, Any]:
    if not file.is_file():
        msg = f"no {CONFIG_FILE} in {file.parent}"
        raise ConfigError(
            msg,
            where="project",
            fix=f"run `upwell init {file.parent}` to create a project, or pass --project DIR "
            "pointing at a directory that has one",
        )
    try:
        return tomllib.loads(file.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        msg = f"is not valid TOML: {error}"
        raise ConfigError(msg, where=str(file), fix="correct the syntax at that line") from None
    except OSError as error:
        msg = f"cannot be read: {error.strerror}"
        raise ConfigError(msg, where=str(file), fix="check the file's permissions") from None


def _project_table(document: dict[str, Any], file: Path) -> dict[str, Any]:
    unknown = sorted(set(document) - {"project"})
    if unknown:
        msg = f"has unknown tables or keys {unknown}"
        raise ConfigError(msg, where=str(file), fix="keep only a [project] table")
    table = document.get("project")
    if not isinstance(table, dict):
        msg = "has no [project] table"
        raise ConfigError(
            msg, where=str(file), fix='add [project] with at least name = "my_project"'
        )
    unknown = sorted(set(table) - set(_KEYS))
    if unknown:
        msg = f"has unknown keys {unknown}"
        raise ConfigError(msg, where=f"{file} [project]", fix=f"use only {list(_KEYS)}")
    return table


def _string(table: Mapping[str, Any], key: str, default: str, file: Path) -> str:
    value = table.get(key, default)
    if not isinstance(value, str) or not value.strip():
        msg = f"must be a non-empty string, got {value!r}"
        raise ConfigError(msg, where=f"{file} [project] {key}", fix=f'write {key} = "..."')
    return value.strip()


def _fsync(text: str, where: str) -> Fsync:
    try:
        return Fsync(text.strip().lower())
    except ValueError:
        msg = f"{text!r} is not a valid fsync policy"
        raise ConfigError(msg, where=where, fix=f"use one of {_FSYNC_CHOICES}") from None


def load_definitions(path: str | Path) -> list[Definition]:
    """Import a definitions file and collect its definitions.

    The file is imported under its own name, with its directory first on ``sys.path`` so
    it can import sibling modules; afterwards ``sys.path`` and the module itself are
    removed again, so loading registers nothing globally. If the module has a
    module-level ``definitions`` list, that list is returned; otherwise every
    module-level Entity, EventSource, FeatureView, BatchFeatures, RequestSource,
    RequestFeatureView and FeatureService, in the order they were defined.

    Args:
        path: The Python file.

    Returns:
        The definitions (not yet validated as a set).

    Raises:
        ConfigError: The file is missing, fails to import, or defines nothing.
        DefinitionError: A definition in the file is invalid (raised while importing).
    """
    file = Path(path).expanduser().resolve()
    if not file.is_file():
        msg = f"definitions file {file} does not exist"
        raise ConfigError(
            msg,
            where=CONFIG_FILE,
            fix="create it, or point [project] definitions at the Python file that holds them",
        )
    module = _import(file)
    return _collect(module, file)


def _import(file: Path) -> ModuleType:
    name = file.stem
    spec = importlib.util.spec_from_file_location(name, file)
    if spec is None or spec.loader is None:
        msg = "cannot be imported as a Python module"
        raise ConfigError(msg, where=str(file), fix="name it like a module, e.g. features.py")
    module = importlib.util.module_from_spec(spec)
    with _imported_as(name, module, file.parent):
        try:
            spec.loader.exec_module(module)
        except UpwellError:
            raise
        except Exception as error:
            raise _import_error(error, file) from error
    return module


@contextmanager
def _imported_as(name: str, module: ModuleType, directory: Path) -> Iterator[None]:
    # Dataclasses and typing look a class's module up in sys.modules while the file
    # runs; both entries are put back afterwards so nothing stays registered.
    previous = sys.modules.get(name)
    sys.modules[name] = module
    sys.path.insert(0, str(directory))
    try:
        yield
    finally:
        sys.path.remove(str(directory))
        if previous is None:
            sys.modules.pop(name, None)
        else:
            sys.modules[name] = previous


def _import_error(error: BaseException, file: Path) -> ConfigError:
    frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename == str(file)]
    line = frames[-1].lineno if frames else getattr(error, "lineno", None)
    where = f"{file}:{line}" if line else str(file)
    msg = f"importing the definitions failed: {type(error).__name__}: {error}"
    return ConfigError(msg, where=where, fix="fix the error at that line")


def _collect(module: ModuleType, file: Path) -> list[Definition]:
    listed = getattr(module, "definitions", None)
    if listed is not None:
        if not isinstance(listed, list | tuple):
            msg = f"module-level 'definitions' is a {type(listed).__name__}, not a list"
            raise ConfigError(msg, where=str(file), fix="make it a list of definitions")
        return list(listed)
    found: list[Definition] = []
    seen: set[int] = set()
    for value in vars(module).values():
        if isinstance(value, DEFINITION_TYPES) and id(value) not in seen:
            seen.add(id(value))
            found.append(cast("Definition", value))
    if not found:
        msg = "defines no entities, sources, feature views or services"
        raise ConfigError(
            msg,
            where=str(file),
            fix="define them at module level, or list them in a module-level `definitions`",
        )
    return found


__all__ = ["CONFIG_FILE", "ConfigError", "ProjectConfig", "load_config", "load_definitions"]
