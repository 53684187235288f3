"""Audit: the prediction log, late labels, live quality, drift and alerts."""
