"""The HTML report: self-contained, renders in a headless browser, its figures match the list."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.demo import economics_stage
from pipelines.economics.channels import ChannelConfig
from pipelines.economics.lists import read_list
from pipelines.report.page import TOP_ROWS
from pipelines.report.tables import crr_by_month, list_summary, ltv_by_segment

runner = CliRunner()


def _comparison(n: int, p_t: float, p_c: float) -> dict:
    return {
        "n_treatment": n,
        "n_control": n,
        "responders_treatment": round(n * p_t),
        "responders_control": round(n * p_c),
        "response_treatment": p_t,
        "response_control": p_c,
        "uplift": p_t - p_c,
        "uplift_ci": [p_t - p_c - 0.03, p_t - p_c + 0.03],
        "uplift_ci_wald": [p_t - p_c - 0.028, p_t - p_c + 0.028],
        "spend_treatment": 12.0,
        "spend_control": 8.0,
        "spend_uplift": 4.0,
        "spend_uplift_ci": [1.0, 7.0],
        "response_rate": (p_t - p_c) / (1 - p_c),
        "response_rate_ci": [0.03, 0.1],
    }


CAMPAIGN_RESULTS = {
    "horizon_days": 90,
    "contacts_logged": 2000,
    "contacts_measured": 2000,
    "contacts_window_not_over": 0,
    "first_contact": "1998-01-05",
    "last_contact": "1998-01-09",
    "overall": _comparison(1000, 0.26, 0.20),
    "by_channel": [
        {"channel": "email", "control_basis": "same channel", **_comparison(1000, 0.26, 0.20)}
    ],
    "by_segment": [],
    "by_channel_segment": [],
    "frequency": [
        {
            "group": "treatment",
            "customers": 1000,
            "orders_per_month_before": 1.23,
            "orders_per_month_after": 1.37,
        },
        {
            "group": "control",
            "customers": 1000,
            "orders_per_month_before": 1.22,
            "orders_per_month_after": 1.25,
        },
    ],
}


@pytest.fixture(scope="module")
def demo_outputs(cdnow_scores_path: Path, tmp_path_factory) -> tuple[Path, Path, list[str]]:
    """The demo's economics stage on the CDNOW stand-in scores, with campaign results in out/."""
    folder = tmp_path_factory.mktemp("out")
    (folder / "campaign_results.json").write_text(json.dumps(CAMPAIGN_RESULTS))
    lines = economics_stage(folder, cdnow_scores_path)
    return folder / "winback_list.csv", folder / "report.html", lines


@pytest.fixture(scope="module")
def ranked_and_reported(demo_outputs) -> tuple[Path, Path]:
    return demo_outputs[0], demo_outputs[1]


@pytest.fixture(scope="module")
def page(ranked_and_reported) -> str:
    return ranked_and_reported[1].read_text(encoding="utf-8")


def test_demo_stage_writes_list_and_report(demo_outputs) -> None:
    list_path, report_path, lines = demo_outputs
    assert list_path.exists() and report_path.exists()
    assert any("win-back list at a $1,000 budget" in line for line in lines)
    assert any("measured by campaign" in line for line in lines)
    assert any(str(report_path) in line for line in lines)
    assert any("control group:" in line for line in lines)
    assert any("campaign log" in line for line in lines)
    winback_list = read_list(list_path)
    # The budget is one of expected cost as sent: who of the chosen is contacted is drawn
    # (control group, exploration), so the list's own total differs by the luck of the draw.
    assert 0 < winback_list["cost"].sum() <= 1000.0 * 1.05
    assert winback_list["rank"].tolist() == list(range(1, len(winback_list) + 1))


def test_rank_and_report_commands(small_scores_path: Path, tmp_path) -> None:
    list_path, report_path = tmp_path / "list.csv", tmp_path / "report.html"
    ranked = runner.invoke(
        app,
        [
            "rank",
            "--scores",
            str(small_scores_path),
            "--budget",
            "400",
            "--out",
            str(list_path),
            "--campaign-results",
            str(tmp_path / "none.json"),
        ],
    )
    # An explicit campaign results path must exist.
    assert ranked.exit_code == 2 and "campaign results not found" in ranked.output
    ranked = runner.invoke(
        app,
        [
            "rank",
            "--scores",
            str(small_scores_path),
            "--budget",
            "400",
            "--out",
            str(list_path),
            "--limit",
            "50",
        ],
    )
    assert ranked.exit_code == 0, ranked.output
    assert "wrote 50 rows" in ranked.output
    winback_list = read_list(list_path)
    assert len(winback_list) == 50 and winback_list["rank"].tolist() == list(range(1, 51))
    reported = runner.invoke(
        app,
        [
            "report",
            "--scores",
            str(small_scores_path),
            "--transactions",
            "cdnow",
            "--out",
            str(report_path),
            "--list",
            str(list_path),
        ],
    )
    assert reported.exit_code == 0, reported.output
    page = report_path.read_text()
    assert re.findall(r'<tr class="entry" data-customer-id="([^"]+)"', page) == (
        winback_list["customer_id"].head(TOP_ROWS).tolist()
    )
    assert '<section id="campaign"' not in page  # none given, none in out/


def test_page_is_self_contained(page: str) -> None:
    assert "http://" not in page and "https://" not in page
    # The one link that is not inline: the list file beside the page (a link, not a resource).
    links = re.findall(r"""(?:src|href)\s*=\s*["'](?!data:)([^"']*)""", page)
    assert links == ["winback_list.csv"]
    assert "<link" not in page
    assert page.count('src="data:image/png;base64,') >= 6


def test_page_has_every_section(page: str) -> None:
    for section in (
        "status",
        "cadence",
        "lost-revenue",
        "crr",
        "ltv",
        "budget",
        "control-group",
        "list",
    ):
        assert f'<section id="{section}"' in page
    assert 'id="control-cells"' in page and "too small" in page
    assert '<section id="campaign"' in page  # results in out/ are picked up
    assert "+6.0 pp" in page and "1.23" in page and "1.37" in page


def test_list_figures_on_the_page_match_the_csv(page: str, ranked_and_reported) -> None:
    winback_list = read_list(ranked_and_reported[0])
    summary = list_summary(winback_list)
    section = re.search(
        r'<section id="list" data-contacts="(\d+)"\s+data-total-cost="([\d.]+)"'
        r'\s+data-total-expected-value="([\d.]+)"',
        page,
    )
    assert section is not None
    assert int(section.group(1)) == len(winback_list)
    assert float(section.group(2)) == pytest.approx(summary["total_cost"], abs=0.005)
    assert float(section.group(3)) == pytest.approx(summary["total_expected_value"], abs=0.005)
    shown_ids = re.findall(r'<tr class="entry" data-customer-id="([^"]+)"', page)
    assert shown_ids == winback_list["customer_id"].head(TOP_ROWS).tolist()
    start = page.index('id="channel-mix"')
    mix = page[start : page.index("</table>", start)]
    for channel, count in winback_list["channel"].value_counts().items():
        assert re.search(rf'<td class="text">{channel}</td>.*?<td class="">{count:,}</td>', mix)
    assert f"${summary['total_cost']:,.0f}" in page


def test_rule_of_thumb_on_the_page(page: str, cdnow_scores: pd.DataFrame) -> None:
    sleepers = cdnow_scores[cdnow_scores["status"] == "sleeping"]
    rule = len(sleepers) * 0.30 * sleepers["avg_order_value"].mean()
    assert f"${rule:,.0f}</b>" in page
    assert f"<b>{len(sleepers):,}</b> sleeping customers" in page


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium is not installed")
def test_report_renders_in_headless_chromium(ranked_and_reported, page: str) -> None:
    report_path = ranked_and_reported[1]
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
    ]
    screenshot = report_path.with_suffix(".png")
    with tempfile.TemporaryDirectory() as profile:
        dom = subprocess.run(
            [
                "chromium",
                *flags,
                f"--user-data-dir={profile}",
                f"--screenshot={screenshot}",
                "--window-size=1400,3000",
                "--dump-dom",
                report_path.resolve().as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        ).stdout
    body = re.search(r"<body([^>]*)>", dom).group(1)
    assert 'data-rendered="true"' in body
    # The sections issue 17 added for marketers, rendered.
    for section in ("sleepers-trend", "channel-roi", "reach", "offers", "accuracy"):
        assert f'<section id="{section}"' in dom
    assert '<footer id="sources"' in dom and 'id="report-header"' in dom
    assert f'data-images="{page.count("<img ")}"' in body
    assert 'data-broken-images="0"' in body
    assert "data-js-errors" not in body
    from PIL import Image

    image = np.asarray(Image.open(screenshot).convert("RGB")).astype(np.int64)
    assert image.shape[:2] == (3000, 1400)
    colours = (image[..., 0] << 16) | (image[..., 1] << 8) | image[..., 2]
    assert len(np.unique(colours)) > 200  # figures drawn, not a blank page


def test_report_on_missing_scores_is_one_line(tmp_path) -> None:
    result = runner.invoke(
        app, ["report", "--scores", str(tmp_path / "no.parquet"), "--out", str(tmp_path / "r.html")]
    )
    assert result.exit_code == 2
    assert "scores file not found" in result.output


# --------------------------------------------------------------------------- measures
def test_crr_by_month_counts_start_end_and_new_customers() -> None:
    tx = pd.DataFrame(
        {
            "customer_id": ["a", "b", "a", "c", "b"],
            "timestamp": pd.to_datetime(
                ["2020-01-05", "2020-01-20", "2020-02-10", "2020-02-15", "2020-03-03"]
            ),
            "amount": [10.0, 5.0, 7.0, 3.0, 4.0],
        }
    )
    crr = crr_by_month(tx, dt.date(2020, 3, 31), active_window_days=30).set_index("month")
    # February: on the books on Jan 31 = a (Jan 5? no, 26 days ago: yes) and b -> S = 2;
    # on Feb 29 = a (Feb 10) and c (Feb 15) -> E = 2; c is new -> N = 1; CRR = 50%.
    assert crr.loc["2020-02", ["S", "E", "N"]].tolist() == [2, 2, 1]
    assert crr.loc["2020-02", "crr"] == pytest.approx(50.0)
    # March: S = 2 (a, c); E = b (Mar 3) only; N = 0; CRR = 50%.
    assert crr.loc["2020-03", ["S", "E", "N"]].tolist() == [2, 1, 0]


def test_ltv_by_segment_is_the_field_formula() -> None:
    scores = pd.DataFrame(
        {
            "customer_id": ["a", "b"],
            "ladder_stage": ["loyal", "loyal"],
            "T": [300.0, 600.0],  # 10 and 20 months of 30 days (the CLV's month)
            "n_orders": [10, 10],
            "total_spend": [200.0, 400.0],
        }
    )
    config = ChannelConfig(margin=0.5, ltv_lifetime_months=12)
    ltv = ltv_by_segment(scores, config).loc["loyal"]
    assert ltv["average_check"] == pytest.approx(30.0)
    assert ltv["purchases_per_month"] == pytest.approx(0.75)
    assert ltv["ltv"] == pytest.approx(30.0 * 0.75 * 0.5 * 12)


def test_report_reads_the_transactions_with_the_users_column_names(
    small_scores_path: Path, cdnow_transactions: pd.DataFrame, tmp_path
) -> None:
    """``--map`` works for ``report`` as for every command that reads transactions."""
    renamed = cdnow_transactions.rename(
        columns={"customer_id": "cust", "timestamp": "day", "amount": "value"}
    )
    source = tmp_path / "own_names.csv"
    renamed.to_csv(source, index=False)
    arguments = ["report", "--scores", str(small_scores_path), "--transactions", str(source)]
    without = runner.invoke(app, [*arguments, "--out", str(tmp_path / "a.html")])
    assert without.exit_code == 2 and "customer_id" in without.output
    mapped = runner.invoke(
        app,
        [
            *arguments,
            "--out",
            str(tmp_path / "b.html"),
            "--map",
            "customer_id=cust,timestamp=day,amount=value",
        ],
    )
    assert mapped.exit_code == 0, mapped.output
    assert (tmp_path / "b.html").read_text().count("<section") >= 5


def test_the_report_shows_whether_the_last_list_decided_right() -> None:
    from pipelines.report.page import monitoring_section

    monitoring = {
        "uplift_by_decile": [
            {
                "decile": 1,
                "n_treatment": 90,
                "n_control": 10,
                "predicted_uplift": 0.08,
                "realised_uplift": 0.05,
            },
            {
                "decile": 2,
                "n_treatment": 3,
                "n_control": 1,
                "predicted_uplift": 0.02,
                "realised_uplift": None,
            },
        ],
        "value": {
            "contacts": 93,
            "contact_cost": 4.65,
            "predicted_value": 120.0,
            "realised_value": 80.0,
            "predicted_roi": 25.8,
            "realised_roi": 17.2,
        },
    }
    html = monitoring_section(monitoring, "$")
    assert '<section id="monitoring"' in html and 'id="monitoring-deciles"' in html
    assert "+8.0 pp" in html and "+5.0 pp" in html and "too few" in html
    assert "predicted to bring $120 and brought $80" in html
    assert monitoring_section({"uplift_by_decile": [], "value": None}, "$") == ""


def test_the_status_rules_on_the_page_come_from_the_config() -> None:
    """The page once said "two to three cycles" while the config said 2 to under 6."""
    from dataclasses import replace

    from features.config import load_feature_config
    from pipelines.report.page import status_rules_text

    rules = load_feature_config().status
    text = status_rules_text(rules)
    assert f"from {rules.sleeping_cycles:g} missed cycles (up to {rules.lost_cycles:g})" in text
    assert f"{rules.lost_days:g} days of silence" in text
    other = status_rules_text(replace(rules, sleeping_cycles=3.0, lost_cycles=8.0))
    assert "from 3 missed cycles (up to 8)" in other
