"""Feature definitions of this project: payments by customers, and how unusual a new one is.

`upwell apply` imports this file and picks up every definition at module level.
"""

from __future__ import annotations

import upwell as uw

customer = uw.Entity(name="customer", keys=("customer_id",), description="A paying customer.")

# Every payment is an event; `payment_id` makes re-ingesting the same file harmless.
payments = uw.EventSource(
    name="payments",
    schema={
        "payment_id": uw.FieldType.INT,
        "customer_id": uw.FieldType.INT,
        "merchant": uw.FieldType.STRING,
        "amount": uw.FieldType.FLOAT,
        "ts": uw.FieldType.TIMESTAMP,
    },
    timestamp="ts",
    event_id="payment_id",
    entities=(customer,),
    allowed_lateness="1h",
)

# Windows are right-closed: as of t, "1d" covers payments with t - 1 day < ts <= t.
customer_spend = uw.FeatureView(
    name="customer_spend",
    entity=customer,
    source=payments,
    features=(
        uw.Feature(name="payments_1h", aggregation=uw.Count(), window="1h"),
        uw.Feature(name="payments_1d", aggregation=uw.Count(), window="1d"),
        uw.Feature(name="amount_sum_1d", aggregation=uw.Sum("amount"), window="1d"),
        uw.Feature(name="amount_mean_7d", aggregation=uw.Mean("amount"), window="7d"),
        uw.Feature(name="amount_max_7d", aggregation=uw.Max("amount"), window="7d"),
        uw.Feature(
            name="large_payments_7d",
            aggregation=uw.Count(),
            window="7d",
            where=uw.col("amount") > 100.0,
        ),
        uw.Feature(name="merchants_7d", aggregation=uw.DistinctCount("merchant"), window="7d"),
    ),
)

# The payment being scored arrives with the request, before it is an event.
payment_request = uw.RequestSource(name="payment_request", schema={"amount": uw.FieldType.FLOAT})


def amount_ratio(amount: float, mean_7d: float | None) -> float | None:
    """How many times the customer's 7-day mean the requested amount is (None without history).

    Args:
        amount: The requested payment's amount.
        mean_7d: The customer's mean payment over the last 7 days.

    Returns:
        The ratio, or None when there is no history or the mean is zero.
    """
    if mean_7d is None or mean_7d == 0.0:
        return None
    return amount / mean_7d


payment_risk = uw.RequestFeatureView(
    name="payment_risk",
    features=(
        uw.RequestFeature(
            name="amount_vs_mean_7d",
            inputs=("payment_request.amount", "customer_spend.amount_mean_7d"),
            function=amount_ratio,
        ),
    ),
)

# What a payment-scoring model reads, in its input order.
payment_scoring = uw.FeatureService(
    name="payment_scoring",
    features=(customer_spend, "payment_risk.amount_vs_mean_7d"),
)
