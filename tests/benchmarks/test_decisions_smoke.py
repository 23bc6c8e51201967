"""The decision benchmark at its quick size: every scenario, policy and section is there, and
the promotion guard keeps the prior on the tiny pilot.

Not a timed test and no value target is asserted here (DECISIONS.md reports them); the quick
run takes well under a minute.
"""

from __future__ import annotations

import json

import pytest

from benchmarks.decisions import QUICK_SCENARIOS, main
from benchmarks.decisions_world import LEARNERS, PRIOR

LIST_KEYS = {"every_share", "every_negative", "tight_share", "tight_negative", "tight_cost"}
CEILINGS = {"cell_truth", "expected_uplift", "exact_uplift", "known_formula"}
SECTIONS = (
    "## Targets (issue 13)",
    "## Realistic pilot",
    "## Tiny pilot",
    "## Pilot-size sweep",
    "## Why",
    "## Machine and versions",
)


@pytest.fixture(scope="module")
def quick(tmp_path_factory) -> tuple[dict, str]:
    folder = tmp_path_factory.mktemp("decisions")
    out, raw = folder / "DECISIONS.md", folder / "decisions.json"
    assert main(["--quick", "--seeds", "201", "--out", str(out), "--json", str(raw)]) == 0
    return json.loads(raw.read_text()), out.read_text()


@pytest.mark.timeout(300)
def test_quick_run_has_every_scenario_policy_and_ceiling(quick) -> None:
    results, _ = quick
    assert results["settings"]["quick"] is True
    assert results["settings"]["seeds"] == [201]
    assert {run["scenario"] for run in results["runs"]} == set(QUICK_SCENARIOS)
    for run in results["runs"]:
        assert run["n_train"] + run["n_holdout"] == run["pilot_size"]
        assert run["n_listed"] == run["n_customers"] - run["pilot_size"]
        assert [p["policy"] for p in run["policies"]] == [PRIOR, *LEARNERS]
        assert {c["policy"] for c in run["ceilings"]} == CEILINGS
        for row in run["policies"] + run["ceilings"]:
            if row.get("error"):
                continue
            assert LIST_KEYS <= set(row), row["policy"]
            assert 0.0 <= row["every_negative"] <= 1.0
            assert row["tight_cost"] <= run["oracle"]["budget"] + 1e-6
        for row in run["policies"]:
            if row["policy"] != PRIOR and not row.get("error"):
                assert isinstance(row["promote"], bool) and row["reason"]
                assert {"true_qini", "holdout_qini", "difference_lower"} <= set(row)
        # exact per-customer uplift is the best information there is
        exact = next(c for c in run["ceilings"] if c["policy"] == "exact_uplift")
        assert exact["every_share"] > 0.9


def test_the_prior_keeps_its_place_on_the_tiny_pilot(quick) -> None:
    results, report = quick
    tiny = next(run for run in results["runs"] if run["scenario"] == "tiny")
    assert tiny["pilot_size"] == 300
    for row in tiny["policies"]:
        if row["policy"] != PRIOR:
            assert row["promote"] is False, row["policy"]
            assert row.get("error") or row["reason"].startswith("keep prior")
    line = next(x for x in report.splitlines() if x.startswith("| tiny pilot: the prior"))
    assert "NOT met" not in line


def test_report_has_every_section_and_states_each_target(quick) -> None:
    _, report = quick
    for section in SECTIONS:
        assert section in report
    targets = report.split("## Targets (issue 13)")[1].split("\n## ")[0]
    rows = [x for x in targets.splitlines() if x.startswith("| ") and "---" not in x][1:]
    assert len(rows) == 5
    for row in rows:
        assert "met" in row
    for goal in ("at least 75%", "at least 80%", "at most 20%"):
        assert goal in targets
