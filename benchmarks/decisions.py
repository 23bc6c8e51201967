"""Decision benchmark: do learned uplift lists earn the oracle's value on the simulator?

    python -m benchmarks.decisions                         # seeds 201-205, 20k customers
    python -m benchmarks.decisions --seeds 201,202 --jobs 2
    python -m benchmarks.decisions --quick                 # one seed, small: the smoke test
                                                           # (realistic, tiny, share_0.6)

Reproducible, not timed (issue 13, "Done when"). For each seed, on
:mod:`models.campaign_simulator`, every learner (X-learner, offset T-learner, T-learner,
class transformation, shrinkage) and the prior rule are fitted on the training part of a
randomised pilot, judged on a held-out randomised part of it (Qini, and the promotion
guard against the prior) and on the truth of every customer outside the pilot (true
Qini, share of the oracle's true value and of negative-value contacts at every worthwhile
contact and at a tight budget); :mod:`benchmarks.decisions_world` has the flow.

Scenarios: ``realistic`` (``--customers`` x ``--pilot-share``), ``tiny`` (a pilot of
``--tiny-pilot`` customers, where the prior must keep its place) and a pilot-size sweep
(pilot shares 0.1, ``--pilot-share`` and 0.6 of ``--customers``, and ``--pilot-share`` of
2.5 x ``--customers``). Ceilings and the pilot's evidence are in
:mod:`benchmarks.decisions_ceilings`, the report in :mod:`benchmarks.decisions_report`.

Seeds 201-205 are the reported seeds; seeds 101-103 were used for every choice (learner
defaults, decision rule, holdout share). The simulator is not tuned to the learners.
Results go to ``benchmarks/DECISIONS.md`` (``--out``), optionally the raw numbers as JSON.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmarks.decisions_ceilings import ceilings, pilot_evidence
from benchmarks.decisions_report import render_markdown
from benchmarks.decisions_world import (
    BUDGET_SHARE,
    HOLDOUT_SHARE,
    LEARNERS,
    PRIOR,
    RATES,
    STATUS_FACTORS,
    Scenario,
    build_world,
    judge_policy,
    learner_factories,
    prior_guard,
    run_learner,
    true_uplift,
    value_by_channel,
)
from benchmarks.machine import machine_info
from models.uplift import PriorUplift

DECISIONS_PATH = Path(__file__).resolve().parent / "DECISIONS.md"
REPORTED_SEEDS = (201, 202, 203, 204, 205)
SELECTION_SEEDS = (101, 102, 103)
SWEEP_SHARES = (0.1, 0.6)
LARGE_FACTOR = 2.5
QUICK_CUSTOMERS = 2000
#: ``--quick`` keeps these scenarios (the smoke test checks them in under a minute).
QUICK_SCENARIOS = ("realistic", "tiny", "share_0.6")
PACKAGES = ("numpy", "pandas", "scipy", "scikit-learn", "xgboost")


def scenarios(customers: int, pilot_share: float, tiny_pilot: int) -> list[Scenario]:
    """Realistic, tiny and the sweep (module docstring), largest first."""
    large = int(round(customers * LARGE_FACTOR))
    out = [
        Scenario("large", large, int(round(large * pilot_share))),
        Scenario("realistic", customers, int(round(customers * pilot_share))),
        Scenario("tiny", customers, tiny_pilot),
    ]
    for share in SWEEP_SHARES:
        point = Scenario(f"share_{share:g}", customers, int(round(customers * share)))
        if all((s.n_customers, s.pilot_size) != (customers, point.pilot_size) for s in out):
            out.append(point)
    return out


def run_seed(scenario: Scenario, seed: int, learners: Sequence[str] = LEARNERS) -> dict[str, Any]:
    """Every policy's numbers for one seed of one scenario, plus ceilings and evidence."""
    start = time.perf_counter()
    world = build_world(scenario, seed)
    tau = true_uplift(world)
    guard = prior_guard(world)
    policies = [judge_policy(world, PRIOR, PriorUplift(RATES, STATUS_FACTORS), guard, tau)]
    factories = learner_factories(world)
    for name in learners:
        policies.append(run_learner(world, name, factories[name], guard, tau))
    return {
        "scenario": scenario.name,
        "seed": seed,
        "n_customers": scenario.n_customers,
        "pilot_size": scenario.pilot_size,
        "n_train": len(world.train),
        "n_holdout": len(world.holdout),
        "n_listed": len(world.rest),
        "oracle": {
            "every_value": world.oracle_every.total_value,
            "every_contacts": world.oracle_every.n_contacts,
            "every_cost": world.oracle_every.contact_cost,
            "every_by_channel": world.oracle_every.contacts_by_channel,
            "tight_by_channel": world.oracle_tight.contacts_by_channel,
            "every_value_by_channel": value_by_channel(world.truth, world.truth.oracle()),
            "tight_value": world.oracle_tight.total_value,
            "tight_contacts": world.oracle_tight.n_contacts,
            "budget": world.budget,
        },
        "evidence": pilot_evidence(world),
        "policies": policies,
        "ceilings": ceilings(world),
        "seconds": time.perf_counter() - start,
    }


def _task(args: tuple[Scenario, int]) -> dict[str, Any]:
    return run_seed(*args)


def run_all(
    plan: list[Scenario], seeds: Sequence[int], jobs: int = 1, log: Callable[[str], None] = print
) -> list[dict[str, Any]]:
    """Every scenario x seed, in ``jobs`` processes (largest scenarios first)."""
    tasks = [(scenario, seed) for scenario in plan for seed in seeds]
    runs = []
    if jobs <= 1:
        for task in tasks:
            runs.append(_task(task))
            log(f"{task[0].name} seed {task[1]}: {runs[-1]['seconds']:.0f} s")
        return runs
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        for task, run in zip(tasks, pool.map(_task, tasks), strict=True):
            log(f"{task[0].name} seed {task[1]}: {run['seconds']:.0f} s")
            runs.append(run)
    return runs


def _git(*args: str) -> str:
    try:
        done = subprocess.run(["git", *args], capture_output=True, text=True, timeout=30)
        return done.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _load() -> str:
    try:
        return ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def environment() -> dict[str, Any]:
    """Machine, library versions and the code's commit (and whether models/ is changed)."""
    info = machine_info()
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return {
        "cpu": info["cpu"],
        "cores": info["cores"],
        "ram_gb": info["ram_gb"],
        "os": info["os"],
        "python": info["python"],
        "versions": versions,
        "commit": _git("rev-parse", "--short", "HEAD") or "unknown",
        "models_changed": bool(_git("status", "--porcelain", "--", "models")),
    }


def run_benchmark(
    seeds: Sequence[int] = REPORTED_SEEDS,
    customers: int = 20_000,
    pilot_share: float = 0.3,
    tiny_pilot: int = 300,
    jobs: int = 1,
    quick: bool = False,
    out: Path | None = DECISIONS_PATH,
    json_out: Path | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run every scenario and seed, write the report (and JSON), return the results."""
    if quick:
        seeds, customers = list(seeds)[:1], QUICK_CUSTOMERS
    start, load_start = time.perf_counter(), _load()
    plan = scenarios(customers, pilot_share, tiny_pilot)
    if quick:
        plan = [s for s in plan if s.name in QUICK_SCENARIOS]
    runs = run_all(plan, seeds, jobs=jobs, log=log)
    results = {
        "settings": {
            "seeds": list(seeds),
            "selection_seeds": list(SELECTION_SEEDS),
            "customers": customers,
            "pilot_share": pilot_share,
            "tiny_pilot": tiny_pilot,
            "holdout_share": HOLDOUT_SHARE,
            "budget_share": BUDGET_SHARE,
            "quick": quick,
            "jobs": jobs,
            "scenarios": [vars(s) for s in plan],
            "learners": list(LEARNERS),
        },
        "environment": environment(),
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "runs": runs,
    }
    results["seconds"] = time.perf_counter() - start
    results["environment"]["load_average"] = {"start": load_start, "end": _load()}
    if out is not None:
        Path(out).write_text(render_markdown(results))
    if json_out is not None:
        Path(json_out).write_text(json.dumps(results, indent=1, default=float))
    return results


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.decisions", description=__doc__)
    parser.add_argument("--seeds", default=",".join(map(str, REPORTED_SEEDS)))
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--pilot-share", type=float, default=0.3)
    parser.add_argument("--tiny-pilot", type=int, default=300)
    parser.add_argument("--jobs", type=int, default=1, help="processes (the machine has few)")
    parser.add_argument("--quick", action="store_true", help=f"first seed, {QUICK_CUSTOMERS:,}")
    parser.add_argument("--out", type=Path, default=DECISIONS_PATH)
    parser.add_argument("--json", type=Path, default=None, help="also write the raw numbers")
    args = parser.parse_args(argv)
    if not 0.0 < args.pilot_share < 1.0:
        parser.error("--pilot-share must be in (0, 1)")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    results = run_benchmark(
        seeds,
        customers=args.customers,
        pilot_share=args.pilot_share,
        tiny_pilot=args.tiny_pilot,
        jobs=args.jobs,
        quick=args.quick,
        out=args.out,
        json_out=args.json,
        log=lambda line: print(line, file=sys.stderr, flush=True),
    )
    print(f"wrote {args.out} in {results['seconds']:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
