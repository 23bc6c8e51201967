"""``winback serve`` stops cleanly on SIGTERM (containers) and SIGINT (Ctrl-C): the signal
reaches BentoML's supervisor, the launcher waits for it, and the port is free afterwards.

The first test starts a real ``python -m serving`` (what ``winback serve`` execs) on a
free port and signals the launcher's process alone, as ``docker stop`` or ``kill`` would;
the others check the forwarding and the escalation in this process, with a stand-in child.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time

import httpx
import psutil
import pytest
from serving_support import STARTUP_TIMEOUT, server_env

from pipelines.paths import PROJECT_ROOT
from serving import launcher
from serving.launcher import free_port, run_server

#: The launcher's own stop timeout is 30 s; a clean stop takes a few seconds.
EXIT_TIMEOUT = 60


def wait_until_ready(process: subprocess.Popen, port: int) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    pytest.fail(f"server did not become ready (launcher exit code {process.poll()})")


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stop_signal_stops_the_server_and_frees_the_port(served_model, tmp_path, signum):
    port = free_port()
    log = (tmp_path / "serve.log").open("wb")
    launcher = subprocess.Popen(
        [sys.executable, "-m", "serving", "--port", str(port), "--workers", "1",
         "--scores", str(served_model.scores_path)],
        env=server_env(served_model),
        cwd=PROJECT_ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    children: list[psutil.Process] = []
    try:
        wait_until_ready(launcher, port)
        children = psutil.Process(launcher.pid).children(recursive=True)
        assert children, "the launcher runs the server as a child process"
        launcher.send_signal(signum)
        assert launcher.wait(timeout=EXIT_TIMEOUT) == 0
        _, alive = psutil.wait_procs(children, timeout=10)
        assert not alive, f"left running: {[p.pid for p in alive]}"
        assert port_is_free(port)
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
    finally:
        if launcher.poll() is None:
            launcher.kill()
        for process in children:
            try:
                process.kill()
            except psutil.Error:
                pass
        launcher.wait(timeout=10)
        log.close()
    text = (tmp_path / "serve.log").read_text(errors="replace")
    assert "Traceback" not in text, text[-3000:]


CHILD = """
import pathlib, signal, sys, time
folder = pathlib.Path(sys.argv[1])
def stop(signum, frame):
    with open(folder / "got", "a") as got:
        got.write(signal.Signals(signum).name + " ")
    if sys.argv[2] == "obeys":
        sys.exit(0)
signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, stop)
(folder / "ready").write_text("")
time.sleep(60)
"""


def signal_when_ready(folder, signum) -> threading.Thread:
    """Send ``signum`` to this process (the launcher) once the fake server is listening."""

    def run() -> None:
        deadline = time.monotonic() + 30
        while not (folder / "ready").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(os.getpid(), signum)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize(
    ("signum", "forwarded"),
    [(signal.SIGTERM, "SIGTERM"), (signal.SIGINT, "SIGINT"), (signal.SIGHUP, "SIGTERM")],
)
def test_run_server_forwards_the_signal_and_waits(tmp_path, signum, forwarded):
    """Fast check of the forwarding itself, with a stand-in for BentoML's supervisor."""
    before = signal.getsignal(signum)
    signal_when_ready(tmp_path, signum)
    command = [sys.executable, "-c", CHILD, str(tmp_path), "obeys"]
    assert run_server(command, dict(os.environ), timeout=30) == 0
    assert (tmp_path / "got").read_text() == forwarded + " "
    assert signal.getsignal(signum) == before  # the launcher's handlers are put back


def test_a_server_that_ignores_the_signal_is_ended(tmp_path, monkeypatch):
    monkeypatch.setattr(launcher, "KILL_TIMEOUT", 1.0)
    signal_when_ready(tmp_path, signal.SIGTERM)
    command = [sys.executable, "-c", CHILD, str(tmp_path), "ignores"]
    assert run_server(command, dict(os.environ), timeout=0.5) == 0
    # Told once (forwarded), once more (the group terminated), then killed: a launcher
    # that only waited would return after the child's 60 s sleep, told once.
    assert (tmp_path / "got").read_text() == "SIGTERM SIGTERM "
