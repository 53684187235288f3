"""The fraud-detection handbook example: simulator, features, models, live demo."""

from upwell.examples.fraud.evaluation import (
    FEATURES,
    Assessment,
    EvaluationError,
    assess,
    card_precision_at_k,
    split_train_test,
)
from upwell.examples.fraud.features import DEFINITIONS, HANDBOOK_FEATURES, fraud_detection
from upwell.examples.fraud.fraud_scenarios import add_frauds
from upwell.examples.fraud.models import MODEL_NAMES, TrainedModel, library_versions, train_models
from upwell.examples.fraud.scoring import Scorer, ScoringError, compile_scorer
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
    "FEATURES",
    "HANDBOOK_FEATURES",
    "MODEL_NAMES",
    "PUBLISHED_CONFIG",
    "TRANSACTION_COLUMNS",
    "Assessment",
    "EvaluationError",
    "Scorer",
    "ScoringError",
    "SimulationConfig",
    "SimulationConfigError",
    "TrainedModel",
    "add_frauds",
    "assess",
    "available_terminals",
    "card_precision_at_k",
    "compile_scorer",
    "customer_profiles",
    "fraud_detection",
    "generate_transactions",
    "library_versions",
    "simulate",
    "split_train_test",
    "terminal_profiles",
    "train_models",
]
