"""The public API: ``upwell.__all__`` is sorted, complete and importable."""

from __future__ import annotations

import upwell
from upwell.definitions.registry import Definition


def test_all_is_sorted_and_every_name_exists() -> None:
    assert list(upwell.__all__) == sorted(upwell.__all__)
    missing = [name for name in upwell.__all__ if not hasattr(upwell, name)]
    assert missing == []


def test_every_definition_kind_is_exported() -> None:
    kinds = {kind.__name__ for kind in Definition.__args__}  # type: ignore[attr-defined]
    assert kinds <= set(upwell.__all__)
