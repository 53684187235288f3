"""The fraud example's features and data, as the engine benchmark uses them.

One transaction stream, two entities:

- per customer: count and mean of ``TX_AMOUNT`` over 1, 7 and 30 days, the current
  transaction included (window ``(t - w, t]``);
- per terminal: count and fraud ratio (``RatioOfSums("TX_FRAUD")``, 0 for an empty
  window) over 1, 7 and 30 days ending 7 days before the transaction (offset 7d,
  window ``(t - 7d - w, t - 7d]``), on the final labels, as the handbook computes them;
- at request time: ``TX_AMOUNT`` and the weekend / night flags.

That is the handbook's 15 model inputs under its column names (12 windowed
aggregations plus 3 request-time values).
"""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

import pandas as pd

import upwell as uw
from upwell.examples.fraud.features import during_night, during_weekend

DATA = Path("/work/shared/data/fraud-handbook/transactions.parquet")
"""The published transactions; the simulator reproduces them when the file is absent."""

WINDOW_DAYS = (1, 7, 30)
DELAY_DAYS = 7
COLUMNS = ("TRANSACTION_ID", "TX_DATETIME", "CUSTOMER_ID", "TERMINAL_ID", "TX_AMOUNT", "TX_FRAUD")

CUSTOMER_NAMES = tuple(
    name
    for w in WINDOW_DAYS
    for name in (f"CUSTOMER_ID_NB_TX_{w}DAY_WINDOW", f"CUSTOMER_ID_AVG_AMOUNT_{w}DAY_WINDOW")
)
TERMINAL_NAMES = tuple(
    name
    for w in WINDOW_DAYS
    for name in (f"TERMINAL_ID_NB_TX_{w}DAY_WINDOW", f"TERMINAL_ID_RISK_{w}DAY_WINDOW")
)
REQUEST_NAMES = ("TX_AMOUNT", "TX_DURING_WEEKEND", "TX_DURING_NIGHT")
WINDOWED_NAMES = CUSTOMER_NAMES + TERMINAL_NAMES
ALL_NAMES = REQUEST_NAMES + WINDOWED_NAMES

customer = uw.Entity(name="customer", keys=("CUSTOMER_ID",))
terminal = uw.Entity(name="terminal", keys=("TERMINAL_ID",))

transactions = uw.EventSource(
    name="transactions",
    schema={
        "TRANSACTION_ID": int,
        "TX_DATETIME": datetime,
        "CUSTOMER_ID": int,
        "TERMINAL_ID": int,
        "TX_AMOUNT": float,
        "TX_FRAUD": int,
    },
    timestamp="TX_DATETIME",
    event_id="TRANSACTION_ID",
    entities=(customer, terminal),
)

customer_spending = uw.FeatureView(
    name="customer_spending",
    entity=customer,
    source=transactions,
    features=tuple(
        feature
        for w in WINDOW_DAYS
        for feature in (
            uw.Feature(name=f"nb_tx_{w}d", aggregation=uw.Count(), window=f"{w}d"),
            uw.Feature(name=f"avg_amount_{w}d", aggregation=uw.Mean("TX_AMOUNT"), window=f"{w}d"),
        )
    ),
)

terminal_risk = uw.FeatureView(
    name="terminal_risk",
    entity=terminal,
    source=transactions,
    features=tuple(
        feature
        for w in WINDOW_DAYS
        for feature in (
            uw.Feature(
                name=f"nb_tx_{w}d", aggregation=uw.Count(), window=f"{w}d", offset=f"{DELAY_DAYS}d"
            ),
            uw.Feature(
                name=f"risk_{w}d",
                aggregation=uw.RatioOfSums("TX_FRAUD"),
                window=f"{w}d",
                offset=f"{DELAY_DAYS}d",
            ),
        )
    ),
)

transaction = uw.RequestSource(
    name="transaction", schema={"TX_AMOUNT": float, "TX_DATETIME": datetime}
)


time_flags = uw.RequestFeatureView(
    name="time_flags",
    features=(
        uw.RequestFeature(
            name="during_weekend",
            inputs=("transaction.TX_DATETIME",),
            function=during_weekend,
            dtype=int,
        ),
        uw.RequestFeature(
            name="during_night",
            inputs=("transaction.TX_DATETIME",),
            function=during_night,
            dtype=int,
        ),
    ),
)

all_features = uw.FeatureService(
    name="fraud_all",
    features=(
        "transaction.TX_AMOUNT",
        "time_flags.during_weekend",
        "time_flags.during_night",
        *customer_spending.feature_refs,
        *terminal_risk.feature_refs,
    ),
    output_names=ALL_NAMES,
)

windowed_features = uw.FeatureService(
    name="fraud_windowed",
    features=(*customer_spending.feature_refs, *terminal_risk.feature_refs),
    output_names=WINDOWED_NAMES,
)

DEFINITIONS = (
    customer_spending,
    terminal_risk,
    transaction,
    time_flags,
    all_features,
    windowed_features,
)


def load_transactions(rows: int | None = None) -> tuple[pd.DataFrame, str]:
    """The transactions in ``TRANSACTION_ID`` (= time) order, ``TX_DATETIME`` as aware UTC.

    Args:
        rows: Keep only the first ``rows`` transactions (None: all 1,754,155).

    Returns:
        The frame (the columns of :data:`COLUMNS`) and a line saying where it came from.
    """
    started = time.perf_counter()
    if DATA.exists():
        frame = pd.read_parquet(DATA, columns=list(COLUMNS))
        origin = str(DATA)
    else:
        from upwell.examples.fraud import simulate  # noqa: PLC0415 (only without the file)

        frame = simulate()[list(COLUMNS)]
        origin = "upwell.examples.fraud.simulate() (the published data, regenerated)"
    if rows is not None:
        frame = frame.iloc[:rows]
    frame = frame.reset_index(drop=True)
    frame["TX_DATETIME"] = frame["TX_DATETIME"].dt.tz_localize("UTC")
    return frame, f"{origin} in {time.perf_counter() - started:.1f} s"
