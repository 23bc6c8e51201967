"""``python -m serving`` (what ``winback serve`` runs): check the configuration, then run
``bentoml serve`` in the foreground.

The options become the service's environment (:mod:`serving.settings`); a configuration
that must not serve (no API key without ``--insecure``, a missing scores file) ends with
one red ``error: ...`` line on stderr and exit code 2 before anything starts. The server
runs as a child process (BentoML's own supervisor, which manages its workers). Ctrl-C
reaches the child from the terminal as well; this process waits for it to shut down
gracefully and only then returns its exit code.

:func:`free_port` and :func:`stop_server` serve the tests and benchmarks that start servers.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from features.errors import WinbackError
from pipelines.paths import DEFAULT_CAMPAIGN_RESULTS, DEFAULT_SCORES, PROJECT_ROOT
from serving.settings import (
    CAMPAIGN_RESULTS_ENV,
    INSECURE_ENV,
    MODEL_VERSION_ENV,
    SCORES_ENV,
    WORKERS_ENV,
    ServiceSettings,
)

SERVICE = "serving.service:WinbackService"
#: Seconds to wait for a graceful stop after Ctrl-C before the server is terminated.
STOP_TIMEOUT = 30


def server_environment(
    scores: Path | None,
    insecure: bool,
    model_version: int | None = None,
    workers: int | None = None,
    environ: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The child's environment; raises :class:`WinbackError` if it must not start.

    Default files are given to the child as absolute paths: it runs in the project folder.
    """
    env = dict(os.environ if environ is None else environ)
    env["BENTOML_DO_NOT_TRACK"] = "true"
    if insecure:
        env[INSECURE_ENV] = "1"
    ServiceSettings.from_environment(env).authentication()
    if scores is not None:
        if not scores.is_file():
            raise WinbackError(f"--scores {scores}: scores file not found")
        env[SCORES_ENV] = str(scores.resolve())
    elif not env.get(SCORES_ENV) and DEFAULT_SCORES.is_file():
        env[SCORES_ENV] = str(DEFAULT_SCORES.resolve())
    if model_version is not None:
        env[MODEL_VERSION_ENV] = str(model_version)
    if workers is not None:
        env[WORKERS_ENV] = str(workers)
    if not env.get(CAMPAIGN_RESULTS_ENV) and DEFAULT_CAMPAIGN_RESULTS.is_file():
        env[CAMPAIGN_RESULTS_ENV] = str(DEFAULT_CAMPAIGN_RESULTS.resolve())
    return env


def server_command(host: str, port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "bentoml",
        "serve",
        SERVICE,
        "--host",
        host,
        "--port",
        str(port),
        "--working-dir",
        str(PROJECT_ROOT),
    ]


def run_server(command: list[str], env: dict[str, str]) -> int:
    """Run the server in the foreground; return its exit code (0 after Ctrl-C)."""
    process = subprocess.Popen(command, env=env)
    try:
        return process.wait()
    except KeyboardInterrupt:
        # The terminal sent SIGINT to the whole process group; make sure the child got it.
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        return 0


def free_port() -> int:
    """A free TCP port on 127.0.0.1, for test and benchmark servers."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def stop_server(process: subprocess.Popen) -> None:
    """SIGINT to a server started in its own process group (as Ctrl-C would), then SIGKILL."""
    if process.poll() is not None:
        return
    group = os.getpgid(process.pid)
    os.killpg(group, signal.SIGINT)
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(group, signal.SIGKILL)
        process.wait(timeout=10)


def _port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port between 1 and 65535")
    return int(text)


def _at_least_one(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number >= 1")
    return int(text)


def argument_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m serving",
        description="Serve scores to CRM systems over HTTP (BentoML): POST /score, "
        "POST /rank, GET /metadata. Ctrl-C stops it.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="Interface to bind.")
    parser.add_argument("--port", type=_port, default=3000, help="Port to listen on.")
    parser.add_argument(
        "--scores", type=Path, default=None, help="Scored snapshot (default: out/scores.parquet)."
    )
    parser.add_argument(
        "--insecure", action="store_true", help="Serve without API keys (trusted networks only)."
    )
    parser.add_argument(
        "--model-version", type=_at_least_one, default=None, help="Registered version to serve."
    )
    parser.add_argument(
        "--workers", type=_at_least_one, default=None, help="Server worker processes."
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse, check, announce, serve; the exit code (2 for a configuration that must not
    serve, the server's own code otherwise)."""
    from rich.console import Console  # as the CLI prints: same look, same line

    args = argument_parser().parse_args(argv)
    try:
        env = server_environment(args.scores, args.insecure, args.model_version, args.workers)
    except WinbackError as error:
        Console(stderr=True).print(
            f"[bold red]error:[/bold red] {error}", highlight=False, soft_wrap=True
        )
        return 2
    Console().print(
        f"serving winback on http://{args.host}:{args.port} (snapshot: "
        f"{env.get(SCORES_ENV, 'none')}; Ctrl-C stops it)",
        highlight=False,
    )
    return run_server(server_command(args.host, args.port), env)
