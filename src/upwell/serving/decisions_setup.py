"""Where a feature store keeps decision state, consent, its decision log and erasures.

- Online state in this process (the embedded default): decision state and consent in
  ``<path>/decisions`` (journaled; one process per directory), or in memory without a
  path.
- Online state in Redis: decision state and consent in the same Redis, under the
  project's prefix (``<prefix>:dec:...``, ``<prefix>:consent:...``), so every process
  and server replica of the project decides on one state. The salt of erasure digests
  is shared there too (``<prefix>:erasure-salt``).

The decision log and the erasure log are local files (under ``<path>/decisions`` and
``<path>/erasures``), or in memory without a path.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from upwell.decisions.clock import Clock
from upwell.decisions.consent import ConsentStore
from upwell.decisions.consent_memory import MemoryConsentStore
from upwell.decisions.engine import DecisionEngine
from upwell.decisions.memory_state import MemoryDecisionState
from upwell.decisions.state_protocol import DecisionStateStore
from upwell.definitions.registry import Registry
from upwell.serving.decision_log import DecisionLog
from upwell.serving.decisions_service import DecisionService
from upwell.serving.erasure_log import ErasureLog
from upwell.stores.memory import MemoryStore
from upwell.stores.redis import RedisStore

MAX_CONNECTIONS = 64
"""Redis connections the decision stores share between a process's threads."""


def open_decisions(
    registry: Registry, online: MemoryStore | RedisStore, path: Path | None, clock: Clock
) -> tuple[DecisionService, ErasureLog]:
    """Open the decision service and the erasure log of a feature store.

    Args:
        registry: The definitions.
        online: The online store (decides where decision state lives).
        path: The store's directory, or None for memory.
        clock: The store's clock.

    Returns:
        The decision service and the erasure log.

    Raises:
        DecisionStateError: The embedded directory is open in another process.
    """
    state: DecisionStateStore
    consent: ConsentStore
    folder = None if path is None else path / "decisions"
    if isinstance(online, RedisStore):
        state, consent, salt = _redis_stores(online)
        erasures = ErasureLog(None if path is None else path / "erasures", salt=salt)
    else:
        erasures = ErasureLog(None if path is None else path / "erasures")
        state = MemoryDecisionState(folder, clock=clock)
        consent = MemoryConsentStore(folder, salt=erasures.salt)
    engine = DecisionEngine(state, consent, clock=clock)
    log = DecisionLog(None if folder is None else folder / "decisions.jsonl")
    return DecisionService(engine, registry, log), erasures


def _redis_stores(online: RedisStore) -> tuple[DecisionStateStore, ConsentStore, bytes]:
    import redis  # noqa: PLC0415 (an optional extra, present when the online store is Redis)

    from upwell.decisions.consent_redis import RedisConsentStore  # noqa: PLC0415
    from upwell.decisions.redis_state import RedisDecisionState  # noqa: PLC0415

    url = online.connection.url
    client: redis.Redis
    if online.connection.is_cluster:
        client = redis.RedisCluster.from_url(url, max_connections=MAX_CONNECTIONS)  # type: ignore[assignment]
    else:
        pool = redis.BlockingConnectionPool.from_url(url, max_connections=MAX_CONNECTIONS)
        client = redis.Redis(connection_pool=pool)
        client.auto_close_connection_pool = True  # closing the stores closes the pool
    namespace = online.keys.prefix
    salt_key = f"{namespace}:erasure-salt"
    client.set(salt_key, secrets.token_hex(32), nx=True)
    salt = bytes.fromhex(str(client.get(salt_key).decode()))  # type: ignore[union-attr]
    state = RedisDecisionState(client, namespace=namespace)
    return state, RedisConsentStore(client, namespace=namespace, salt=salt), salt
