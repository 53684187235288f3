"""The fraud-detection handbook example: its transaction simulator and fraud scenarios."""

from upwell.examples.fraud.fraud_scenarios import add_frauds
from upwell.examples.fraud.simulator import (
    PUBLISHED_CONFIG,
    TRANSACTION_COLUMNS,
    SimulationConfig,
    SimulationConfigError,
    available_terminals,
    customer_profiles,
    generate_transactions,
    simulate,
    terminal_profiles,
)

__all__ = [
    "PUBLISHED_CONFIG",
    "TRANSACTION_COLUMNS",
    "SimulationConfig",
    "SimulationConfigError",
    "add_frauds",
    "available_terminals",
    "customer_profiles",
    "generate_transactions",
    "simulate",
    "terminal_profiles",
]
