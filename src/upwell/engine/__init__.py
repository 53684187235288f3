"""The feature engine: pure window and aggregation maths, per-event and columnar."""
