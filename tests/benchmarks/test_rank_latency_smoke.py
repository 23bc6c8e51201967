"""The /rank latency benchmark at a tiny size: every step runs, every check passes.

No timing is asserted: speed depends on the machine; benchmarks/RANK.md reports it.
"""

from __future__ import annotations

from benchmarks.rank_latency import PAGE_TARGET_MS, run_rank_latency
from benchmarks.serving_model import cached_model


def test_rank_latency_runs_and_its_lists_equal_fresh_ones(tmp_path):
    out = tmp_path / "RANK.md"
    _, scores = cached_model(tmp_path / "model")  # the serving tests' model, about a minute

    steps, checks = run_rank_latency(scores, customers=400, repeat=2, out=out)

    assert checks and all(checks.values()), checks
    names = [step.name for step in steps]
    assert names[:4] == ["start-up", "first page", "warm page of 50", "new budget"]
    assert all(step.seconds and min(step.seconds) > 0 for step in steps)
    report = out.read_text()
    assert "| warm page of 50 |" in report and f"<= {PAGE_TARGET_MS:.0f} ms" in report
    assert "FAILED" not in report
