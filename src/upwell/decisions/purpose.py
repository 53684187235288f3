"""Purposes of processing and their legal bases (defined in :mod:`upwell.definitions.purpose`).

Re-exported here, where policies and consent use them.
"""

from __future__ import annotations

from upwell.definitions.purpose import LegalBasis, Purpose

__all__ = ["LegalBasis", "Purpose"]
