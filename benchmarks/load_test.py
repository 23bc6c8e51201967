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

Results go to ``benchmarks/SERVING_LOAD_TEST.md`` (``--out``) and are printed (the
headline numbers, against no-op floors, are :mod:`benchmarks.serving_wrk`'s
``benchmarks/SERVING.md``). The load generator
itself (phases, connections, the server's histogram) is :mod:`benchmarks.load_client`.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import platform
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

import httpx

from benchmarks.load_client import Phase, PhaseResult, run_phase
from serving.launcher import free_port, server_command, server_environment, stop_server
from serving.settings import INSECURE_ENV, KEYS_ENV

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "benchmarks" / "SERVING_LOAD_TEST.md"
SINGLE_P99_TARGET_MS = 25.0
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
SERVER_LOG = Path(tempfile.gettempdir()) / "winback_load_test_server.log"


# --------------------------------------------------------------------------- server


def start_server(scores: Path, api_key: str, workers: int | None) -> tuple[subprocess.Popen, str]:

    environ = {**os.environ, KEYS_ENV: api_key}
    environ.pop(INSECURE_ENV, None)
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


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
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
    return parser.parse_args(argv)


def build_phases(args: argparse.Namespace) -> list[Phase]:
    """The phases of the module docstring, filtered by ``--phases``."""
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
    return phases


def run_load_test(args: argparse.Namespace) -> tuple[list[PhaseResult], dict[str, str]]:
    """Every phase against ``--url``, or a server started here and stopped at the end."""
    ids = snapshot_ids(args.scores)
    process = None
    if args.url:
        check_loopback(args.url)
        url = args.url.rstrip("/")
        api_key = args.api_key or os.environ.get(KEYS_ENV, "").split(",")[0].strip()
    else:
        api_key = "load-test-" + secrets.token_urlsafe(24)
        process, url = start_server(args.scores, api_key, args.workers)
    context = environment(url, args.workers, process is not None, args.client)
    try:
        results = []
        for phase in build_phases(args):
            print(f"phase {phase.name}: {phase.concurrency} clients, {phase.batch_size} ids")
            results.append(asyncio.run(run_phase(url, api_key, ids, phase, args.client)))
    finally:
        if process is not None:
            stop_server(process)
    if hasattr(os, "getloadavg"):
        context["load average at the end"] = (
            f"{os.getloadavg()[0]:.2f} (other work on the machine shows here)"
        )
    return results, context


def write_report(
    args: argparse.Namespace, results: list[PhaseResult], context: dict[str, str]
) -> str:
    """Write the Markdown report to ``--out`` (after what is there with ``--append``)."""
    report = markdown(results, context)
    if args.append and args.out.exists():
        report = args.out.read_text() + "\n" + report
    args.out.write_text(report)
    return report


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")
    if not args.scores.is_file():
        raise SystemExit(f"--scores {args.scores}: not found (run `winback demo` first)")
    results, context = run_load_test(args)
    print(write_report(args, results, context))
    return 0 if all(r.errors == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
