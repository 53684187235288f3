"""The dashboard at ``/ui``: one static page drawing the audit's JSON (``/v1/audit``).

HTML, CSS and plain JavaScript with hand-drawn SVG plots: nothing is fetched from
another host, so it works offline and behind a firewall.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).parent / "static"
"""The page's files."""

__all__ = ["STATIC_DIR", "mount_dashboard"]


def mount_dashboard(app: FastAPI) -> None:
    """Serve the dashboard's files under ``/ui`` (``/ui/`` is the page)."""
    app.mount("/ui", StaticFiles(directory=STATIC_DIR, html=True), name="ui")
