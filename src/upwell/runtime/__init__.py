"""The composition root: the embedded :class:`FeatureStore` and its clock."""

from upwell.runtime.clock import Clock, SystemClock
from upwell.runtime.feature_store import FeatureStore, open_store
from upwell.runtime.kinds import Features, Output

__all__ = ["Clock", "FeatureStore", "Features", "Output", "SystemClock", "open_store"]
