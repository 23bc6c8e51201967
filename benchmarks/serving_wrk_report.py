"""The report of :mod:`benchmarks.serving_wrk`: its runs, issue 18's targets, SERVING.md.

Kept apart from the module that starts servers and runs wrk, so that each stays readable;
the dataclasses here are what a run measures and what the report is made of.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
from dataclasses import dataclass
from pathlib import Path

#: Issue 18's targets.
THROUGHPUT_SHARE_TARGET = 0.60
P99_FACTOR_TARGET = 2.0
BATCH_P99_TARGET_MS = 100.0
READY_TARGET_SECONDS = 10.0


@dataclass
class Run:
    """One measured load run."""

    server: str
    connections: int
    batch: int
    requests: int
    seconds: float
    errors: int
    p50_ms: float
    p99_ms: float
    max_ms: float

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


@dataclass
class Load:
    """What every run shares: the client, the ids, the key, the shape of the load."""

    client: str
    ids_file: Path
    ids: list[str]
    api_key: str
    threads: int
    duration: float
    warmup: float


@dataclass
class StartUp:
    """``winback serve``'s start-up: seconds from launch until the port accepts
    connections (BentoML's supervisor binds it once the start-up check has passed), and
    until ``/readyz`` answers 200 (a worker has loaded the model and the snapshot)."""

    port_bound: float
    ready: float


def _verdict(ok: bool) -> str:
    return "**met**" if ok else "**not met**"


def targets(runs: dict[str, Run], start_up: StartUp) -> list[tuple[str, str, bool]]:
    """(target, measured, met) for each of issue 18's targets."""
    ours, floor = runs["winback single"], runs["starlette single"]
    batch = runs["winback batch, one connection"]
    share = ours.throughput / floor.throughput if floor.throughput else 0.0
    every_error = sum(run.errors for run in runs.values())
    return [
        (f"single-id lookups: requests/s >= {THROUGHPUT_SHARE_TARGET:.0%} of the Starlette floor's",
         f"{ours.throughput:,.0f} vs {floor.throughput:,.0f} req/s ({share:.0%})",
         share >= THROUGHPUT_SHARE_TARGET),
        (f"single-id lookups: p99 <= {P99_FACTOR_TARGET:g}x the Starlette floor's",
         f"{ours.p99_ms:.1f} ms vs {floor.p99_ms:.1f} ms ({ours.p99_ms / floor.p99_ms:.2f}x)",
         ours.p99_ms <= P99_FACTOR_TARGET * floor.p99_ms),
        ("0 errors (every run, floors included)", f"{every_error}", every_error == 0),
        (f"1,000-id batch: p99 <= {BATCH_P99_TARGET_MS:.0f} ms (one connection)",
         f"{batch.p99_ms:.1f} ms", batch.p99_ms <= BATCH_P99_TARGET_MS),
        (f"`winback serve` ready in <= {READY_TARGET_SECONDS:.0f} s (CDNOW snapshot)",
         f"{start_up.ready:.1f} s", start_up.ready <= READY_TARGET_SECONDS),
    ]  # fmt: skip


def run_table(runs: dict[str, Run]) -> list[str]:
    floor = runs["starlette single"]
    bento = runs["bentoml single"]
    lines = [
        "| run | connections | ids/request | requests | errors | req/s | customers/s "
        "| p50 ms | p99 ms | max ms | req/s vs Starlette | req/s vs BentoML no-op |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, run in runs.items():
        versus = [f"{run.throughput / base.throughput:.2f}x" if run.batch == 1 else "-"
                  for base in (floor, bento)]  # fmt: skip
        lines.append(
            f"| {name} | {run.connections} | {run.batch:,} | {run.requests:,} | {run.errors} "
            f"| {run.throughput:,.0f} | {run.throughput * run.batch:,.0f} | {run.p50_ms:.1f} "
            f"| {run.p99_ms:.1f} | {run.max_ms:.1f} | {versus[0]} | {versus[1]} |"
        )
    return lines


EXPLANATION = """\
## What the numbers say

- **Where the time went.** Before issue 18 every lookup went through BentoML's request
  path: 693 single-id lookups/s, p99 126 ms (wrk as here, one worker, 2026-12-01, a
  quieter machine: load average 1). The issue's profile put OpenTelemetry tracing at 29%
  of the worker's time, BentoML's own code at 17%, h11 and uvicorn at 19% and winback at
  2.3%; for 1,000 ids pydantic's validation and serialisation were 75%. The BentoML
  no-op row above is that floor: BentoML's request path with nothing behind it.
- **The lean path** (`serving/fast_lookup.py`). `POST /score` with a valid key and a body
  of ids only is answered in front of BentoML's request stack, from every snapshot
  customer's JSON serialised once at start-up by the same pydantic models and serialiser
  (the bytes are the full path's; `tests/serving/test_fast_lookup.py` compares them).
  Anything else (transactions, `as_of`, a malformed body, a missing key) goes through
  BentoML as before, so its answers and error messages are unchanged. Lean answers
  skip tracing, BentoML's request metrics (`/metrics` counts them as
  `winback_score_requests_total{path="lean"}`, per worker) and the in-flight limit (each
  is answered within one step of the event loop, so none queue); they carry
  `X-Winback-Path: lookup`.
- **Reading a closed loop.** wrk keeps every connection busy: N connections always have N
  requests in flight, so mean latency = N / throughput (Little's law). A p99 target at 50
  connections is therefore a throughput target; the floors show what these two cores
  give with no work at all. The load generator runs on the same two cores as the
  servers, and other jobs share the machine (load averages below).
- **Batches of 1,000 ids** are about 1 MB of JSON each way. One connection measures what
  one batch costs; 50 connections in a closed loop measure throughput (their latency is
  50 / throughput, not a target).
- Access logs stay off by default (`WINBACK_ACCESS_LOG=1` turns them on): BentoML writes
  them synchronously on the event loop, which cost the lookups' p99 (issue 6).
- **uvloop and httptools** are not dependencies (uvicorn picks them up when installed).
  Measured once (2026-12-01, scratch `pip install --target`, same run, loaded machine):
  single-id lookups 1,552 -> 3,458 req/s (p99 53.9 -> 31.6 ms), the Starlette floor
  1,525 -> 3,316 req/s; 1,000-id batches unchanged. With httptools the connection guards
  of `serving/connections.py` (header timeout, connection limit; written for h11) would
  not apply, so adding them needs that work first.
- **Start-up** is mostly imports and the model load. BentoML's supervisor runs the
  start-up check (`serving/startup.py`: it loads the model so that a bad artifact stops the
  server with one line instead of respawning workers) before it binds the port; it reads
  the champion from the registry's read cache (`pipelines/registry/read_cache.py`: no
  MLflow import while the store is unchanged since the last read; a changed store is read
  through MLflow, 3-5 s more) and hands it to the workers as files
  (`serving/served_model.py`). XGBoost is imported without scikit-learn and SciPy's
  statistics (`models/xgboost_import.py`, 1.7-2 s per process). The worker builds the
  snapshot column by column (`serving/snapshot_load.py`, 2-2.5x faster than row by row)
  and prepares the `/rank` selection (about 0.9 s of its 5-6 s).
"""


def markdown(runs: dict[str, Run], start_up: StartUp, context: dict[str, str]) -> str:
    lines = [
        "# Scoring service: `POST /score` against two no-op floors (issue 18)",
        "",
        f"Generated by `python -m benchmarks.serving_wrk` on {context['date']}; do not edit by "
        "hand (its docstring describes the method). The service and two servers that do no "
        f"work ({context['floors']}) are measured in the same run, with {context['load']}.",
        "",
        "## Targets",
        "",
        "| target | measured | result |",
        "|---|---|---|",
        *(f"| {name} | {measured} | {_verdict(ok)} |" for name, measured, ok in
          targets(runs, start_up)),
        "",
        "## Runs",
        "",
        *run_table(runs),
        "",
        f"`winback serve` bound its port {start_up.port_bound:.1f} s after launch (the "
        "supervisor's start-up check, which loads the model once, had passed) and was ready "
        f"(`/readyz` 200) after {start_up.ready:.1f} s (the worker had loaded the model and "
        "the snapshot).",
        "",
        EXPLANATION,
        "## Environment",
        "",
        *(f"- {key}: {value}" for key, value in context.items()),
    ]  # fmt: skip
    return "\n".join(lines) + "\n"


def environment(load: Load, workers: int, connections: int) -> dict[str, str]:
    import bentoml
    import uvicorn

    average = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    client = (f"wrk, {load.threads} threads" if load.client == "wrk"
              else "the asyncio fallback client (--client python)")  # fmt: skip
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "floors": f"Starlette under uvicorn, and a BentoML `@bentoml.api`; {workers} worker(s) "
        "each, like the service",
        "load": f"{client}, {connections} keep-alive connections, {load.duration:g} s per run "
        f"after a {load.warmup:g} s warm-up, random ids of the {len(load.ids):,}-customer "
        "CDNOW snapshot of the serving tests' model",
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, load average {average:.2f} "
        "at the start",
        "python": platform.python_version(),
        "bentoml / uvicorn": f"{bentoml.__version__} / {uvicorn.__version__}",
    }
