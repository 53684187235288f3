"""``upwell serve``: the HTTP API on uvicorn over the project's store and models."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Annotated

import typer
import uvicorn

from upwell.cli.console import err, report_errors
from upwell.cli.workspace import ProjectOption, load_workspace
from upwell.config import load_policies
from upwell.server.app import create_app
from upwell.server.audit_settings import load_audit_settings
from upwell.server.settings import load_settings


@report_errors
def serve(
    project: ProjectOption = Path(),
    host: Annotated[str | None, typer.Option(help="Listen address (default from config).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default from config, 8000).")] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn's log level.")] = "warning",
) -> None:
    """Serve features, scores, ingest and model management over HTTP.

    Settings come from upwell.toml's [server] table and UPWELL_HOST / UPWELL_PORT; the
    options here override both. SIGTERM or Ctrl-C drains in-flight requests, then
    checkpoints the store.
    """
    workspace = load_workspace(project)
    environ = dict(os.environ)
    if host is not None:
        environ["UPWELL_HOST"] = host
    if port is not None:
        environ["UPWELL_PORT"] = str(port)
    where = f"{workspace.config.file} [server]"
    settings = load_settings(workspace.config.sections.get("server", {}), environ, where)
    audit = load_audit_settings(
        workspace.config.sections.get("audit", {}),
        workspace.config.data,
        f"{workspace.config.file} [audit]",
    )
    logging.basicConfig(format="%(message)s")
    logging.getLogger("upwell").setLevel(logging.INFO)
    with workspace.store() as store:
        policies = load_policies(workspace.config.definitions)
        if policies:
            store.decisions.add(*policies)
        app = create_app(store, settings, audit)
        keys = len(settings.api_keys)
        auth = f"{keys} API key(s)" if keys else "no authentication (loopback only)"
        err.print(f"upwell serving on http://{settings.host}:{settings.port} with {auth}")
        uvicorn.run(
            app,
            host=settings.host,
            port=settings.port,
            log_level=log_level,
            access_log=False,
            timeout_graceful_shutdown=int(settings.graceful_timeout_s),
        )
