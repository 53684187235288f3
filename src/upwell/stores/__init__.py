"""Online stores: current window state and feature values per entity."""
