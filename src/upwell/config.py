"""Project configuration: ``upwell.toml``, its environment overrides, and the definitions.

A project is a directory holding ``upwell.toml``::

    [project]
    name = "shop"
    definitions = "features.py"   # Python file with the definitions, relative to the project
    data = ".upwell"              # where the feature store keeps its state
    fsync = "never"               # "never", "every_second" or "always"

    [online]                      # optional: online state in Redis instead of this process
    url = "redis://127.0.0.1:6379/0"
    prefix = "shop"               # key prefix; default: the project name
    idle_ttl = "45d"              # drop an entity's window state this long after its last
                                  # event; default: keep it

``UPWELL_DATA`` and ``UPWELL_FSYNC`` override ``data`` and ``fsync``; ``UPWELL_ONLINE``
overrides ``[online] url`` (``embedded`` keeps the state in this process). Relative paths,
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
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from types import ModuleType
from typing import Any, cast, get_args
from urllib.parse import urlsplit

from upwell.decisions.policy import Policy
from upwell.definitions.durations import to_ms
from upwell.definitions.errors import DefinitionError
from upwell.definitions.registry import Definition
from upwell.errors import UpwellError
from upwell.eventlog.protocol import Fsync
from upwell.stores.redis_errors import RedisStoreError
from upwell.stores.redis_keys import check_prefix

CONFIG_FILE = "upwell.toml"
DEFINITION_TYPES: tuple[type, ...] = get_args(Definition)
_KEYS = ("name", "definitions", "data", "fsync")
SECTION_TABLES = ("worker", "server", "models", "online", "audit")
"""Tables besides [project], each validated by the part that reads it (``upwell.server``)."""
_FSYNC_CHOICES = [f.value for f in Fsync]
EMBEDDED = "embedded"
"""The ``UPWELL_ONLINE`` value that keeps the online state in this process."""
_ONLINE_KEYS = ("url", "prefix", "idle_ttl")
_REDIS_SCHEMES = ("redis", "rediss", "unix")


class ConfigError(UpwellError):
    """The project configuration or its definitions module is invalid or missing."""


@dataclass(frozen=True, kw_only=True)
class OnlineConfig:
    """Online state in Redis (or Redis Cluster), shared by every process of a project.

    Args:
        url: ``redis://[user:password@]host:port/db``, ``rediss://...`` or ``unix://path``.
        prefix: The key prefix (letters, digits, ``_ . - :``); the definitions'
            fingerprint is added to it, so changed definitions start from fresh state.
        idle_ttl: How long an entity's window state outlives its last event; None: forever.
    """

    url: str
    prefix: str = "upwell"
    idle_ttl: timedelta | None = None

    def __post_init__(self) -> None:
        parse_online_url(self.url, "OnlineConfig.url")
        try:
            check_prefix(self.prefix)
        except RedisStoreError as error:
            raise ConfigError(error.what, where="OnlineConfig.prefix", fix=error.fix) from None
        if self.idle_ttl is not None and self.idle_ttl <= timedelta(0):
            msg = f"idle_ttl must be positive, got {self.idle_ttl}"
            raise ConfigError(msg, where="OnlineConfig.idle_ttl", fix="use None to keep state")


def parse_online_url(url: str, where: str) -> str:
    """Check a Redis URL's form (not whether Redis answers).

    Args:
        url: The URL.
        where: Where it came from, for the message.

    Returns:
        The URL.

    Raises:
        ConfigError: The scheme is not redis, rediss or unix, or the host is missing.
    """
    parts = urlsplit(url.strip())
    if parts.scheme not in _REDIS_SCHEMES or not (parts.hostname or parts.path):
        msg = f"{url!r} is not a Redis URL"
        raise ConfigError(
            msg,
            where=where,
            fix='write e.g. "redis://127.0.0.1:6379/0", "rediss://host:6380/0" or '
            f'"unix:///run/redis.sock", or {EMBEDDED!r} to keep the state in this process',
        )
    return url.strip()


@dataclass(frozen=True, kw_only=True)
class ProjectConfig:
    """A loaded, validated project configuration; paths are absolute.

    Args:
        root: The project directory.
        name: The project's name.
        definitions: The Python file holding the definitions.
        data: The feature store's directory.
        fsync: When the event log forces acknowledged events to stable storage.
        sections: The raw [server] and [models] tables, validated by their readers.
        online: Where the online state lives; None: in this process.
    """

    root: Path
    name: str
    definitions: Path
    data: Path
    fsync: Fsync
    sections: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    online: OnlineConfig | None = None

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
    document = _read_toml(file)
    table = _project_table(document, file)
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
        sections={name: document.get(name, {}) for name in SECTION_TABLES},
        online=_online(document.get("online", {}), name, env, file),
    )


def _online(
    table: Mapping[str, Any], project: str, env: Mapping[str, str], file: Path
) -> OnlineConfig | None:
    where = f"{file} [online]"
    unknown = sorted(set(table) - set(_ONLINE_KEYS))
    if unknown:
        msg = f"has unknown keys {unknown}"
        raise ConfigError(msg, where=where, fix=f"use only {list(_ONLINE_KEYS)}")
    url = _string(table, "url", EMBEDDED, file, "online")
    if env.get("UPWELL_ONLINE"):
        url, where = env["UPWELL_ONLINE"].strip(), "environment variable UPWELL_ONLINE"
    if url == EMBEDDED:
        return None
    url = parse_online_url(url, where if "UPWELL" in where else f"{where} url")
    default_prefix = "".join(c if c.isalnum() or c in "_.-" else "-" for c in project)[:64]
    prefix = _string(table, "prefix", default_prefix, file, "online")
    ttl = table.get("idle_ttl")
    try:
        idle_ttl = (
            None if ttl is None else timedelta(milliseconds=to_ms(ttl, definition="", field=""))
        )
    except DefinitionError:
        msg = f"{ttl!r} is not a duration"
        raise ConfigError(msg, where=f"{file} [online] idle_ttl", fix='write e.g. "45d"') from None
    try:
        return OnlineConfig(url=url, prefix=prefix, idle_ttl=idle_ttl)
    except ConfigError as error:
        raise ConfigError(error.what, where=f"{file} [online]", fix=error.fix) from None


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
    unknown = sorted(set(document) - {"project", *SECTION_TABLES})
    if unknown:
        msg = f"has unknown tables or keys {unknown}"
        raise ConfigError(
            msg, where=str(file), fix=f"use only [project] and {[f'[{t}]' for t in SECTION_TABLES]}"
        )
    for name in SECTION_TABLES:
        if not isinstance(document.get(name, {}), dict):
            msg = f"{name} must be a table"
            raise ConfigError(msg, where=str(file), fix=f"write it as a [{name}] table")
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


def _string(
    table: Mapping[str, Any], key: str, default: str, file: Path, section: str = "project"
) -> str:
    value = table.get(key, default)
    if not isinstance(value, str) or not value.strip():
        msg = f"must be a non-empty string, got {value!r}"
        raise ConfigError(msg, where=f"{file} [{section}] {key}", fix=f'write {key} = "..."')
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


def load_policies(path: str | Path) -> list[Policy]:
    """Import a definitions file and collect its decision policies.

    If the module has a module-level ``policies`` list, that list is returned; otherwise
    every module-level :class:`~upwell.decisions.Policy`, in the order they were defined
    (none is fine: a project need not decide anything).

    Args:
        path: The Python file (the project's definitions file).

    Returns:
        The policies.

    Raises:
        ConfigError: The file is missing or fails to import, or ``policies`` is not a
            list of policies.
    """
    file = Path(path).expanduser().resolve()
    if not file.is_file():
        msg = f"definitions file {file} does not exist"
        raise ConfigError(msg, where=CONFIG_FILE, fix="point [project] definitions at it")
    module = _import(file)
    listed = getattr(module, "policies", None)
    if listed is None:
        found = {id(v): v for v in vars(module).values() if isinstance(v, Policy)}
        return list(found.values())
    if not isinstance(listed, list | tuple) or not all(isinstance(p, Policy) for p in listed):
        msg = "module-level 'policies' is not a list of Policy objects"
        raise ConfigError(msg, where=str(file), fix="make it a list of upwell Policy objects")
    return list(listed)


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


__all__ = [
    "CONFIG_FILE",
    "EMBEDDED",
    "ConfigError",
    "OnlineConfig",
    "ProjectConfig",
    "load_config",
    "load_definitions",
    "load_policies",
    "parse_online_url",
]
