"""The [server] table: each mistake is refused at start with the key and the fix named.

Oracle: hand-written expectations per case (the digest of a key is hashlib's).
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import pytest

from upwell.config import ConfigError
from upwell.server.auth import Scope
from upwell.server.settings import load_settings

KEY = "a-long-enough-key-0123"
DIGEST = hashlib.sha256(KEY.encode()).hexdigest()
EVERYWHERE = "0.0.0.0"  # noqa: S104 (what the tests refuse without keys)


def _key(**overrides: Any) -> dict[str, Any]:
    return {"name": "ops", "scopes": ["features:read"], "key_env": "OPS_KEY", **overrides}


@pytest.mark.parametrize(
    ("table", "environ", "where", "message"),
    [
        ({"prot": 1}, {}, "[server]", "unknown keys ['prot']"),
        ({"port": "8000"}, {}, "port", "must be int"),
        ({"port": 70000}, {}, "port", "outside 1..65535"),
        ({"port": True}, {}, "port", "must be int"),
        ({}, {"UPWELL_PORT": "eighty"}, "UPWELL_PORT", "not a port number"),
        ({"refresh_interval_s": 0}, {}, "refresh_interval_s", "positive number"),
        ({"max_rows": -5}, {}, "max_rows", "positive number"),
        ({"host": EVERYWHERE}, {}, "[server]", "without API keys"),
        ({"api_keys": {"name": "x"}}, {}, "[server]", "array of tables"),
        ({"api_keys": [_key()]}, {}, "api_keys[0]", "unset or shorter than 16"),
        ({"api_keys": [_key()]}, {"OPS_KEY": "short"}, "api_keys[0]", "shorter than 16"),
        (
            {"api_keys": [_key(scopes=["everything"])]},
            {"OPS_KEY": KEY},
            "api_keys[0]",
            "unknown scope",
        ),
        ({"api_keys": [_key(scopes=[])]}, {"OPS_KEY": KEY}, "api_keys[0]", "non-empty list"),
        (
            {"api_keys": [_key(key_sha256=DIGEST)]},
            {"OPS_KEY": KEY},
            "api_keys[0]",
            "exactly one of",
        ),
        ({"api_keys": [_key(key_env=None, key_sha256="xyz")]}, {}, "api_keys[0]", "not a SHA-256"),
        ({"api_keys": [_key(), _key()]}, {"OPS_KEY": KEY}, "[server]", "names repeat"),
        ({"api_keys": [_key(colour="red")]}, {"OPS_KEY": KEY}, "api_keys[0]", "unknown keys"),
    ],
)
def test_mistakes_are_refused_with_where_and_fix(
    table: dict[str, Any], environ: dict[str, str], where: str, message: str
) -> None:
    if table.get("api_keys") and isinstance(table["api_keys"], list):
        table = {
            **table,
            "api_keys": [{k: v for k, v in e.items() if v is not None} for e in table["api_keys"]],
        }
    with pytest.raises(ConfigError, match=re.escape(message)) as caught:
        load_settings(table, environ)
    assert where in caught.value.where
    assert caught.value.fix


def test_a_valid_table_with_environment_overrides() -> None:
    table = {
        "host": EVERYWHERE,
        "port": 8100,
        "refresh_interval_s": 0.5,
        "api_keys": [
            _key(),
            {"name": "admin", "scopes": [s.value for s in Scope], "key_sha256": DIGEST.upper()},
        ],
    }
    settings = load_settings(table, {"OPS_KEY": KEY, "UPWELL_PORT": "9000"})
    assert (settings.host, settings.port, settings.refresh_interval_s) == (EVERYWHERE, 9000, 0.5)
    ops, admin = settings.api_keys
    assert ops.sha256 == DIGEST
    assert ops.scopes == frozenset({Scope.FEATURES_READ})
    assert admin.sha256 == DIGEST
    assert admin.scopes == frozenset(Scope)


def test_loopback_without_keys_and_explicit_anonymous_are_allowed() -> None:
    assert load_settings({}, {}).api_keys == ()
    assert load_settings({"host": "::1"}, {}).host == "::1"
    assert load_settings({"host": EVERYWHERE, "allow_anonymous": True}, {}).host == EVERYWHERE
