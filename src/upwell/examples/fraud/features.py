"""The handbook's 15 model inputs, defined with upwell's own definitions.

- ``TX_AMOUNT`` and the weekend / night flags come with the transaction being scored
  (request-time features).
- The customer's count and mean amount over 1, 7 and 30 days are sliding windows over
  the transaction stream, the current transaction included.
- The terminal's count and fraud ratio over 1, 7 and 30 days ending 7 days before the
  transaction are sliding windows over the *label* stream: every transaction's label
  arrives as its own event 7 days (of event time) after the transaction, so a window of
  ``w`` days on label time covers transactions in ``(t - 7d - w, t - 7d]`` and only
  labels the system has actually received are used.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from upwell.definitions.aggregations import Count, Mean, RatioOfSums
from upwell.definitions.entity import Entity
from upwell.definitions.feature_view import Feature, FeatureView
from upwell.definitions.registry import Definition
from upwell.definitions.request import RequestFeature, RequestFeatureView, RequestSource
from upwell.definitions.service import FeatureService
from upwell.definitions.source import EventSource
from upwell.definitions.types import FieldType

LABEL_DELAY = timedelta(days=7)
"""How long after a transaction its fraud label is known (the handbook's assumption)."""

WINDOW_DAYS = (1, 7, 30)

HANDBOOK_FEATURES = (
    "TX_AMOUNT",
    "TX_DURING_WEEKEND",
    "TX_DURING_NIGHT",
    *(
        name
        for w in WINDOW_DAYS
        for name in (f"CUSTOMER_ID_NB_TX_{w}DAY_WINDOW", f"CUSTOMER_ID_AVG_AMOUNT_{w}DAY_WINDOW")
    ),
    *(
        name
        for w in WINDOW_DAYS
        for name in (f"TERMINAL_ID_NB_TX_{w}DAY_WINDOW", f"TERMINAL_ID_RISK_{w}DAY_WINDOW")
    ),
)
"""The 15 model inputs under the handbook's column names, in its order."""

customer = Entity(name="customer", keys=("CUSTOMER_ID",), description="A card holder.")
terminal = Entity(name="terminal", keys=("TERMINAL_ID",), description="A payment terminal.")

transactions = EventSource(
    name="transactions",
    schema={
        "TRANSACTION_ID": FieldType.INT,
        "TX_DATETIME": FieldType.TIMESTAMP,
        "CUSTOMER_ID": FieldType.INT,
        "TERMINAL_ID": FieldType.INT,
        "TX_AMOUNT": FieldType.FLOAT,
    },
    timestamp="TX_DATETIME",
    event_id="TRANSACTION_ID",
    entities=(customer, terminal),
)

fraud_labels = EventSource(
    name="fraud_labels",
    schema={
        "TRANSACTION_ID": FieldType.INT,
        "LABEL_TIME": FieldType.TIMESTAMP,
        "CUSTOMER_ID": FieldType.INT,
        "TERMINAL_ID": FieldType.INT,
        "TX_FRAUD": FieldType.INT,
    },
    timestamp="LABEL_TIME",
    event_id="TRANSACTION_ID",
    entities=(terminal, customer),
)

customer_spending = FeatureView(
    name="customer_spending",
    entity=customer,
    source=transactions,
    features=tuple(
        feature
        for w in WINDOW_DAYS
        for feature in (
            Feature(name=f"nb_tx_{w}d", aggregation=Count(), window=f"{w}d"),
            Feature(name=f"avg_amount_{w}d", aggregation=Mean("TX_AMOUNT"), window=f"{w}d"),
        )
    ),
    description="How much and how often the customer spent recently.",
)

terminal_risk = FeatureView(
    name="terminal_risk",
    entity=terminal,
    source=fraud_labels,
    features=tuple(
        feature
        for w in WINDOW_DAYS
        for feature in (
            Feature(name=f"nb_tx_{w}d", aggregation=Count(), window=f"{w}d"),
            Feature(name=f"risk_{w}d", aggregation=RatioOfSums("TX_FRAUD"), window=f"{w}d"),
        )
    ),
    description="Labelled transactions and the share of frauds at the terminal, by label time.",
)

transaction_request = RequestSource(
    name="transaction",
    schema={"TX_AMOUNT": FieldType.FLOAT, "TX_DATETIME": FieldType.TIMESTAMP},
)


def during_weekend(when: datetime) -> int:
    """1 on Saturdays and Sundays, else 0.

    Args:
        when: The transaction time.

    Returns:
        The flag.
    """
    return int(when.weekday() >= 5)


def during_night(when: datetime) -> int:
    """1 from 00:00:00 to 06:59:59 (the handbook's code and data: hour <= 6), else 0.

    Args:
        when: The transaction time.

    Returns:
        The flag.
    """
    return int(when.hour <= 6)


time_flags = RequestFeatureView(
    name="time_flags",
    features=(
        RequestFeature(
            name="during_weekend",
            inputs=("transaction.TX_DATETIME",),
            function=during_weekend,
            dtype=FieldType.INT,
        ),
        RequestFeature(
            name="during_night",
            inputs=("transaction.TX_DATETIME",),
            function=during_night,
            dtype=FieldType.INT,
        ),
    ),
)

fraud_detection = FeatureService(
    name="fraud_detection",
    features=(
        "transaction.TX_AMOUNT",
        "time_flags.during_weekend",
        "time_flags.during_night",
        *customer_spending.feature_refs,
        *terminal_risk.feature_refs,
    ),
    output_names=HANDBOOK_FEATURES,
)

DEFINITIONS: tuple[Definition, ...] = (
    customer_spending,
    terminal_risk,
    transaction_request,
    time_flags,
    fraud_detection,
)
"""Everything the fraud example needs, ready for :class:`upwell.FeatureStore`."""
