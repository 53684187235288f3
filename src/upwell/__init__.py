"""upwell: real-time machine learning features, training sets and serving."""

from upwell.config import OnlineConfig
from upwell.decisions.engine import DecisionEngine
from upwell.decisions.errors import ConsentError
from upwell.decisions.policy import Action, Policy
from upwell.decisions.purpose import Purpose
from upwell.decisions.rules import Budget, Cap, Group, Thresholds
from upwell.definitions.aggregations import (
    ApproxDistinctCount,
    ApproxPercentile,
    Count,
    DistinctCount,
    First,
    Last,
    LastK,
    Max,
    Mean,
    Min,
    RatioOfSums,
    Stddev,
    Sum,
    Variance,
)
from upwell.definitions.batch import BatchFeatures
from upwell.definitions.entity import Entity
from upwell.definitions.errors import DefinitionError
from upwell.definitions.expressions import col
from upwell.definitions.feature_view import Feature, FeatureView
from upwell.definitions.registry import Registry, validate
from upwell.definitions.request import RequestFeature, RequestFeatureView, RequestSource
from upwell.definitions.service import FeatureService
from upwell.definitions.source import EventSource
from upwell.definitions.types import FieldType, Vector
from upwell.definitions.windows import Hopping, Lifetime, Sliding, Tumbling
from upwell.engine.errors import RequestFeatureError, RetentionError
from upwell.errors import UpwellError
from upwell.eventlog.errors import QueryError
from upwell.eventlog.protocol import Fsync
from upwell.ingest.errors import EventError
from upwell.ingest.pusher import PushResult
from upwell.runtime import FeatureStore, open_store
from upwell.serving.errors import RequestError
from upwell.stores.directory_lock import StoreLockedError

__version__ = "0.1.0"

__all__ = [
    "Action",
    "ApproxDistinctCount",
    "ApproxPercentile",
    "BatchFeatures",
    "Budget",
    "Cap",
    "ConsentError",
    "Count",
    "DecisionEngine",
    "DefinitionError",
    "DistinctCount",
    "Entity",
    "EventError",
    "EventSource",
    "Feature",
    "FeatureService",
    "FeatureStore",
    "FeatureView",
    "FieldType",
    "First",
    "Fsync",
    "Group",
    "Hopping",
    "Last",
    "LastK",
    "Lifetime",
    "Max",
    "Mean",
    "Min",
    "OnlineConfig",
    "Policy",
    "Purpose",
    "PushResult",
    "QueryError",
    "RatioOfSums",
    "Registry",
    "RequestError",
    "RequestFeature",
    "RequestFeatureError",
    "RequestFeatureView",
    "RequestSource",
    "RetentionError",
    "Sliding",
    "Stddev",
    "StoreLockedError",
    "Sum",
    "Thresholds",
    "Tumbling",
    "UpwellError",
    "Variance",
    "Vector",
    "col",
    "open_store",
    "validate",
]
