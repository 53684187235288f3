"""Models: a versioned registry on disk and loaders for each model format."""
