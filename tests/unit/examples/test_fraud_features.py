"""The fraud example's 15 features, served online, against the handbook's published values.

Oracles: the golden rows of ``shared/fraud-handbook.md`` section 4 (values from the handbook's
published transformed data, printed to 6 decimals) and ``tests/fraud_oracle.py``, an
independent pandas implementation of the handbook's feature method.

Every value here comes from upwell's real per-event path: ``run_live`` pushes each
transaction and each label (7 days after its transaction) and reads the transaction's
features online as of its own time. Features are per entity, so only the transactions of
the entities under test are streamed: a customer's features depend on its own transactions
only, a terminal's on its own transactions and their labels only. The stream starts on
2018-04-01 like the data, so no earlier history is missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import fraud_oracle
from upwell.examples.fraud.features import DEFINITIONS, HANDBOOK_FEATURES, fraud_detection
from upwell.examples.fraud.live import run_live
from upwell.examples.fraud.scoring import Scorer
from upwell.examples.fraud.stream import utc_transactions
from upwell.runtime import FeatureStore

CUSTOMERS = (0, 3578, 1908, 161, 4342, 618, 4056, 3542)
TERMINALS = (3059, 3205, 655, 6181, 1502, 3067, 9849)
NIGHT_EDGE = (1593, 1596)  # 06:59:12 and 07:00:07 on 2018-04-01
NEVER = pd.Timestamp("2100-01-01", tz="UTC")

TIME = ["TX_DURING_WEEKEND", "TX_DURING_NIGHT"]
CUSTOMER = [f"CUSTOMER_ID_{k}_{w}DAY_WINDOW" for w in (1, 7, 30) for k in ("NB_TX", "AVG_AMOUNT")]
TERMINAL = [f"TERMINAL_ID_{k}_{w}DAY_WINDOW" for w in (1, 7, 30) for k in ("NB_TX", "RISK")]

PRINTED = 5e-7  # the handbook prints 6 decimals
SAME = 1e-9  # AVG values carry float noise from summing (relative, and absolute near 0)

# Section 4.2: TRANSACTION_ID, amount, weekend, night, NB1, AVG1, NB7, AVG7, NB30, AVG30.
CUSTOMER_0 = [
    (1758, 123.59, 1, 0, 1, 123.59, 1, 123.59, 1, 123.59),
    (8275, 77.34, 1, 0, 2, 100.465, 2, 100.465, 2, 100.465),
    (8640, 46.51, 1, 0, 3, 82.48, 3, 82.48, 3, 82.48),
    (12169, 54.72, 0, 0, 3, 59.523333, 4, 75.54, 4, 75.54),
    (15764, 63.30, 0, 0, 4, 60.4675, 5, 73.092, 5, 73.092),
    (16470, 32.35, 0, 0, 5, 54.844, 6, 66.301667, 6, 66.301667),
    (16810, 13.59, 0, 0, 6, 47.968333, 7, 58.771429, 7, 58.771429),
    (18572, 51.89, 0, 0, 5, 43.17, 8, 57.91125, 8, 57.91125),
    (21219, 93.26, 0, 0, 6, 51.518333, 9, 61.838889, 9, 61.838889),
    (21852, 67.72, 0, 0, 7, 53.832857, 10, 62.427, 10, 62.427),
    (22201, 28.46, 0, 0, 7, 50.081429, 11, 59.339091, 11, 59.339091),
    (24199, 117.91, 0, 0, 8, 58.56, 12, 64.22, 12, 64.22),
]
CUSTOMER_0_LAST = (1751455, 27.90, 1, 0, 9, 61.598889, 31, 57.982581, 91, 61.508901)

# Section 4.3: TRANSACTION_ID, NB1, R1, NB7, R7, NB30, R30. Labels enter the windows 7 days
# after their transactions, so the first week sees nothing.
TERMINAL_3059 = [
    *((tx, 0, 0, 0, 0, 0, 0) for tx in (3527, 4732, 16216, 18249, 26512, 29143, 31121)),
    *((tx, 0, 0, 0, 0, 0, 0) for tx in (32815, 43721, 61073, 65923)),
    (74717, 2, 0.5, 2, 0.5, 2, 0.5),
    (84920, 1, 0, 3, 0.333333, 3, 0.333333),
    (113391, 1, 0, 9, 0.111111, 9, 0.111111),
    (126888, 0, 0, 9, 0.111111, 9, 0.111111),
    (131345, 1, 0, 10, 0.1, 10, 0.1),
    (148633, 1, 0, 10, 0, 12, 0.083333),
    (154705, 1, 0, 9, 0, 13, 0.076923),
    (157320, 1, 0, 9, 0, 13, 0.076923),
    (159015, 1, 0, 9, 0, 13, 0.076923),
    (161030, 1, 0, 8, 0, 13, 0.076923),
    (179617, 0, 0, 4, 0, 13, 0.076923),
    (179841, 0, 0, 4, 0, 13, 0.076923),
    (180682, 1, 0, 5, 0, 14, 0.071429),
]

# Section 4.5: TRANSACTION_ID -> (amount, weekend, night), customer features, terminal features.
END_OF_STREAM = {
    1754150: ((54.24, 1, 0), (2, 75.28, 12, 67.0475, 72, 69.521111), (1, 0, 4, 0, 28, 0)),
    1754151: ((1.23, 1, 0), (1, 1.23, 21, 22.17381, 93, 24.780753), (1, 0, 9, 0, 39, 0)),
    1754152: ((6.62, 1, 0), (5, 7.368, 21, 7.400476, 65, 7.864462), (1, 0, 5, 0, 33, 0)),
    1754153: ((55.40, 1, 0), (3, 100.696667, 16, 107.0525, 51, 102.919608), (1, 0, 6, 0, 28, 0)),
    1754154: (
        (23.59, 1, 0),
        (5, 41.304, 24, 35.308333, 119, 37.251513),
        (1, 0, 12, 0, 41, 0.02439),
    ),
}


@dataclass(frozen=True)
class Streamed:
    """The streamed transactions and their features, all indexed by TRANSACTION_ID."""

    raw: pd.DataFrame
    online: pd.DataFrame
    offline: pd.DataFrame
    oracle: pd.DataFrame


def _never_deploy(store: FeatureStore) -> dict[str, Scorer]:
    pytest.fail("the feature tests never deploy a model")


@pytest.fixture(scope="module")
def published(fraud_handbook_transactions: Path) -> pd.DataFrame:
    return pd.read_parquet(fraud_handbook_transactions)


@pytest.fixture(scope="module")
def streamed(published: pd.DataFrame) -> Streamed:
    picked = (
        published["CUSTOMER_ID"].isin(CUSTOMERS)
        | published["TERMINAL_ID"].isin(TERMINALS)
        | published["TRANSACTION_ID"].isin(NIGHT_EDGE)
    )
    subset = published[picked]
    frame = utc_transactions(subset)
    store = FeatureStore(DEFINITIONS)
    run = run_live(store, frame, NEVER, NEVER, deploy=_never_deploy)
    ids = pd.Index(frame["TRANSACTION_ID"], name="TRANSACTION_ID")
    online = pd.DataFrame(run.features, columns=list(HANDBOOK_FEATURES), index=ids)
    built = store.event_training_set(fraud_detection, "transactions")
    offline = built.set_index("TRANSACTION_ID")[list(HANDBOOK_FEATURES)].astype(np.float64)
    oracle = fraud_oracle.add_features(subset).set_index("TRANSACTION_ID")
    return Streamed(subset.set_index("TRANSACTION_ID"), online, offline, oracle)


def _assert_printed(actual: pd.DataFrame, expected: dict[int, tuple[float, ...]]) -> None:
    got = actual.loc[list(expected)].to_numpy(dtype=np.float64)
    want = np.array(list(expected.values()), dtype=np.float64)
    np.testing.assert_allclose(got, want, rtol=0, atol=PRINTED)


def test_customer_0_first_twelve_and_last_transactions(streamed: Streamed) -> None:
    columns = ["TX_AMOUNT", *TIME, *CUSTOMER]
    rows = [*CUSTOMER_0, CUSTOMER_0_LAST]
    _assert_printed(streamed.online[columns], {row[0]: row[1:] for row in rows})
    customer_0 = streamed.raw[streamed.raw["CUSTOMER_ID"] == 0]
    assert customer_0.index[:12].tolist() == [row[0] for row in CUSTOMER_0]
    assert (len(customer_0), customer_0.index[-1]) == (384, CUSTOMER_0_LAST[0])


def test_customer_one_day_window_excludes_its_left_edge(streamed: Streamed) -> None:
    # Customer 3578, window of tx 103869 (t = 04-11 17:12:53):
    #   (04-10 17:12:53, 04-11 17:12:53]  -> 94221 at exactly t - 1 day is out
    #   98208 98960 100893 101679 103869 -> 536.80 / 5
    raw = streamed.raw
    assert raw.loc[103869, "TX_DATETIME"] - raw.loc[94221, "TX_DATETIME"] == pd.Timedelta("1D")
    assert raw.loc[[94221, 103869], "CUSTOMER_ID"].tolist() == [3578, 3578]
    _assert_printed(streamed.online[CUSTOMER[:2]], {103869: (5, 107.36)})


def test_terminal_3059_first_23_transactions(streamed: Streamed) -> None:
    _assert_printed(streamed.online[TERMINAL], {row[0]: row[1:] for row in TERMINAL_3059})
    raw = streamed.raw
    early = raw[(raw["TERMINAL_ID"] == 3059) & (raw["TX_DATETIME"] < "2018-04-20")]
    assert early.index.tolist() == [row[0] for row in TERMINAL_3059]
    assert early.loc[early["TX_FRAUD"] == 1].index.tolist() == [3527]


def test_terminal_delay_window_includes_the_label_arriving_at_the_same_instant(
    streamed: Streamed,
) -> None:
    # Terminal 3205, tx 326986 at t = 05-05 03:52:20; its 1-day window on transaction time is
    #   (04-27 03:52:20, 04-28 03:52:20]  -> 258118 and 259649 (at exactly t - 7 days)
    # The label of 259649 arrives at t itself, before the transaction (labels first).
    raw = streamed.raw
    assert raw.loc[326986, "TX_DATETIME"] - raw.loc[259649, "TX_DATETIME"] == pd.Timedelta("7D")
    assert raw.loc[[258118, 259649, 326986], "TERMINAL_ID"].tolist() == [3205] * 3
    _assert_printed(streamed.online[TERMINAL[:4]], {326986: (2, 0, 10, 0)})


def test_night_flag_ends_at_seven(streamed: Streamed) -> None:
    flags = streamed.online.loc[list(NIGHT_EDGE), TIME]
    assert flags.to_numpy().tolist() == [[1, 1], [1, 0]]  # Sunday; 06:59:12 night, 07:00:07 not
    times = streamed.raw.loc[list(NIGHT_EDGE), "TX_DATETIME"].dt.strftime("%H:%M:%S").tolist()
    assert times == ["06:59:12", "07:00:07"]


def test_same_second_payments_count_in_transaction_id_order(streamed: Streamed) -> None:
    # Customer 1908 pays twice at 04-13 14:21:54. The log holds 121453 before 121454, so the
    # first sees itself only and the second both (the handbook's unstable sort gave 3, 2).
    raw = streamed.raw.loc[[121453, 121454]]
    assert raw["CUSTOMER_ID"].tolist() == [1908, 1908]
    assert raw["TX_DATETIME"].nunique() == 1
    tied = streamed.online.loc[[121453, 121454], CUSTOMER]
    assert tied["CUSTOMER_ID_NB_TX_1DAY_WINDOW"].tolist() == [2, 3]
    counts = tied[[c for c in CUSTOMER if "NB_TX" in c]].to_numpy()
    assert (counts[1] - counts[0]).tolist() == [1, 1, 1]
    expected = streamed.oracle.loc[[121453, 121454], CUSTOMER].to_numpy()
    np.testing.assert_allclose(tied.to_numpy(), expected, rtol=SAME, atol=SAME)


def test_end_of_stream_rows(streamed: Streamed) -> None:
    online = streamed.online
    _assert_printed(online[["TX_AMOUNT", *TIME]], {tx: v[0] for tx, v in END_OF_STREAM.items()})
    _assert_printed(online[CUSTOMER], {tx: v[1] for tx, v in END_OF_STREAM.items()})
    _assert_printed(online[TERMINAL], {tx: v[2] for tx, v in END_OF_STREAM.items()})
    assert online.loc[1754154, "TERMINAL_ID_RISK_30DAY_WINDOW"] == pytest.approx(1 / 41, rel=SAME)


@pytest.mark.parametrize(
    ("key", "ids", "columns"),
    [
        ("CUSTOMER_ID", CUSTOMERS, CUSTOMER),
        ("TERMINAL_ID", TERMINALS, TERMINAL),
        ("TRANSACTION_ID", None, ["TX_AMOUNT", *TIME]),
    ],
    ids=["customer-windows", "terminal-windows", "request-features"],
)
def test_every_streamed_row_equals_the_oracle(
    streamed: Streamed, key: str, ids: tuple[int, ...] | None, columns: list[str]
) -> None:
    raw = streamed.raw.reset_index()
    rows = raw["TRANSACTION_ID"] if ids is None else raw.loc[raw[key].isin(ids), "TRANSACTION_ID"]
    assert len(rows) > 0
    got = streamed.online.loc[rows, columns].to_numpy()
    expected = streamed.oracle.loc[rows, columns].to_numpy(dtype=np.float64)
    np.testing.assert_allclose(got, expected, rtol=SAME, atol=SAME)


def test_training_set_equals_what_was_served(streamed: Streamed) -> None:
    offline = streamed.offline.loc[streamed.online.index]
    assert len(streamed.offline) == len(streamed.online)
    assert np.array_equal(offline.to_numpy(), streamed.online.to_numpy())
