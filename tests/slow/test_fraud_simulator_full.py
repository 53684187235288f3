"""The full fraud-handbook simulation equals the published data, row for row and column for column.

Oracle: ``shared/data/fraud-handbook/transactions.parquet``, the handbook's published
1,754,155 transactions (see ``shared/fraud-handbook.md`` sections 1 and 5).
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from upwell.examples.fraud import SimulationConfig, simulate

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).parents[2]
FRAUD_HANDBOOK_TRANSACTIONS = (
    REPO_ROOT.parent / "shared" / "data" / "fraud-handbook" / "transactions.parquet"
)


@pytest.fixture(scope="module")
def published() -> pd.DataFrame:
    if not FRAUD_HANDBOOK_TRANSACTIONS.is_file():
        reason = (
            f"published fraud-handbook data not found at {FRAUD_HANDBOOK_TRANSACTIONS}; "
            "it lives in the shared data folder next to the repository "
            "(shared/data/fraud-handbook/transactions.parquet)"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return pd.read_parquet(FRAUD_HANDBOOK_TRANSACTIONS)


def test_full_simulation_equals_the_published_data(published: pd.DataFrame) -> None:
    simulated = simulate(SimulationConfig())
    assert len(simulated) == 1_754_155
    assert_frame_equal(simulated, published, check_exact=True)
