"""Latency of ``POST /rank`` in process, on the served model's CDNOW snapshot (issue 18).

    python -m benchmarks.rank_latency                  # CDNOW, 23,570 customers
    python -m benchmarks.rank_latency --customers 500  # a quick look (the smoke test's size)

Why in process: the issue's target (a page of 50 rows within 50 ms) is about the work of
a page, which a server adds HTTP and a thread hop to; ``benchmarks.load_test`` measures
those. Each step calls :func:`serving.ranking.answer_page` (what the service's
``_rank_page`` runs in its worker thread) and serialises the answer to JSON, on a cache
built like the service's at start-up (:meth:`serving.rank_cache.RankingCache.warm`,
then ``gc.freeze()`` as the service's ``__init__`` does):

1. ``start-up``: the prepared plan (contact options and selection sequence) of the
   configured channel settings, computed once per worker;
2. ``first page``: the first request after start-up (its budget's cut of the plan);
3. ``warm page``: further pages of 50 rows of that list;
4. ``new budget``: a page of a budget not asked before (a cut of the kept plan);
5. ``channel costs``: a page with a ``channels`` cost override not asked before (new
   contact options and sequence), then ``daily capacity``: a capacity override (the
   options reused, a new sequence);
6. ``full plan``: for reference, the whole plan with every row's words, as ``winback
   rank`` computes it: how ``POST /rank`` computed every new list before issue 18 (with
   today's faster selection sequence and row words).

A check compares every list measured with one computed afresh
(:func:`serving.ranking.compute_ranking`), page for page. The scores are those of the
serving tests' model (:func:`benchmarks.serving_model.cached_model`, trained once into
``benchmarks/data/rank_model``) unless ``--scores`` names a snapshot. The numbers go to
``benchmarks/RANK.md`` (``--out``) as a markdown table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "benchmarks" / "RANK.md"
MODEL_FOLDER = ROOT / "benchmarks" / "data" / "rank_model"
#: The issue's target for a page of 50 rows with the selection computed.
PAGE_TARGET_MS = 50.0
PAGE_ROWS = 50
BUDGET = 1000.0


@dataclass
class Step:
    name: str
    recomputed: str
    seconds: list[float]
    target_ms: float | None = None

    @property
    def median_ms(self) -> float:
        return statistics.median(self.seconds) * 1000

    @property
    def max_ms(self) -> float:
        return max(self.seconds) * 1000

    @property
    def met(self) -> bool | None:
        return None if self.target_ms is None else self.max_ms <= self.target_ms


def _timed(call: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = call()
    return time.perf_counter() - started, result


def load_snapshot(scores: Path | None, customers: int | None) -> Any:
    """The snapshot to rank: ``scores`` or the served model's, cut to its first
    ``customers`` customers when asked."""
    from benchmarks.serving_model import cached_model
    from serving.scoring import Snapshot

    path = scores or cached_model(MODEL_FOLDER)[1]
    snapshot = Snapshot.load(path)
    if customers is None:
        return snapshot
    kept = snapshot.scores.head(customers).reset_index(drop=True)
    by_id = {customer_id: snapshot.by_id[customer_id] for customer_id in kept["customer_id"]}
    return replace(snapshot, scores=kept, by_id=by_id)


class _Ranker:
    """The service's /rank state: its snapshot, channel settings and cache."""

    def __init__(self, snapshot: Any, config: Any) -> None:
        from serving.rank_cache import RankingCache

        self.snapshot, self.config = snapshot, config
        self.startup, self.cache = _timed(lambda: RankingCache.warm(snapshot, config, None))
        # As the service after start-up: what lives as long as the worker is frozen, so
        # the collector does not walk it during every request's allocations.
        gc.collect()
        gc.freeze()

    def page(
        self,
        budget: float,
        offset: int = 0,
        costs: dict[str, float] | None = None,
        capacity: dict[str, int] | None = None,
    ) -> tuple[float, Any]:
        """Seconds for one page of 50 rows, and the answer."""
        from serving.ranking import answer_page, request_config

        def answer() -> Any:
            config = request_config(self.config, costs, capacity)
            response = answer_page(
                self.cache,
                self.snapshot,
                ("benchmark", None),
                (budget, config, (costs, capacity)),
                (None, None, None),
                (offset, PAGE_ROWS),
            )
            response.model_dump_json()
            return response

        return _timed(answer)


def _fresh_rows(ranker: _Ranker, budget: float, costs: Any, capacity: Any) -> list[Any]:
    """Every row of the list computed afresh, without the cache."""
    from serving.ranking import compute_ranking, no_suppression, page, request_config

    snapshot = ranker.snapshot
    config = request_config(ranker.config, costs, capacity)
    fresh = compute_ranking(
        snapshot.scores,
        budget,
        config,
        snapshot.as_of,
        None,
        no_suppression(snapshot, config),
    )
    return page(fresh, 0, None)[0]


def _same_as_fresh(ranker: _Ranker, budget: float, costs: Any = None, capacity: Any = None) -> bool:
    """Whether the cached list's pages, put together, are the fresh list."""
    rows, offset = [], 0
    while offset is not None:
        _, answer = ranker.page(budget, offset, costs, capacity)
        rows += answer.rows
        offset = answer.next_offset
    return rows == _fresh_rows(ranker, budget, costs, capacity)


def _override_channels(config: Any) -> tuple[str, str]:
    """A channel to re-price and a channel to cap: the cheapest and the dearest."""
    by_cost = sorted(config.channels, key=lambda name: config.channels[name].cost)
    return by_cost[0], by_cost[-1]


def measure(snapshot: Any, config: Any, repeat: int) -> tuple[list[Step], dict[str, bool]]:
    """Every step of the module docstring, and the checks against fresh computations."""
    from pipelines.economics.plan import plan_winback

    ranker = _Ranker(snapshot, config)
    first, answer = ranker.page(BUDGET)
    pages = max(1, min(repeat * 10, -(-answer.total_rows // PAGE_ROWS)))
    warm = [ranker.page(BUDGET, k * PAGE_ROWS)[0] for k in range(pages)]
    budgets = [BUDGET * (1.5 + k) for k in range(repeat)]
    new_budget = [ranker.page(budget)[0] for budget in budgets]
    cheap, dear = _override_channels(config)
    costs = [{cheap: config.channels[cheap].cost * (2 + k)} for k in range(repeat)]
    repriced = [ranker.page(BUDGET, costs=cost)[0] for cost in costs]
    capacities = [{dear: 5 + k} for k in range(repeat)]
    capped = [ranker.page(BUDGET, capacity=capacity)[0] for capacity in capacities]
    full = [
        _timed(lambda: plan_winback(snapshot.scores, BUDGET, config, None, snapshot.as_of))[0]
        for _ in range(max(1, repeat // 2))
    ]
    steps = [
        Step("start-up", "contact options + selection sequence", [ranker.startup]),
        Step("first page", "the budget's cut + the page's words", [first]),
        Step("warm page of 50", "the page's words", warm, PAGE_TARGET_MS),
        Step("new budget", "the budget's cut", new_budget),
        Step(f"channel costs ({cheap})", "options + sequence + cut", repriced),
        Step(f"daily capacity ({dear})", "sequence + cut (options reused)", capped),
        Step("full plan, every row's words", "everything (`winback rank`)", full),
    ]
    checks = {
        "budget list = fresh list": _same_as_fresh(ranker, budgets[0]),
        "cost override list = fresh list": _same_as_fresh(ranker, BUDGET, costs[0]),
        "capacity override list = fresh list": _same_as_fresh(
            ranker, BUDGET, capacity=capacities[0]
        ),
    }
    return steps, checks


def markdown(steps: list[Step], checks: dict[str, bool], context: dict[str, Any]) -> str:
    """The report: one row per step, the target where the issue sets one, the checks."""
    lines = [
        "# `POST /rank` latency in process (issue 18)",
        "",
        "Written by `python -m benchmarks.rank_latency`; see its docstring for the steps. "
        "Times include serialising the answer to JSON, not HTTP.",
        "",
        f"- data: {context['data']}",
        f"- machine: {context['machine']}",
        f"- run: {context['when']}",
        "",
        "| step | recomputed | median ms | max ms | n | target | met |",
        "|---|---|---:|---:|---:|---|---|",
    ]
    for step in steps:
        target = f"<= {step.target_ms:.0f} ms" if step.target_ms is not None else "-"
        met = {None: "-", True: "yes", False: "**no**"}[step.met]
        lines.append(
            f"| {step.name} | {step.recomputed} | {step.median_ms:,.1f} | {step.max_ms:,.1f} "
            f"| {len(step.seconds)} | {target} | {met} |"
        )
    lines += ["", "Checks (every page of the cached list against a fresh computation):", ""]
    lines += [f"- {name}: {'ok' if ok else '**FAILED**'}" for name, ok in checks.items()]
    return "\n".join(lines) + "\n"


def run_rank_latency(
    scores: Path | None = None,
    customers: int | None = None,
    repeat: int = 5,
    out: Path = DEFAULT_OUT,
) -> tuple[list[Step], dict[str, bool]]:
    """Measure, write the markdown report to ``out``, and return the steps and checks."""
    from benchmarks.machine import machine_info
    from pipelines.economics.rank import economics_config

    snapshot = load_snapshot(scores, customers)
    config, _ = economics_config()
    try:
        steps, checks = measure(snapshot, config, repeat)
    finally:
        gc.unfreeze()  # the caller's objects are collectable again (the smoke test's)
    machine = machine_info()
    context = {
        "data": f"{Path(snapshot.path).name}, {len(snapshot.scores):,} customers at "
        f"{snapshot.as_of}",
        "machine": f"{machine['cpu']}, {machine['cores']} cores, {machine['ram_gb']:.0f} GB, "
        f"Python {platform.python_version()}, pandas {machine['versions']['pandas']}",
        "when": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }
    Path(out).write_text(markdown(steps, checks, context))
    return steps, checks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scores", type=Path, help="scores.parquet (default: the served model's)")
    parser.add_argument("--customers", type=int, help="rank only the first N customers")
    parser.add_argument("--repeat", type=int, default=5, help="requests per step (default 5)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="markdown report")
    args = parser.parse_args(argv)
    steps, checks = run_rank_latency(args.scores, args.customers, args.repeat, args.out)
    print(args.out.read_text())
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
