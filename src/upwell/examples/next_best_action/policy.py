"""The next-best-action policy: one tax alert or offer per account event, at most.

- ``tax_alert`` (priority 30): a donation or tax payment posted in the last day; once
  per 24h; no consent needed (a service message).
- ``balance_transfer_offer`` (20): utilisation >= 90%; a credit offer; 2 per 90 days;
  costs 50 of the incentive budget; needs marketing consent.
- ``investment_offer`` (15): >= 3 deposits in 90 days with a spread <= 10% of a mean
  >= 150; once per 30 days; costs 25 of the incentive budget; needs marketing consent.
- ``credit_limit_increase`` (10): 75% <= utilisation < 90% on a limit under 5,000; a
  credit offer; needs marketing consent.

The credit offers exclude each other for 30 days; the incentive budget is 60 per 30
days (so a balance transfer and an investment offer do not both fit in 30 days); all
actions together are capped at 2 per 7 days.
"""

from __future__ import annotations

from upwell.decisions.policy import Action, Policy
from upwell.decisions.purpose import Purpose
from upwell.decisions.rules import Budget, Cap, Group
from upwell.definitions.expressions import col
from upwell.examples.next_best_action.features import customer, next_best_action

credit_offers = Group(name="credit_offers", cooldown="30d")
incentives = Budget(name="incentives", total=60.0, period="30d")

tax_alert = Action(
    name="tax_alert",
    priority=30,
    eligible=col("tax_events_1d") >= 1,
    cooldown="24h",
    description="Remind the customer to keep the receipt for the tax return.",
)
balance_transfer_offer = Action(
    name="balance_transfer_offer",
    priority=20,
    group=credit_offers,
    eligible=col("utilisation") >= 0.9,
    cap=Cap(max_count=2, period="90d"),
    cost=50.0,
    budget=incentives,
    purpose=Purpose.MARKETING,
    description="Offer to move the card balance to a cheaper loan.",
)
investment_offer = Action(
    name="investment_offer",
    priority=15,
    eligible=(col("deposits_90d") >= 3)
    & (col("deposit_std_90d") <= col("deposit_mean_90d") * 0.1)
    & (col("deposit_mean_90d") >= 150.0),
    cooldown="30d",
    cost=25.0,
    budget=incentives,
    purpose=Purpose.MARKETING,
    description="Suggest an investment product to a steady saver.",
)
credit_limit_increase = Action(
    name="credit_limit_increase",
    priority=10,
    group=credit_offers,
    eligible=(col("utilisation") >= 0.75)
    & (col("utilisation") < 0.9)
    & (col("credit_limit") < 5_000.0),
    purpose=Purpose.MARKETING,
    description="Offer a higher limit before the card runs full.",
)

POLICY = Policy(
    name="next_best_action",
    entity=customer,
    actions=(tax_alert, balance_transfer_offer, investment_offer, credit_limit_increase),
    features=next_best_action,
    max_actions=1,
    cap=Cap(max_count=2, period="7d"),
    description="At most one alert or offer per account event.",
)
"""The example's policy."""
