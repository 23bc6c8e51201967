"""``python -m serving`` (what ``winback serve`` runs): check the configuration, then run
``bentoml serve`` in the foreground.

The options become the service's environment (:mod:`serving.settings`); a configuration
that must not serve (no API key without ``--insecure``, a missing scores file) ends with
one red ``error: ...`` line on stderr and exit code 2 before anything starts. The server
runs as a child process (BentoML's own supervisor, which manages its workers), in its own
process group so that a terminal's Ctrl-C reaches it once, from here. SIGTERM (what
``docker stop`` and Kubernetes send) and SIGINT (Ctrl-C) are forwarded to the child; this
process waits up to :data:`STOP_TIMEOUT` seconds for it to shut down gracefully (then
terminates, then kills it), so the port is free when it exits, with code 0.

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
from pipelines.paths import (
    DEFAULT_CAMPAIGN_RESULTS,
    DEFAULT_SCORES,
    DEFAULT_UPLIFT_MODEL,
    PROJECT_ROOT,
)
from serving.settings import (
    CAMPAIGN_RESULTS_ENV,
    INSECURE_ENV,
    MODEL_VERSION_ENV,
    SCORES_ENV,
    UPLIFT_MODEL_ENV,
    WORKERS_ENV,
    ServiceSettings,
)

SERVICE = "serving.service:WinbackService"
#: Seconds to wait for a graceful stop after SIGTERM or Ctrl-C before the server is
#: terminated.
STOP_TIMEOUT = 30
#: Seconds between terminating the server's process group and killing it.
KILL_TIMEOUT = 10.0
#: The signals that stop the server: forwarded to it, then waited for. SIGHUP (the
#: terminal closed) is forwarded as SIGTERM: BentoML's supervisor reads SIGHUP as "reload",
#: and in its own process group the server would not get the terminal's hang-up itself.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


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
    if not env.get(UPLIFT_MODEL_ENV) and DEFAULT_UPLIFT_MODEL.is_file():
        env[UPLIFT_MODEL_ENV] = str(DEFAULT_UPLIFT_MODEL.resolve())
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


class _Stop(Exception):
    """Raised in the main thread by the first stop signal, to leave the open-ended wait."""


def run_server(command: list[str], env: dict[str, str], timeout: float = STOP_TIMEOUT) -> int:
    """Run the server in the foreground; return its exit code, or 0 once a stop signal
    (SIGTERM, SIGINT, SIGHUP) has been forwarded and the server has stopped.

    Without forwarding, SIGTERM would end this process alone and leave BentoML serving on
    the port. The child has its own process group: a terminal's Ctrl-C reaches this
    process only, and the child gets exactly one SIGINT per Ctrl-C (later signals are
    forwarded too, while this process waits at most ``timeout`` seconds).
    """
    process = subprocess.Popen(command, env=env, process_group=0)
    stopping = False

    def forward(signum: int, _frame: object) -> None:
        nonlocal stopping
        if process.poll() is None:
            process.send_signal(signal.SIGTERM if signum == signal.SIGHUP else signum)
        if not stopping:
            stopping = True
            raise _Stop

    previous = {signum: signal.signal(signum, forward) for signum in STOP_SIGNALS}
    try:
        try:
            return process.wait()
        except _Stop:
            _wait_or_end(process, timeout)
            return 0
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _wait_or_end(process: subprocess.Popen, timeout: float) -> None:
    """Wait for a server told to stop; after ``timeout`` terminate its process group (the
    supervisor and its workers), after :data:`KILL_TIMEOUT` more kill it."""
    steps = ((None, timeout), (signal.SIGTERM, KILL_TIMEOUT), (signal.SIGKILL, None))
    for ending, wait in steps:
        if ending is not None:
            try:
                os.killpg(process.pid, ending)
            except ProcessLookupError:
                pass
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


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
        f"serving winback on http://{args.host}:{args.port} (API docs at /; snapshot: "
        f"{env.get(SCORES_ENV, 'none')}; Ctrl-C stops it)",
        highlight=False,
    )
    return run_server(server_command(args.host, args.port), env)
