"""Makes ``tests.oracle`` importable, and opens each property test's feature stores.

The oracle lives beside the test tree, not in src. The ``open_store`` fixture runs a
test on the embedded store and again with the online state in Redis (``redis``
marker; skipped without Redis, failing under ``CI=true``): online == offline == oracle
must hold on every backend.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

_REPO_ROOT = str(Path(__file__).resolve().parents[3])
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

import upwell as uw  # noqa: E402
from contract.redis_support import RedisNamespace, require_redis  # noqa: E402

OpenStore = Callable[..., uw.FeatureStore]


@pytest.fixture(scope="module", params=["embedded", pytest.param("redis", marks=pytest.mark.redis)])
def open_store(request: pytest.FixtureRequest) -> Iterator[OpenStore]:
    """``open_store(definitions, **kwargs)``: a FeatureStore on the backend under test.

    On Redis every store gets a namespace of its own, deleted when the module ends.
    """
    if request.param == "embedded":
        yield uw.FeatureStore
        return
    require_redis()
    namespaces: list[RedisNamespace] = []

    def open_redis(definitions: list[Any], **kwargs: Any) -> uw.FeatureStore:
        namespaces.append(RedisNamespace())
        return namespaces[-1].feature_store(definitions, **kwargs)

    try:
        yield open_redis
    finally:
        for namespace in namespaces:
            namespace.cleanup()
