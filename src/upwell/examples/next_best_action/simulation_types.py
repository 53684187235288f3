"""The simulator's parameters and the kinds of things it produces."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from upwell.errors import UpwellError


class CardCategory(enum.Enum):
    """What a card transaction was for."""

    PURCHASE = "purchase"
    PAYMENT = "payment"
    DONATION = "donation"
    TAX_PAYMENT = "tax_payment"


TAX_RELEVANT = (CardCategory.DONATION, CardCategory.TAX_PAYMENT)
"""The categories that trigger a tax alert."""


class SaverKind(enum.Enum):
    """How a customer saves."""

    STEADY = "steady"
    IRREGULAR = "irregular"
    NONE = "none"


class ConsentAction(enum.Enum):
    """A change of a customer's marketing consent."""

    GRANT = "grant"
    WITHDRAW = "withdraw"


class SimulationConfigError(UpwellError):
    """A simulation parameter is out of range."""


@dataclass(frozen=True, kw_only=True)
class SimulationConfig:
    """How many customers, how long, from when, and the seed.

    Args:
        n_customers: Number of customers (>= 1).
        n_days: Number of simulated days (>= 1).
        seed: The random seed.
        start: The first day (UTC), e.g. ``"2024-01-01"``.

    Raises:
        SimulationConfigError: A size is below 1.
    """

    n_customers: int = 200
    n_days: int = 120
    seed: int = 7
    start: str = "2024-01-01"

    def __post_init__(self) -> None:
        for name in ("n_customers", "n_days"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                msg = f"{name}={value!r} is not a positive int"
                raise SimulationConfigError(
                    msg, where="SimulationConfig", fix=f"use e.g. {name}=100"
                )
