"""Serving: online feature vectors (and, later, scores and decisions)."""
