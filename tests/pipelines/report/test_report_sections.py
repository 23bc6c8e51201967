"""The marketer's sections of issue 17: notes the data calls for, the list's reach, channel
ROI, offers, accuracy out of time, the sleepers' trend, the header and the print layout."""

from __future__ import annotations

import datetime as dt
import html as html_lib
import json
import re
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
from test_report import CAMPAIGN_RESULTS, _comparison

from features.config import XyzRules, load_feature_config
from pipelines.demo import economics_stage
from pipelines.economics.channels import ChannelConfig, OfferRule
from pipelines.economics.lists import read_list
from pipelines.economics.plan import plan_winback
from pipelines.report.accuracy_section import HeldOut, accuracy_section
from pipelines.report.build import heldout_metrics, relative_href
from pipelines.report.list_sections import reach_by_reason
from pipelines.report.notes import crr_note, xyz_note
from pipelines.report.offers_section import offers_by_channel, offers_section
from pipelines.report.page import campaign_section
from pipelines.report.tables import crr_by_month, list_summary
from pipelines.report.trend import month_ends, status_by_month_end

NEW_SECTIONS = ("sleepers-trend", "channel-roi", "reach", "offers", "accuracy")


@pytest.fixture(scope="module")
def demo(cdnow_scores_path: Path, tmp_path_factory) -> tuple[Path, str]:
    folder = tmp_path_factory.mktemp("sections")
    (folder / "campaign_results.json").write_text(json.dumps(CAMPAIGN_RESULTS))
    economics_stage(folder, cdnow_scores_path)
    return folder, (folder / "report.html").read_text(encoding="utf-8")


def _section(page: str, section_id: str) -> str:
    start = page.index(f'<section id="{section_id}"')
    return page[start : page.index("</section>", start)]


def _table(fragment: str, table_id: str) -> list[list[str]]:
    start = fragment.index(f'id="{table_id}"')
    body = fragment[start : fragment.index("</table>", start)]
    return [
        [html_lib.unescape(cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row)]
        for row in re.findall(r"<tr>(.*?)</tr>", body)
        if "<td" in row
    ]


def _number(text: str) -> float:
    return float(text.replace(",", "").replace("$", ""))


# --------------------------------------------------------------------------- page
def test_every_new_section_is_on_the_page(demo) -> None:
    _, page = demo
    for section in NEW_SECTIONS:
        assert f'<section id="{section}"' in page
    assert "@media print" in page


def test_header_is_in_words_and_paths_go_to_the_sources_footer(demo, cdnow_scores_path) -> None:
    folder, page = demo
    header = page[
        page.index('id="report-header"') : page.index("</p>", page.index("report-header"))
    ]
    assert "as of <b>1998-06-30</b>" in header and "model version" in header
    assert "generated" in header and "CDNOW" in header
    assert str(cdnow_scores_path) not in header and "/" not in re.sub(r"<[^>]+>", "", header)
    footer = page[page.index('<footer id="sources"') :]
    assert str(cdnow_scores_path) in footer
    assert str(folder / "winback_list.csv") in footer


def test_csv_link_is_relative_to_the_page(demo, tmp_path) -> None:
    _, page = demo
    assert re.search(r'<a id="list-link" href="winback_list.csv">', page)
    assert relative_href(tmp_path / "lists" / "a b.csv", tmp_path / "r" / "x.html") == (
        "../lists/a%20b.csv"
    )


def test_channel_roi_matches_the_list(demo) -> None:
    folder, page = demo
    winback_list = read_list(folder / "winback_list.csv")
    rows = _table(_section(page, "channel-roi"), "channel-mix")
    by_channel = list_summary(winback_list)["by_channel"]
    assert [r[0] for r in rows] == list(by_channel.index)
    for row in rows:
        expected = by_channel.loc[row[0]]
        assert _number(row[2]) == expected["contacts"]
        assert _number(row[6]) == pytest.approx(
            expected["expected_value"] / expected["cost"], abs=0.05
        )


def test_reach_counts_every_customer_once(demo, cdnow_scores) -> None:
    folder, page = demo
    winback_list = read_list(folder / "winback_list.csv")
    section = _section(page, "reach")
    assert f'data-reached="{len(winback_list)}"' in section
    rows = {r[0]: _number(r[-1]) for r in _table(section, "reach-table")}
    assert sum(rows.values()) == len(cdnow_scores)
    assert rows["on the list"] == len(winback_list)
    not_eligible = (~cdnow_scores["status"].isin(["sleeping", "at_risk", "lost"])).sum()
    assert rows["not in a win-back status"] == not_eligible
    log = pd.read_csv(folder / "winback_list.campaign.csv", dtype=str)
    assert rows["control group (held out)"] == (log["group"] == "control").sum()


def test_reach_reasons_follow_the_plan(cdnow_scores) -> None:
    plan = plan_winback(cdnow_scores, 200.0, ChannelConfig())
    counts = reach_by_reason(cdnow_scores, plan.list, plan).value_counts()
    assert counts["on the list"] == len(plan.list) == plan.summary["contacts"]
    assert counts["control group (held out)"] == plan.summary["control"]
    assert counts["waiting for evidence (deferred)"] == plan.summary["deferred"]
    assert counts["beyond the budget"] > 0 and counts["not worth a contact"] > 0
    everyone = plan_winback(cdnow_scores, 1e18, ChannelConfig())
    unlimited = reach_by_reason(cdnow_scores, everyone.list, everyone).value_counts()
    assert "beyond the budget" not in unlimited
    assert unlimited["not worth a contact"] == counts["not worth a contact"]
    # Rows cut from the list file are counted, not lost.
    cut = reach_by_reason(cdnow_scores, plan.list.head(10), plan).value_counts()
    assert cut["on the list"] == 10
    assert cut["in the plan, not in the list file"] == len(plan.list) - 10


def test_offers_table_explains_each_offer_from_the_config(cdnow_scores) -> None:
    plan = plan_winback(cdnow_scores, 1000.0, ChannelConfig())
    table = offers_by_channel(plan.list, plan)
    assert table["rows"].sum() == len(plan.list)
    assert (
        table.groupby("channel")["rows"].sum().to_dict()
        == plan.list["channel"].value_counts().to_dict()
    )
    forced = table[table["channel"] == "special_offer"]
    assert set(forced["eligible offers"]) == {"time_limited_offer"}
    assert "channels.special_offer.offer" in forced["why it wins"].iloc[0]
    invited = table[(table["offer"] == "event_invitation")]
    assert invited["why it wins"].str.contains("no order for at least 90 days").all()
    # The words follow the config: another threshold, other words.
    rules = list(ChannelConfig().offer_rules)
    rules[2] = OfferRule(offer="event_invitation", when={"min_days_since_last": 120})
    other = replace(ChannelConfig(), offer_rules=tuple(rules))
    other_plan = plan_winback(cdnow_scores, 1000.0, other)
    html = offers_section(other_plan.list, other_plan)
    assert "no order for at least 120 days" in html and "at least 90 days" not in html
    assert 'id="offers-table"' in html and "No campaign has measured offers yet" in html


# --------------------------------------------------------------------------- notes
def test_crr_above_100_gets_a_note_with_the_returned_customers() -> None:
    tx = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c", "a", "b", "c"],
            "timestamp": pd.to_datetime(
                ["2020-01-05", "2020-01-06", "2020-01-07", "2020-02-10", "2020-03-03", "2020-03-05"]
            ),
            "amount": [10.0] * 6,
        }
    )
    crr = crr_by_month(tx, dt.date(2020, 3, 31), active_window_days=30).set_index("month")
    # March: on the books on Feb 29 = a only (S = 1); on Mar 31 = a? no (Feb 10 is 50 days
    # ago), b and c came back -> E = 2, N = 0, returned = 2, CRR = 200%.
    assert crr.loc["2020-03", ["S", "E", "N", "returned"]].tolist() == [1, 2, 0, 2]
    note = crr_note(crr.reset_index(), 30)
    assert 'id="crr-above-100"' in note and "2020-03 (200.0%: 2 customers came back" in note
    assert "1 of the 1 at the start lapsed" in note
    assert crr_note(crr.reset_index().assign(crr=99.0), 30) == ""


def test_crr_note_on_the_page_only_when_a_month_exceeds_100(demo, cdnow_transactions) -> None:
    _, page = demo
    crr = crr_by_month(cdnow_transactions, dt.date(1998, 6, 30))
    above = crr[crr["crr"] > 100]
    assert len(above)  # CDNOW 1998-03: 102%
    assert ('id="crr-above-100"' in page) and all(m in page for m in above["month"])


def test_a_dominant_xyz_class_gets_a_note_saying_why() -> None:
    scores = pd.DataFrame(
        {
            "xyz": ["Z"] * 8 + ["Y", "X"],
            "first_purchase": pd.to_datetime(
                ["1997-01-10"] * 7 + ["1998-05-01"] + ["1997-01-10"] * 2
            ),
            "frequency": [0, 1, 0, 2, 0, 1, 0, 0, 10, 17],
        }
    )
    rules = XyzRules(x_max_cv=0.5, y_max_cv=1.0, min_months=3)
    note = xyz_note(scores, rules, dt.date(1998, 6, 30))
    assert 'id="xyz-dominant"' in note and "holds 80% of the customers (8 of 10)" in note
    assert "at least 50% of their months" in note and "X's 0.5: 80%" in note
    assert "1 of them have under 3 months of history" in note
    other = xyz_note(scores, replace(rules, y_max_cv=2.0), dt.date(1998, 6, 30))
    assert "at least 20% of their months" in other  # 1 / (1 + 2^2), from the config
    balanced = scores.assign(xyz=["X", "Y", "Z", "X", "Y", "Z", "X", "Y", "Z", "X"])
    assert xyz_note(balanced, rules, dt.date(1998, 6, 30)) == ""


def test_xyz_note_and_rules_on_the_page(demo, cdnow_scores) -> None:
    _, page = demo
    z = int((cdnow_scores["xyz"] == "Z").sum())
    assert f"({z:,} of {len(cdnow_scores):,})" in _section(page, "cadence")
    xyz = load_feature_config().xyz
    assert f"Y up to {xyz.y_max_cv:g}" in page and f"under {xyz.min_months} months" in page


def test_small_campaign_cells_are_shown_as_ignored() -> None:
    results = json.loads(json.dumps(CAMPAIGN_RESULTS))
    tiny = {"channel": "sms", "control_basis": "same channel", **_comparison(1, 0.0, 0.15)}
    tiny.update(spend_uplift=-1.26, response_rate=-0.15, n_control=40)
    results["by_channel"].append(tiny)
    html = campaign_section(results, ChannelConfig())
    rows = {r[0]: r for r in _table(html, "campaign-table")}
    assert rows["sms"][1:3] == ["1", "40"]
    assert set(rows["sms"][3:]) == {"ignored (n < 100)"}
    assert "$-1.26" not in html and "-15.0%" not in html
    assert rows["email"][-1] == "7.5%"  # a large cell keeps its numbers
    assert 'id="campaign-small-cells"' in html and "at least 100 contacts" in html
    stricter = campaign_section(results, replace(ChannelConfig(), min_campaign_group_size=5000))
    assert "ignored (n &lt; 5000)" in stricter
    assert 'id="campaign-small-cells"' not in campaign_section(CAMPAIGN_RESULTS, ChannelConfig())


# --------------------------------------------------------------------------- accuracy
HELD = HeldOut(
    model_version="3",
    served="xgboost",
    metrics={
        "heldout.xgboost.dormancy.auc": 0.7449,
        "heldout.bgnbd.dormancy.auc": 0.7378,
        "heldout.days_since_last.dormancy.auc": 0.7266,
        "heldout.xgboost.spend.revenue_captured_top10": 0.528,
    },
    validation_cutoff="1998-04-01",
    horizon_days=90,
    trained_as_of="1998-06-30",
)


def test_accuracy_section_says_how_the_model_did_out_of_time() -> None:
    html = accuracy_section(HELD)
    assert 'data-heldout="yes"' in html and html.count("<img") == 1
    assert "74% of the time (AUC 0.74" in html and "rule of thumb: 0.73" in html
    assert "1998-04-01 to 1998-06-30" in html and "made 53% of the window" in html


def test_accuracy_section_says_so_plainly_without_metrics(demo) -> None:
    _, page = demo
    section = _section(page, "accuracy")
    assert 'data-heldout="no"' in section and "No held-out metrics are available" in section
    assert "not by a registered model version" in section  # the stand-in fixture's scores
    assert heldout_metrics(None)[0] is None


def test_heldout_metrics_are_read_from_the_registry(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert "no model registry" in heldout_metrics("1")[1]  # never creates a store
    assert not (tmp_path / "mlflow.db").exists()
    from pipelines.registry.store import MODEL_NAME, configure_mlflow

    mlflow = configure_mlflow()
    with mlflow.start_run() as run:
        mlflow.log_params({"as_of": "1998-06-30", "validation_cutoff": "1998-04-01"})
        mlflow.log_param("horizon_days", 90)
        mlflow.log_metrics(dict(HELD.metrics))
    client = mlflow.MlflowClient()
    client.create_registered_model(MODEL_NAME)
    client.create_model_version(MODEL_NAME, f"{run.info.artifact_uri}/model", run.info.run_id)
    held, why = heldout_metrics("1")
    assert why == "" and held is not None
    assert held.metrics["heldout.xgboost.dormancy.auc"] == pytest.approx(0.7449)
    assert held.validation_cutoff == "1998-04-01" and held.horizon_days == 90
    assert held.served == "xgboost"
    missing, why = heldout_metrics("7")
    assert missing is None and "7" in why


# --------------------------------------------------------------------------- trend
def test_month_ends_end_at_the_as_of_date() -> None:
    assert month_ends(dt.date(1998, 6, 30), 3) == [
        dt.date(1998, 4, 30),
        dt.date(1998, 5, 31),
        dt.date(1998, 6, 30),
    ]
    assert month_ends(dt.date(1998, 6, 15), 3) == [
        dt.date(1998, 4, 30),
        dt.date(1998, 5, 31),
        dt.date(1998, 6, 15),
    ]


def test_sleepers_trend_uses_the_feature_build(demo, cdnow_transactions, cdnow_scores) -> None:
    trend = status_by_month_end(cdnow_transactions, dt.date(1998, 6, 30), load_feature_config())
    assert len(trend) == 12 and trend["date"].iloc[-1] == "1998-06-30"
    last = trend.iloc[-1]
    for status in ("sleeping", "lost", "at_risk"):
        assert last[status] == (cdnow_scores["status"] == status).sum()
    _, page = demo
    rows = _table(_section(page, "sleepers-trend"), "trend-table")
    assert [r[0] for r in rows] == trend["date"].tolist()
    assert [_number(r[2]) for r in rows] == trend["sleeping"].tolist()
