"""Decisions: policies over scores and rules, with consistent per-entity state and consent."""
