"""Stateless workers: consume a broker, update the online store, append to the event log."""
