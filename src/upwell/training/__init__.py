"""Point-in-time training sets built from the event log with the columnar path."""
