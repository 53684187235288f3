"""The next-best-action features, defined with upwell's own definitions.

- ``card``: the latest balance and limit (lifetime ``Last``), and how many
  tax-relevant transactions (donations, tax payments) posted in the last day.
- ``savings``: count, mean and standard deviation of deposits over 90 days; a steady
  saver deposits at least 3 times with a spread under 10% of the mean.
- ``derived.utilisation``: balance / limit, computed at request time.
"""

from __future__ import annotations

from upwell.definitions.aggregations import Count, Last, Mean, Stddev
from upwell.definitions.entity import Entity
from upwell.definitions.expressions import Expr, col
from upwell.definitions.feature_view import Feature, FeatureView
from upwell.definitions.registry import Definition
from upwell.definitions.request import RequestFeature, RequestFeatureView
from upwell.definitions.service import FeatureService
from upwell.definitions.source import EventSource
from upwell.definitions.types import FieldType
from upwell.examples.next_best_action.simulation_types import TAX_RELEVANT

customer = Entity(name="customer", keys=("customer_id",), description="A bank customer.")

card_transactions = EventSource(
    name="card_transactions",
    schema={
        "event_id": FieldType.STRING,
        "customer_id": FieldType.INT,
        "ts": FieldType.TIMESTAMP,
        "amount": FieldType.FLOAT,
        "balance": FieldType.FLOAT,
        "credit_limit": FieldType.FLOAT,
        "category": FieldType.STRING,
    },
    timestamp="ts",
    event_id="event_id",
    entities=(customer,),
)

savings_deposits = EventSource(
    name="savings_deposits",
    schema={
        "event_id": FieldType.STRING,
        "customer_id": FieldType.INT,
        "ts": FieldType.TIMESTAMP,
        "amount": FieldType.FLOAT,
    },
    timestamp="ts",
    event_id="event_id",
    entities=(customer,),
)


def _is_tax_relevant() -> Expr:
    first, *rest = TAX_RELEVANT
    expr = col("category") == first.value
    for category in rest:
        expr = expr | (col("category") == category.value)
    return expr


card = FeatureView(
    name="card",
    entity=customer,
    source=card_transactions,
    features=(
        Feature(name="balance", aggregation=Last("balance")),
        Feature(name="credit_limit", aggregation=Last("credit_limit")),
        Feature(name="tax_events_1d", aggregation=Count(), window="1d", where=_is_tax_relevant()),
    ),
    description="The card's latest balance and limit, and tax-relevant spending.",
)

savings = FeatureView(
    name="savings",
    entity=customer,
    source=savings_deposits,
    features=(
        Feature(name="deposits_90d", aggregation=Count(), window="90d"),
        Feature(name="deposit_mean_90d", aggregation=Mean("amount"), window="90d"),
        Feature(name="deposit_std_90d", aggregation=Stddev("amount"), window="90d"),
    ),
    description="How regularly and how much the customer saved lately.",
)


def utilisation(balance: float | None, credit_limit: float | None) -> float | None:
    """The share of the credit limit in use.

    Args:
        balance: The card balance (None before the first transaction).
        credit_limit: The credit limit.

    Returns:
        ``balance / credit_limit``, or None without a balance or limit.
    """
    if balance is None or not credit_limit:
        return None
    return balance / credit_limit


derived = RequestFeatureView(
    name="derived",
    features=(
        RequestFeature(
            name="utilisation",
            inputs=("card.balance", "card.credit_limit"),
            function=utilisation,
        ),
    ),
)

FEATURE_NAMES = (
    "balance",
    "credit_limit",
    "tax_events_1d",
    "deposits_90d",
    "deposit_mean_90d",
    "deposit_std_90d",
    "utilisation",
)
"""The service's output columns, which the policy's expressions read."""

next_best_action = FeatureService(
    name="next_best_action",
    features=(*card.feature_refs, *savings.feature_refs, "derived.utilisation"),
    output_names=FEATURE_NAMES,
)

DEFINITIONS: tuple[Definition, ...] = (card, savings, derived, next_best_action)
"""Everything the example needs, ready for :class:`upwell.FeatureStore`."""
