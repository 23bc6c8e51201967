"""The Hillstrom-shaped benchmark at a small size: the real commands run, every learner and
layout is reported with a verdict (the ``steps`` world only: the ``smooth`` one differs in
its effects alone, which tests/models/test_email_campaign_world.py covers). No Qini target
is asserted here (EMAIL_CAMPAIGN.md reports the measured ones); a small campaign is too
noisy to judge learners on.
"""

from __future__ import annotations

import pytest

from benchmarks.email_campaign import main

REFERENCES = (
    "T-learner (logistic)",
    "class transformation (logistic)",
    "T-learner (hgb)",
    "class transformation (hgb)",
)


@pytest.mark.timeout(300)
def test_small_run_reports_every_learner_layout_and_verdict(tmp_path) -> None:
    out = tmp_path / "EMAIL_CAMPAIGN.md"
    args = ["--customers", "3000", "--seeds", "1", "--effects", "steps", "--out", str(out)]
    assert main(args) == 0
    text = out.read_text()
    assert "## Target (issue 13)" in text and "## Machine and versions" in text
    for layout, offer in (
        ("two e-mails", "mens"),
        ("two e-mails", "womens"),
        ("any e-mail", "none"),
    ):
        assert f"| steps | {layout} | {offer} | winback campaign learn |" in text
        for reference in REFERENCES:
            assert f"| steps | {layout} | {offer} | {reference} |" in text
        verdict = next(
            line
            for line in text.splitlines()
            if line.startswith(f"| steps | {layout} | {offer} | ")
        )
        assert verdict.endswith("| yes |") or verdict.endswith("| **NO** |")
    kept = next(
        line
        for line in text.splitlines()
        if line.startswith("| steps | two e-mails | ") and " s |" in line
    )
    assert "xlearner" in kept or "logistic" in kept
