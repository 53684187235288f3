"""The HTTP server: an ASGI app (FastAPI on uvicorn) over a feature store and its models."""
