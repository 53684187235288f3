"""Parameters of the fraud-handbook transaction simulator, validated on construction."""

from __future__ import annotations

import datetime
import math
from dataclasses import dataclass
from typing import NoReturn

import pandas as pd

from upwell.errors import UpwellError

__all__ = ["PUBLISHED_CONFIG", "SimulationConfig", "SimulationConfigError", "start_timestamp"]

_MAX_SEED = 2**32 - 1


class SimulationConfigError(UpwellError, ValueError):
    """A simulation parameter is invalid; the message names the field, the problem and the fix."""


def _fail(field: str, what: str, fix: str) -> NoReturn:
    raise SimulationConfigError(what, where=f"SimulationConfig.{field}", fix=fix)


def _check_int(field: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= _MAX_SEED:
        bound = f"an int in [{minimum}, {_MAX_SEED}]"
        _fail(field, f"must be {bound}, got {value!r}", f"pass {field}= {bound}.")


def _check_radius(radius: object) -> None:
    if isinstance(radius, bool) or not isinstance(radius, int | float) or not 0 < radius < math.inf:
        what = f"must be a finite number > 0, got {radius!r}"
        _fail("radius", what, "pass radius= a positive distance, e.g. 5.0 (the published one).")


def start_timestamp(start_date: str | datetime.date) -> pd.Timestamp:
    """Parse a simulation start date.

    Args:
        start_date: An ISO date string or a ``datetime.date``, without time zone.

    Returns:
        The date as a naive ``pd.Timestamp``.

    Raises:
        SimulationConfigError: If it is not a naive date.
    """
    try:
        start = pd.Timestamp(start_date)
    except (TypeError, ValueError) as error:
        what = f"cannot be read as a date: {start_date!r} ({error})"
        _fail("start_date", what, 'pass an ISO date such as "2018-04-01" or a datetime.date.')
    if not isinstance(start, pd.Timestamp) or start.tzinfo is not None:
        what = f"must be a naive, non-missing date, got {start_date!r}"
        _fail("start_date", what, 'pass a date without a time zone, such as "2018-04-01".')
    return start


@dataclass(frozen=True, kw_only=True)
class SimulationConfig:
    """Parameters of a simulation run; the defaults are the handbook's published run.

    Attributes:
        n_customers: Number of customers (cards), >= 1. Customer ``c`` is seeded with ``c``.
        n_terminals: Number of terminals (merchants), >= 1.
        nb_days: Number of simulated days, >= 1.
        start_date: Day 0, as an ISO date string or a ``datetime.date``; naive (no time zone).
        radius: A customer uses the terminals strictly closer than this, > 0 (the map is a
            100 x 100 square).
        customer_seed: ``RandomState`` seed of the customer profiles, in [0, 2**32).
        terminal_seed: ``RandomState`` seed of the terminal profiles, in [0, 2**32).

    Raises:
        SimulationConfigError: If a field is invalid.
    """

    n_customers: int = 5000
    n_terminals: int = 10000
    nb_days: int = 183
    start_date: str | datetime.date = "2018-04-01"
    radius: float = 5.0
    customer_seed: int = 0
    terminal_seed: int = 1

    def __post_init__(self) -> None:
        for field in ("n_customers", "n_terminals", "nb_days", "customer_seed", "terminal_seed"):
            _check_int(field, getattr(self, field), 0 if field.endswith("seed") else 1)
        _check_radius(self.radius)
        start_timestamp(self.start_date)


PUBLISHED_CONFIG = SimulationConfig()
"""The handbook's published run: 5000 customers, 10000 terminals, 183 days from 2018-04-01, r=5."""
