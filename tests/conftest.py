"""Shared fixtures: where the published fraud-handbook data lives."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).parents[1]
FRAUD_HANDBOOK_TRANSACTIONS = (
    REPO_ROOT.parent / "shared" / "data" / "fraud-handbook" / "transactions.parquet"
)


@pytest.fixture(scope="session")
def fraud_handbook_transactions() -> Path:
    """Path of the published handbook transactions; skips if absent (fails when CI=true)."""
    if FRAUD_HANDBOOK_TRANSACTIONS.is_file():
        return FRAUD_HANDBOOK_TRANSACTIONS
    reason = (
        f"published fraud-handbook data not found at {FRAUD_HANDBOOK_TRANSACTIONS}; "
        "it lives in the shared data folder next to the repository "
        "(shared/data/fraud-handbook/transactions.parquet)"
    )
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)
