"""wrk benchmark of ``POST /score`` lookups against two floors; writes ``benchmarks/SERVING.md``.

    python -m benchmarks.serving_wrk                  # about 2 minutes, 10 s per run
    python -m benchmarks.serving_wrk --duration 1 --out /tmp/SERVING.md   # a smoke run

Why two floors: on two shared cores a number alone says little. Each run sets the service
beside servers that do no work at all (:mod:`benchmarks.serving_floors`), measured in the
same run with the same load: a Starlette route under uvicorn (the ASGI stack's cost) and a
BentoML ``@bentoml.api`` (BentoML's request path's cost).

What it does:

1. times ``python -m serving`` (what ``winback serve`` runs) from launch to ``/readyz``
   answering 200, then stops it;
2. starts the service as :mod:`benchmarks.load_test` does (``bentoml serve`` with a fresh
   API key), the Starlette floor (uvicorn) and the BentoML floor, each with ``--workers``
   processes, on free ports of 127.0.0.1;
3. runs ``wrk`` (keep-alive, ``--connections`` connections on ``--threads`` threads,
   ``--duration`` seconds after a short warm-up) with a Lua script that POSTs
   ``{"customers": [{"customer_id": ...}]}`` with random snapshot ids, and prints its
   totals and percentiles in one parseable line from its ``done`` hook; single ids on all
   three, then batches of 1,000 ids on the service (one connection: the latency of a
   batch; and ``--connections``: the throughput);
4. writes the report with the targets of issue 18, met or not.

The model is the serving tests' (:mod:`benchmarks.serving_model`), trained once into
``--model-dir`` and reused. Without ``wrk`` on ``PATH`` it stops with one line;
``--client python`` uses a small asyncio keep-alive client instead (the smoke test's
fallback: one process, its own percentiles; compare its numbers with each other, not
with wrk's).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx

from benchmarks.load_test import snapshot_ids, start_server
from benchmarks.serving_model import cached_model
from benchmarks.serving_wrk_report import (
    Load,
    Run,
    StartUp,
    environment,
    markdown,
)
from serving.launcher import free_port, stop_server
from serving.settings import INSECURE_ENV, KEYS_ENV, MODEL_VERSION_ENV, SCORES_ENV

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "benchmarks" / "SERVING.md"
DEFAULT_MODEL_DIR = Path(tempfile.gettempdir()) / "winback_serving_model"
LOG_DIR = Path(tempfile.gettempdir()) / "winback_serving_wrk"
READY_TIMEOUT = 300.0
BATCH = 1_000

LUA = r"""
local ids = {}
for line in io.lines(os.getenv("WRK_IDS")) do ids[#ids + 1] = line end
local key = os.getenv("WRK_KEY") or ""
local batch = tonumber(os.getenv("WRK_BATCH") or "1")
local headers = {["Content-Type"] = "application/json", ["X-API-Key"] = key}
local threads = 0
setup = function(thread) threads = threads + 1; thread:set("thread_seed", threads) end
init = function() math.randomseed(os.time() * 100 + (thread_seed or 0)) end
request = function()
  local parts = {}
  for i = 1, batch do parts[i] = '{"customer_id":"' .. ids[math.random(#ids)] .. '"}' end
  return wrk.format("POST", "/score", headers, '{"customers":[' .. table.concat(parts, ",") .. "]}")
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRK_RESULT requests=%d duration_us=%d errors=%d non2xx=%d p50_us=%d p99_us=%d max_us=%d\n",
    summary.requests, summary.duration, e.connect + e.read + e.write + e.status + e.timeout,
    e.status, latency:percentile(50), latency:percentile(99), latency.max))
end
"""


# --------------------------------------------------------------------------- clients
def require_wrk() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise SystemExit(
            "error: wrk not found on PATH: install it (apt-get install wrk) or run with "
            "--client python"
        )
    return path


def parse_wrk(output: str, server: str, connections: int, batch: int) -> Run:
    """The run from the ``WRK_RESULT`` line the Lua ``done`` hook prints."""
    line = next((x for x in output.splitlines() if x.startswith("WRK_RESULT ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result line:\n{output[-2000:]}")
    values = {k: int(v) for k, v in (part.split("=") for part in line.split()[1:])}
    return Run(
        server=server,
        connections=connections,
        batch=batch,
        requests=values["requests"],
        seconds=values["duration_us"] / 1e6,
        errors=values["errors"],
        p50_ms=values["p50_us"] / 1000,
        p99_ms=values["p99_us"] / 1000,
        max_ms=values["max_us"] / 1000,
    )


def run_wrk(url: str, load: Load, server: str, connections: int, batch: int, seconds: float) -> Run:
    script = LOG_DIR / "score.lua"
    script.write_text(LUA)
    env = {**os.environ, "WRK_IDS": str(load.ids_file), "WRK_KEY": load.api_key,
           "WRK_BATCH": str(batch)}  # fmt: skip
    threads = min(load.threads, connections)
    command = [require_wrk(), f"-t{threads}", f"-c{connections}", f"-d{max(seconds, 1):g}s",
               "--latency", "--timeout", "10s", "-s", str(script), url]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr[-2000:]}")
    return parse_wrk(done.stdout, server, connections, batch)


def run_python(
    url: str, load: Load, server: str, connections: int, batch: int, seconds: float
) -> Run:
    """The fallback client: ``connections`` asyncio keep-alive connections in a closed loop."""
    return asyncio.run(_python_load(url, load, server, connections, batch, seconds))


async def _python_load(
    url: str, load: Load, server: str, connections: int, batch: int, seconds: float
) -> Run:
    host, port = url.removeprefix("http://").split(":")
    latencies: list[float] = []
    errors = 0
    rng = random.Random(connections * 1_000 + batch)
    deadline = time.perf_counter() + seconds

    def request() -> bytes:
        body = (
            '{"customers":['
            + ",".join(f'{{"customer_id":"{rng.choice(load.ids)}"}}' for _ in range(batch))
            + "]}"
        ).encode()
        return (f"POST /score HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                f"X-API-Key: {load.api_key}\r\nContent-Length: {len(body)}\r\n\r\n"
                ).encode() + body  # fmt: skip

    async def client() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while time.perf_counter() < deadline:
                message = request()
                started = time.perf_counter()
                writer.write(message)
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length:"))  # fmt: skip
                await reader.readexactly(length)
                if head.split(b" ", 2)[1] == b"200":
                    latencies.append((time.perf_counter() - started) * 1000)
                else:
                    errors += 1
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(connections)))
    elapsed = time.perf_counter() - started
    ordered = sorted(latencies) or [float("nan")]
    return Run(server, connections, batch, len(latencies) + errors, elapsed, errors,
               ordered[len(ordered) // 2], ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
               ordered[-1])  # fmt: skip


def measure(url: str, load: Load, server: str, connections: int, batch: int) -> Run:
    """A warm-up run (not counted), then the measured one."""
    run = run_wrk if load.client == "wrk" else run_python
    print(f"{server}: {connections} connections, {batch} id(s) per request", flush=True)
    if load.warmup > 0:
        run(url, load, server, connections, batch, load.warmup)
    return run(url, load, server, connections, batch, load.duration)


# --------------------------------------------------------------------------- servers
def wait_until_ready(
    process: subprocess.Popen, url: str, log: Path, ready: Callable[[int], bool]
) -> float:
    """Seconds until ``GET url`` answers a status ``ready`` accepts; stops on failure."""
    started = time.monotonic()
    while time.monotonic() - started < READY_TIMEOUT and process.poll() is None:
        try:
            if ready(httpx.get(url, timeout=2).status_code):
                return time.monotonic() - started
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    stop_server(process)
    raise SystemExit(f"error: {url} did not become ready; see {log}")


def spawn(command: list[str], name: str, env: dict[str, str]) -> tuple[subprocess.Popen, Path]:
    log = LOG_DIR / f"{name}.log"
    process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=log.open("wb"),
                               stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    return process, log


def _port_bound(process: subprocess.Popen, port: int, log: Path) -> None:
    while process.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"error: `winback serve` exited before binding its port; see {log}")


def serve_start_up(scores: Path, api_key: str, workers: int) -> StartUp:
    """How long ``winback serve`` (``python -m serving``) takes to bind and to be ready."""
    port = free_port()
    env = {**os.environ, KEYS_ENV: api_key}
    env.pop(INSECURE_ENV, None)
    env.pop(SCORES_ENV, None)
    command = [sys.executable, "-m", "serving", "--port", str(port), "--scores", str(scores),
               "--workers", str(workers)]  # fmt: skip
    started = time.monotonic()
    process, log = spawn(command, "winback_serve", env)
    try:
        _port_bound(process, port, log)
        bound = time.monotonic() - started
        ready = wait_until_ready(
            process, f"http://127.0.0.1:{port}/readyz", log, lambda s: s == 200
        )
        return StartUp(port_bound=bound, ready=bound + ready)
    finally:
        stop_server(process)


def start_floors(workers: int, servers: dict[str, tuple[subprocess.Popen, str]]) -> None:
    """Start the Starlette and BentoML no-op servers into ``servers`` (so the caller stops
    whatever started, even if one fails) and wait until both answer."""
    ports = {"starlette": free_port(), "bentoml": free_port()}
    env = {**os.environ, "WINBACK_FLOOR_WORKERS": str(workers), "BENTOML_DO_NOT_TRACK": "true"}
    commands = {
        "starlette": [sys.executable, "-m", "uvicorn", "benchmarks.serving_floors:starlette_app",
                      "--host", "127.0.0.1", "--port", str(ports["starlette"]),
                      "--workers", str(workers), "--no-access-log", "--log-level", "warning"],
        "bentoml": [sys.executable, "-m", "bentoml", "serve",
                    "benchmarks.serving_floors:NoopService", "--host", "127.0.0.1",
                    "--port", str(ports["bentoml"]), "--working-dir", str(ROOT)],
    }  # fmt: skip
    logs = {}
    for name, command in commands.items():
        process, logs[name] = spawn(command, f"floor_{name}", env)
        servers[name] = (process, f"http://127.0.0.1:{ports[name]}")
    for name, (process, url) in list(servers.items()):
        probe = "/score" if name == "starlette" else "/readyz"
        wait_until_ready(process, url + probe, logs[name], lambda s: s in (200, 405))


# --------------------------------------------------------------------------- main
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="Seconds per run.")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads.")
    parser.add_argument("--workers", type=int, default=1, help="Worker processes per server.")
    parser.add_argument("--client", choices=("wrk", "python"), default="wrk")
    parser.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL_DIR)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    return parser.parse_args(argv)


@contextlib.contextmanager
def model_environment(uri: str) -> Iterator[None]:
    """The servers started inside serve the cached model's champion; the caller's
    environment is restored afterwards (a test session keeps its own store)."""
    names = ("MLFLOW_TRACKING_URI", MODEL_VERSION_ENV, SCORES_ENV)
    saved = {name: os.environ.get(name) for name in names}
    os.environ["MLFLOW_TRACKING_URI"] = uri
    os.environ.pop(MODEL_VERSION_ENV, None)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def run_benchmark(args: argparse.Namespace) -> tuple[dict[str, Run], StartUp, dict[str, str]]:
    """Every run of the module docstring; the servers are stopped at the end."""
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    uri, scores = cached_model(args.model_dir)
    ids = snapshot_ids(scores)
    ids_file = LOG_DIR / "ids.txt"
    ids_file.write_text("\n".join(ids) + "\n")
    load = Load(args.client, ids_file, ids, "wrk-bench-" + secrets.token_urlsafe(24),
                args.threads, args.duration, min(2.0, args.duration))  # fmt: skip
    context = environment(load, args.workers, args.connections)
    servers: dict[str, tuple[subprocess.Popen, str]] = {}
    with model_environment(uri):
        print("timing `winback serve` start-up", flush=True)
        start_up = serve_start_up(scores, load.api_key, args.workers)
        try:
            start_floors(args.workers, servers)
            servers["winback"] = start_server(scores, load.api_key, args.workers)
            urls, n = {name: url for name, (_, url) in servers.items()}, args.connections
            ours = urls["winback"]
            runs = {
                "starlette single": measure(urls["starlette"], load, "starlette no-op", n, 1),
                "bentoml single": measure(urls["bentoml"], load, "bentoml no-op", n, 1),
                "winback single": measure(ours, load, "winback", n, 1),
                "winback batch, one connection": measure(ours, load, "winback", 1, BATCH),
                f"winback batch, {n} connections": measure(ours, load, "winback", n, BATCH),
            }
        finally:
            for process, _ in servers.values():
                stop_server(process)
    if hasattr(os, "getloadavg"):
        context["load average at the end"] = f"{os.getloadavg()[0]:.2f}"
    return runs, start_up, context


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")
    if args.client == "wrk":
        require_wrk()
    runs, start_up, context = run_benchmark(args)
    report = markdown(runs, start_up, context)
    args.out.write_text(report)
    print(report)
    return 0 if all(run.errors == 0 for run in runs.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
