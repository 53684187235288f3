"""The full fraud-handbook simulation equals the published data, row for row and column for column.

Oracle: ``shared/data/fraud-handbook/transactions.parquet``, the handbook's published
1,754,155 transactions (see ``shared/fraud-handbook.md`` sections 1 and 5).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from upwell.examples.fraud import SimulationConfig, simulate

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def published(fraud_handbook_transactions: Path) -> pd.DataFrame:
    return pd.read_parquet(fraud_handbook_transactions)


def test_full_simulation_equals_the_published_data(published: pd.DataFrame) -> None:
    simulated = simulate(SimulationConfig())
    assert len(simulated) == 1_754_155
    assert_frame_equal(simulated, published, check_exact=True)
