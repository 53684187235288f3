"""The fraud-detection handbook example: simulator, features, models, live demo.

Importing this package loads only the simulator and the feature definitions; the
modelling modules (``evaluation``, ``models``, ``scoring``, ``report``, ``demo``) need
scikit-learn and XGBoost (the ``fraud`` extra) and are imported from their modules.
"""

from upwell.examples.fraud.features import DEFINITIONS, HANDBOOK_FEATURES, fraud_detection
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
    "DEFINITIONS",
    "HANDBOOK_FEATURES",
    "PUBLISHED_CONFIG",
    "TRANSACTION_COLUMNS",
    "SimulationConfig",
    "SimulationConfigError",
    "add_frauds",
    "available_terminals",
    "customer_profiles",
    "fraud_detection",
    "generate_transactions",
    "simulate",
    "terminal_profiles",
]
