"""Worked examples built on upwell."""
