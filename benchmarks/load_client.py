"""The load generator of :mod:`benchmarks.load_test`: phases, clients, the server's view.

Each client holds one keep-alive connection; a phase runs its clients concurrently in one
asyncio loop and reads BentoML's request-duration histogram before and after, so that the
client-side latency can be set beside the time spent inside the service.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import time
from dataclasses import dataclass, field

import httpx
import numpy as np


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
