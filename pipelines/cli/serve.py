"""``winback serve``: hand over to the service launcher (``python -m serving``).

The launcher lives in :mod:`serving` alone, so that ``pipelines`` never imports the
service: this command only turns its options into the launcher's arguments.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer()
PANEL = "Service"


@app.command(rich_help_panel=PANEL)
def serve(
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 3000,
    host: Annotated[
        str, typer.Option(help="Interface to bind; 0.0.0.0 exposes the service to the network.")
    ] = "127.0.0.1",
    scores: Annotated[
        Path | None,
        typer.Option(
            help="Scored snapshot for lookups by id and /rank (default: out/scores.parquet "
            "when it exists, as written by `winback demo` or `winback score`)."
        ),
    ] = None,
    insecure: Annotated[
        bool,
        typer.Option(
            "--insecure",
            help="Serve without API keys (trusted networks only). Without this flag the "
            "service refuses to start unless WINBACK_API_KEYS is set.",
        ),
    ] = False,
    model_version: Annotated[
        int | None, typer.Option(help="Registered version to serve (default: the champion).")
    ] = None,
    workers: Annotated[
        int | None, typer.Option(help="Server worker processes (default 1).", min=1)
    ] = None,
) -> None:
    """Serve scores to CRM systems over HTTP (BentoML): POST /score, POST /rank, GET /metadata.

    Loads the **champion** from the MLflow registry (MLFLOW_TRACKING_URI) once at start-up,
    and the scored snapshot into memory. Clients authenticate with `Authorization: Bearer
    KEY` or `X-API-Key: KEY`; keys come from WINBACK_API_KEYS (comma-separated). OpenAPI
    schema at /docs.json; /healthz and /readyz need no key. Ctrl-C stops it.
    """
    args = [sys.executable, "-m", "serving", "--host", host, "--port", str(port)]
    if scores is not None:
        args += ["--scores", str(scores)]
    if insecure:
        args.append("--insecure")
    if model_version is not None:
        args += ["--model-version", str(model_version)]
    if workers is not None:
        args += ["--workers", str(workers)]
    # The launcher replaces this process: signals (Ctrl-C, a container's SIGTERM) reach it
    # directly, and no idle ``winback`` process is left waiting in front of the server.
    os.execv(sys.executable, args)
