"""Load test of the scoring service: latency and throughput of ``POST /score`` lookups.

    python -m benchmarks.load_test                       # starts its own server
    python -m benchmarks.load_test --url http://127.0.0.1:3000 --api-key KEY

By default it starts ``bentoml serve serving.service:WinbackService`` on a free port of
127.0.0.1 with a fresh API key, the champion of ``MLFLOW_TRACKING_URI`` and the snapshot
``--scores`` (default ``out/scores.parquet``, as written by ``winback demo``), and stops it
at the end. Only loopback URLs are accepted: this is a benchmark, not a traffic generator.

Phases (each bounded by a request count and a time limit; warm-up requests not counted):

1. ``single``: 50 concurrent clients in a closed loop (each sends its next request as
   soon as the previous one is answered), each with its own keep-alive connection, one
   random snapshot id per request -- the issue's scenario; it measures saturation, where
   by Little's law mean latency = clients / throughput;
2. ``single-paced-<rate>``: the same 50 clients on a fixed schedule (each ``--rate``, in
   requests per second over all clients), latency counted from the scheduled send time;
3. ``single-one-client``: one client, closed loop: the cost of one lookup;
4. ``readyz-floor``: 50 clients in a closed loop on ``GET /readyz``, which does no work:
   the ceiling that BentoML plus this client reach on this machine;
5. ``batch``: one client sending batches of 1,000 random ids;
6. ``batch-concurrent``: 50 concurrent clients sending batches of 1,000 ids.

A request counts as an error when it fails at the transport, answers anything but 200, or
returns a per-item error for an id taken from the snapshot. Latency is measured by the
client (send to last byte), so it includes the client's own event loop, which shares the
machine's cores with the server. The server's own view (BentoML's request-duration
histogram from ``/metrics``) is reported next to it.

Results go to ``benchmarks/SERVING.md`` (``--out``) and are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import random
import re
import secrets
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import httpx
import numpy as np

from serving.cli import free_port, server_command, server_environment, stop_server

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "benchmarks" / "SERVING.md"
SINGLE_P99_TARGET_MS = 25.0
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
SERVER_LOG = Path(tempfile.gettempdir()) / "winback_load_test_server.log"


@dataclass
class Phase:
    """``rate=None``: closed loop, each client sends its next request when the previous
    one is answered. ``rate``: open loop, requests per second over all clients on a fixed
    schedule; latency is counted from the scheduled send time, so a slow answer delays
    the next request's clock too (no coordinated omission). ``batch_size=0`` calls
    ``GET /readyz`` instead of ``/score``: the framework's floor."""

    name: str
    concurrency: int
    batch_size: int
    max_requests: int
    max_seconds: float
    warmup_requests: int
    rate: float | None = None


@dataclass
class PhaseResult:
    phase: Phase
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    error_examples: list[str] = field(default_factory=list)
    seconds: float = 0.0
    server_mean_ms: float | None = None
    server_within_25ms: float | None = None

    @property
    def requests(self) -> int:
        return len(self.latencies_ms) + self.errors

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latencies_ms, q)) if self.latencies_ms else float("nan")

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


# --------------------------------------------------------------------------- server


def start_server(scores: Path, api_key: str, workers: int | None) -> tuple[subprocess.Popen, str]:

    environ = dict(os.environ, WINBACK_API_KEYS=api_key)
    environ.pop("WINBACK_INSECURE", None)
    env = server_environment(scores, insecure=False, workers=workers, environ=environ)
    port = free_port()
    log = SERVER_LOG.open("wb")
    process = subprocess.Popen(
        server_command("127.0.0.1", port),
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return process, url
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    stop_server(process)
    raise SystemExit(f"the server did not become ready; see {SERVER_LOG}")


# --------------------------------------------------------------------------- load
class Connection:
    """One client's keep-alive connection: httpx (default) or aiohttp (a lighter client,
    to tell the client's own overhead from the server's)."""

    def __init__(self, kind: str, url: str, headers: dict[str, str]) -> None:
        self.kind, self.url, self.headers = kind, url, headers

    async def __aenter__(self) -> Connection:
        if self.kind == "aiohttp":
            import aiohttp

            self.session = aiohttp.ClientSession(
                self.url,
                headers=self.headers,
                connector=aiohttp.TCPConnector(limit=1),
                timeout=aiohttp.ClientTimeout(total=120),
            )
        else:
            self.session = httpx.AsyncClient(
                base_url=self.url,
                headers=self.headers,
                timeout=120,
                limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
            )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.kind == "aiohttp":
            await self.session.close()
        else:
            await self.session.aclose()

    async def get(self, path: str) -> tuple[int, bytes]:
        if self.kind == "aiohttp":
            async with self.session.get(path) as response:
                return response.status, await response.read()
        response = await self.session.get(path)
        return response.status_code, response.content

    async def post(self, path: str, body: dict) -> tuple[int, bytes]:
        if self.kind == "aiohttp":
            async with self.session.post(path, json=body) as response:
                return response.status, await response.read()
        response = await self.session.post(path, json=body)
        return response.status_code, response.content


async def run_phase(
    url: str, api_key: str, ids: list[str], phase: Phase, client_kind: str = "httpx"
) -> PhaseResult:
    result = PhaseResult(phase)
    headers = {"Authorization": f"Bearer {api_key}"}
    budget = {"left": phase.max_requests + phase.warmup_requests}
    warmup = {"left": phase.warmup_requests}
    deadline = time.monotonic() + phase.max_seconds
    rng = random.Random(len(ids) + phase.batch_size)

    async def one_client() -> None:
        async with Connection(client_kind, url, headers) as connection:
            interval = phase.concurrency / phase.rate if phase.rate else 0.0
            scheduled = time.perf_counter() + rng.random() * interval
            while budget["left"] > 0 and time.monotonic() < deadline:
                budget["left"] -= 1
                counted = warmup["left"] <= 0
                warmup["left"] -= 1
                body = {
                    "customers": [{"customer_id": rng.choice(ids)} for _ in range(phase.batch_size)]
                }
                if phase.rate:
                    await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
                    started = scheduled
                    scheduled += interval
                else:
                    started = time.perf_counter()
                try:
                    if phase.batch_size == 0:
                        status, content = await connection.get("/readyz")
                    else:
                        status, content = await connection.post("/score", body)
                    elapsed = (time.perf_counter() - started) * 1000
                    problem = None
                    if status != 200:
                        problem = f"HTTP {status}: {content[:200]!r}"
                    elif phase.batch_size:
                        results = json.loads(content)["results"]
                        if len(results) != phase.batch_size or any("error" in r for r in results):
                            problem = "per-item error or missing result"
                except Exception as error:  # any failure of the request is an error
                    elapsed, problem = 0.0, f"{type(error).__name__}: {error}"
                if not counted:
                    continue
                if problem is None:
                    result.latencies_ms.append(elapsed)
                else:
                    result.errors += 1
                    if len(result.error_examples) < 5:
                        result.error_examples.append(problem)

    before = await server_histogram(url, api_key)
    started = time.perf_counter()
    await asyncio.gather(*(one_client() for _ in range(phase.concurrency)))
    result.seconds = time.perf_counter() - started
    after = await server_histogram(url, api_key)
    before = before or (0.0, 0.0, 0.0)
    if after and after[1] > before[1]:
        # Includes the warm-up requests: over the whole phase.
        served = after[1] - before[1]
        result.server_mean_ms = (after[0] - before[0]) / served * 1000
        result.server_within_25ms = (after[2] - before[2]) / served
    return result


async def server_histogram(url: str, api_key: str) -> tuple[float, float, float] | None:
    """(sum of seconds, count, count within 25 ms) of BentoML's request-duration histogram
    for ``/score``."""
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        response = await client.get("/metrics", headers={"X-API-Key": api_key})
    if response.status_code != 200:
        return None
    total = count = fast = 0.0
    for line in response.text.splitlines():
        if "request_duration_seconds" not in line or 'endpoint="/score"' not in line:
            continue
        match = re.search(r"\s([0-9.eE+-]+)$", line)
        if match is None:
            continue
        if "_sum{" in line:
            total += float(match.group(1))
        elif "_count{" in line:
            count += float(match.group(1))
        elif "_bucket{" in line and 'le="0.025"' in line:
            fast += float(match.group(1))
    return (total, count, fast) if count else None


# --------------------------------------------------------------------------- report
def markdown(results: list[PhaseResult], context: dict[str, str]) -> str:
    lines = [
        f"# Scoring service load test ({context['client'].split(',')[0]} client)",
        "",
        "Written by `python -m benchmarks.load_test` (see its docstring for the method).",
        "",
        "| phase | clients | ids/request | requests | errors | throughput (req/s) "
        "| customers/s | p50 ms | p95 ms | p99 ms | max ms | server mean ms "
        "| server <= 25 ms |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        server = f"{r.server_mean_ms:.1f}" if r.server_mean_ms is not None else "-"
        fast = f"{r.server_within_25ms:.1%}" if r.server_within_25ms is not None else "-"
        lines.append(
            f"| {r.phase.name} | {r.phase.concurrency} | {r.phase.batch_size:,} | "
            f"{r.requests:,} | {r.errors} | {r.throughput:,.0f} | "
            f"{r.throughput * r.phase.batch_size:,.0f} | {r.percentile(50):.1f} | "
            f"{r.percentile(95):.1f} | {r.percentile(99):.1f} | "
            f"{max(r.latencies_ms, default=float('nan')):.1f} | {server} | {fast} |"
        )
    lines += [
        "",
        "Reading the table: in a closed loop N clients always have N requests in flight, "
        "so mean latency = N / throughput (Little's law); the single phase is therefore "
        "bounded by the readyz-floor phase, which does no work at all. The paced phase "
        'shows latency at a load the server can carry. "server mean" is BentoML\'s own '
        "request-duration histogram for /score over the phase (warm-up included): the "
        "time inside the service, without queueing in the server's event loop or the "
        'client; "server <= 25 ms" is the share of those requests done within 25 ms.',
    ]
    single = next((r for r in results if r.phase.name == "single"), None)
    if single is not None:  # the target is stated for the closed-loop phase
        p99 = single.percentile(99)
        verdict = "met" if p99 <= SINGLE_P99_TARGET_MS and single.errors == 0 else "MISSED"
        lines += [
            "",
            f"Target for single lookups: p99 <= {SINGLE_P99_TARGET_MS:.0f} ms with zero errors: "
            f"**{verdict}** (p99 {p99:.1f} ms, {single.errors} errors).",
        ]
    for r in results:
        for example in r.error_examples:
            lines.append(f"- {r.phase.name} error: `{example}`")
    lines += ["", "Environment:", ""]
    lines += [f"- {key}: {value}" for key, value in context.items()]
    return "\n".join(lines) + "\n"


def environment(url: str, workers: int | None, started_server: bool, client: str) -> dict[str, str]:
    import bentoml

    load = os.getloadavg() if hasattr(os, "getloadavg") else ("?", "?", "?")
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, load average "
        f"{load[0]:.2f} at the start",
        "python": platform.python_version(),
        "bentoml": bentoml.__version__,
        "server": (f"started by the load test, {workers or 1} worker(s)" if started_server
                   else url),
        "client": f"{client}, one asyncio process on the same machine, one keep-alive "
        "connection per client",
    }  # fmt: skip


def check_loopback(url: str) -> None:
    host = urlparse(url).hostname
    if host not in LOOPBACK:
        raise SystemExit(f"--url {url}: only 127.0.0.1 / localhost are allowed")


def snapshot_ids(scores: Path) -> list[str]:
    import pyarrow.parquet as pq

    return [str(c) for c in pq.read_table(scores, columns=["customer_id"]).column(0).to_pylist()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="A running server on 127.0.0.1 (default: start one).")
    parser.add_argument("--api-key", help="API key for --url (default: WINBACK_API_KEYS[0]).")
    parser.add_argument("--scores", type=Path, default=ROOT / "out" / "scores.parquet")
    parser.add_argument("--workers", type=int, default=None, help="Server workers (started).")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--single-requests", type=int, default=10_000)
    parser.add_argument("--batch-requests", type=int, default=300)
    parser.add_argument(
        "--rate",
        type=float,
        nargs="+",
        default=[50.0, 100.0, 200.0],
        help="Requests/s (over all clients) of the paced single phases.",
    )
    parser.add_argument("--paced-seconds", type=float, default=20.0, help="Per paced phase.")
    parser.add_argument("--max-seconds", type=float, default=60.0, help="Per phase.")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument(
        "--client",
        choices=("httpx", "aiohttp"),
        default="httpx",
        help="HTTP client of the load generator (aiohttp costs the machine less CPU).",
    )
    parser.add_argument("--append", action="store_true", help="Append to --out.")
    parser.add_argument(
        "--phases", nargs="+", help="Run only the phases whose names start with these."
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")

    if not args.scores.is_file():
        raise SystemExit(f"--scores {args.scores}: not found (run `winback demo` first)")
    ids = snapshot_ids(args.scores)
    process = None
    if args.url:
        check_loopback(args.url)
        url = args.url.rstrip("/")
        api_key = args.api_key or os.environ.get("WINBACK_API_KEYS", "").split(",")[0].strip()
    else:
        api_key = "load-test-" + secrets.token_urlsafe(24)
        process, url = start_server(args.scores, api_key, args.workers)
    context = environment(url, args.workers, process is not None, args.client)
    n, seconds, single = args.concurrency, args.max_seconds, args.single_requests
    phases = [
        Phase("single", n, 1, single, seconds, 500),
        *(
            Phase(
                f"single-paced-{rate:g}rps",
                n,
                1,
                int(rate * args.paced_seconds),
                seconds,
                int(rate),
                rate=rate,
            )
            for rate in args.rate
        ),
        Phase("single-one-client", 1, 1, single // 5, seconds, 100),
        Phase("readyz-floor", n, 0, single, seconds, 500),
        Phase("batch", 1, 1_000, max(args.batch_requests // 10, 10), seconds, 3),
        Phase("batch-concurrent", n, 1_000, args.batch_requests, seconds, n),
    ]
    if args.phases:
        phases = [p for p in phases if any(p.name.startswith(name) for name in args.phases)]
    try:
        results = []
        for phase in phases:
            print(f"phase {phase.name}: {phase.concurrency} clients, {phase.batch_size} ids")
            results.append(asyncio.run(run_phase(url, api_key, ids, phase, args.client)))
    finally:
        if process is not None:
            stop_server(process)
    if hasattr(os, "getloadavg"):
        context["load average at the end"] = (
            f"{os.getloadavg()[0]:.2f} (other work on the machine shows here)"
        )
    report = markdown(results, context)
    if args.append and args.out.exists():
        report = args.out.read_text() + "\n" + report
    args.out.write_text(report)
    print(report)
    return 0 if all(r.errors == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
