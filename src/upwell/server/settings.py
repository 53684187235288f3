"""The server's settings: the ``[server]`` table of ``upwell.toml`` plus the environment.

::

    [server]
    host = "127.0.0.1"
    port = 8000
    refresh_interval_s = 1.0      # how often the model registry is checked for changes
    graceful_timeout_s = 30       # how long shutdown waits for in-flight requests
    max_rows = 10000              # the most rows one request may carry
    allow_anonymous = false       # serve without keys on a non-loopback host

    [[server.api_keys]]
    name = "scoring-service"
    scopes = ["features:read"]    # features:read, events:write, models:manage
    key_env = "SCORING_KEY"       # the key's value comes from this variable...
    # key_sha256 = "..."          # ...or its SHA-256 is written here

``UPWELL_HOST`` and ``UPWELL_PORT`` override host and port. Without API keys every
request is allowed, which the server accepts only on a loopback address unless
``allow_anonymous`` is set.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from upwell.config import ConfigError
from upwell.server.auth import ApiKey, Scope

_KEYS = {
    "host",
    "port",
    "refresh_interval_s",
    "graceful_timeout_s",
    "max_rows",
    "allow_anonymous",
    "api_keys",
}


@dataclass(frozen=True, kw_only=True)
class ServerSettings:
    """Validated server settings.

    Args:
        host: The address to listen on.
        port: The port.
        refresh_interval_s: How often the model registry is polled.
        graceful_timeout_s: How long shutdown waits for in-flight requests.
        max_rows: The most rows (events, entities) one request may carry.
        api_keys: The accepted keys; empty means no authentication.
    """

    host: str = "127.0.0.1"
    port: int = 8000
    refresh_interval_s: float = 1.0
    graceful_timeout_s: float = 30.0
    max_rows: int = 10_000
    api_keys: tuple[ApiKey, ...] = ()


def load_settings(
    table: Mapping[str, Any], environ: Mapping[str, str], where: str = "upwell.toml [server]"
) -> ServerSettings:
    """Validate the ``[server]`` table and apply environment overrides.

    Args:
        table: The raw table.
        environ: The environment (for overrides and ``key_env``).
        where: The table's location, for errors.

    Returns:
        The settings.

    Raises:
        ConfigError: An unknown key, a value of the wrong type or range, a missing key
            variable, or anonymous access on a non-loopback address.
    """
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        msg = f"has unknown keys {unknown}"
        raise ConfigError(msg, where=where, fix=f"use only {sorted(_KEYS)}")
    host = environ.get("UPWELL_HOST") or _typed(table, "host", str, "127.0.0.1", where)
    port_text = environ.get("UPWELL_PORT")
    port = _port(port_text, "environment variable UPWELL_PORT") if port_text else None
    settings = ServerSettings(
        host=host,
        port=port if port is not None else _typed(table, "port", int, 8000, where),
        refresh_interval_s=_positive(table, "refresh_interval_s", 1.0, where),
        graceful_timeout_s=_positive(table, "graceful_timeout_s", 30.0, where),
        max_rows=int(_positive(table, "max_rows", 10_000, where)),
        api_keys=_api_keys(table.get("api_keys", []), environ, where),
    )
    if not 0 < settings.port < 65536:
        msg = f"port {settings.port} is outside 1..65535"
        raise ConfigError(msg, where=f"{where} port", fix="choose a port such as 8000")
    anonymous_ok = _typed(table, "allow_anonymous", bool, False, where)
    if not settings.api_keys and not anonymous_ok and not _is_loopback(settings.host):
        msg = f"serving on {settings.host} without API keys would let anyone write and manage"
        raise ConfigError(
            msg,
            where=where,
            fix="add [[server.api_keys]], listen on 127.0.0.1, or set allow_anonymous = true",
        )
    return settings


def _typed(table: Mapping[str, Any], key: str, kind: type, default: Any, where: str) -> Any:
    value = table.get(key, default)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        msg = f"must be {kind.__name__}, got {value!r}"
        raise ConfigError(msg, where=f"{where} {key}", fix=f"write {key} = {default!r}")
    return value


def _positive(table: Mapping[str, Any], key: str, default: float, where: str) -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        msg = f"must be a positive number, got {value!r}"
        raise ConfigError(msg, where=f"{where} {key}", fix=f"write {key} = {default!r}")
    return float(value)


def _port(text: str, where: str) -> int:
    try:
        return int(text)
    except ValueError:
        msg = f"{text!r} is not a port number"
        raise ConfigError(msg, where=where, fix="set it to a number such as 8000") from None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _api_keys(raw: Any, environ: Mapping[str, str], where: str) -> tuple[ApiKey, ...]:
    if not isinstance(raw, list):
        msg = "api_keys must be an array of tables"
        raise ConfigError(msg, where=where, fix="write each key as [[server.api_keys]]")
    keys = [_api_key(entry, environ, f"{where} api_keys[{i}]") for i, entry in enumerate(raw)]
    names = [k.name for k in keys]
    if len(set(names)) != len(names):
        msg = f"API key names repeat: {names}"
        raise ConfigError(msg, where=where, fix="give each key its own name")
    return tuple(keys)


def _api_key(entry: Any, environ: Mapping[str, str], where: str) -> ApiKey:
    if not isinstance(entry, dict):
        msg = "is not a table"
        raise ConfigError(msg, where=where, fix="write it as [[server.api_keys]]")
    unknown = sorted(set(entry) - {"name", "scopes", "key_env", "key_sha256"})
    if unknown:
        msg = f"has unknown keys {unknown}"
        raise ConfigError(msg, where=where, fix="use name, scopes, key_env or key_sha256")
    name = _typed(entry, "name", str, "", where)
    if not name:
        msg = "has no name"
        raise ConfigError(msg, where=where, fix='add name = "..."')
    scopes = _scopes(entry.get("scopes"), where)
    if ("key_env" in entry) == ("key_sha256" in entry):
        msg = "needs exactly one of key_env and key_sha256"
        raise ConfigError(msg, where=where, fix='add key_env = "VARIABLE" or key_sha256 = "..."')
    if "key_env" in entry:
        value = environ.get(str(entry["key_env"]), "")
        if len(value) < 16:
            msg = (
                f"environment variable {entry['key_env']!r} is unset or shorter than 16 characters"
            )
            raise ConfigError(msg, where=where, fix="set it to a long random key")
        digest = hashlib.sha256(value.encode()).hexdigest()
    else:
        digest = str(entry["key_sha256"]).lower()
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            msg = "key_sha256 is not a SHA-256 hex digest"
            raise ConfigError(msg, where=where, fix="write `printf %s KEY | sha256sum`'s output")
    return ApiKey(name=name, sha256=digest, scopes=scopes)


def _scopes(raw: Any, where: str) -> frozenset[Scope]:
    choices = [s.value for s in Scope]
    if not isinstance(raw, list) or not raw:
        msg = "scopes must be a non-empty list"
        raise ConfigError(msg, where=where, fix=f"list some of {choices}")
    try:
        return frozenset(Scope(s) for s in raw)
    except ValueError:
        msg = f"scopes {raw!r} include an unknown scope"
        raise ConfigError(msg, where=where, fix=f"use only {choices}") from None
