"""``winback serve``: check the configuration, then run ``bentoml serve`` in the foreground.

The server runs as a child process (BentoML's own supervisor, which manages its workers).
Ctrl-C reaches the child from the terminal as well; this process waits for it to shut down
gracefully and only then returns its exit code.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from features.errors import WinbackError
from pipelines.paths import DEFAULT_OUT_DIR, PROJECT_ROOT
from serving.auth import INSECURE_ENV, auth_settings

SERVICE = "serving.service:WinbackService"
#: Seconds to wait for a graceful stop after Ctrl-C before the server is terminated.
STOP_TIMEOUT = 30


def server_environment(
    scores: Path | None,
    insecure: bool,
    model_version: int | None = None,
    workers: int | None = None,
    environ: dict[str, str] | None = None,
) -> dict[str, str]:
    """The child's environment; raises :class:`WinbackError` if it must not start."""
    env = dict(os.environ if environ is None else environ)
    env["BENTOML_DO_NOT_TRACK"] = "true"
    if insecure:
        env[INSECURE_ENV] = "1"
    auth_settings(env)
    if scores is not None:
        if not scores.is_file():
            raise WinbackError(f"--scores {scores}: scores file not found")
        env["WINBACK_SCORES"] = str(scores.resolve())
    elif not env.get("WINBACK_SCORES"):
        default = DEFAULT_OUT_DIR / "scores.parquet"
        if default.is_file():
            env["WINBACK_SCORES"] = str(default.resolve())
    if model_version is not None:
        env["WINBACK_MODEL_VERSION"] = str(model_version)
    if workers is not None:
        env["WINBACK_WORKERS"] = str(workers)
    campaign = DEFAULT_OUT_DIR / "campaign_results.json"
    if not env.get("WINBACK_CAMPAIGN_RESULTS") and campaign.is_file():
        env["WINBACK_CAMPAIGN_RESULTS"] = str(campaign.resolve())
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
