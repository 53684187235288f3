"""Ingestion: turning pushed data into validated events."""
