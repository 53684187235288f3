"""Names the feature store's signatures share."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from upwell.definitions.service import FeatureService

Output = Literal["pandas", "polars", "arrow", "dicts"]
"""What reads and training sets return: pandas, Polars, Arrow, or plain dicts."""

Features = FeatureService | str | Sequence[str]
"""A feature service, its name, or qualified feature names."""
