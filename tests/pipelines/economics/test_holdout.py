"""A control group in every list, exploration of unmeasured cells, value in the right units."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.economics.campaign_log import read_campaign_log
from pipelines.economics.channels import ChannelConfig, load_channel_config
from pipelines.economics.holdout import (
    assign_groups,
    minimal_detectable_uplift,
    treatment_probability,
    uniform_draws,
)
from pipelines.economics.lists import campaign_log_path_for, read_list
from pipelines.economics.options import contact_options
from pipelines.economics.plan import plan_winback

AS_OF = dt.date(1998, 6, 30)


@pytest.fixture(scope="module")
def every_worthwhile(cdnow_scores: pd.DataFrame):
    return plan_winback(cdnow_scores, 1e9, load_channel_config(), as_of=AS_OF)


def _binomial_slack(n: int, p: float) -> float:
    """Five standard deviations of a share of ``n`` draws: a bound a correct rule keeps."""
    return 5 * np.sqrt(p * (1 - p) / max(n, 1))


def test_every_cell_holds_out_its_share_at_random(every_worthwhile) -> None:
    chosen = every_worthwhile.chosen
    h = every_worthwhile.config.holdout_share
    for (_, _), cell in chosen.groupby(["channel", "status"]):
        if len(cell) < 200:
            continue
        share = (cell["group"] == "control").mean()
        assert abs(share - h) < _binomial_slack(len(cell), h)


def test_unmeasured_cells_are_explored_not_sent_in_full(every_worthwhile) -> None:
    """Before any campaign no cell is measured: only the exploration share is contacted."""
    config = every_worthwhile.config
    chosen = every_worthwhile.chosen
    sent = config.exploration_share * (1 - config.holdout_share)
    share = (chosen["group"] == "treatment").mean()
    assert abs(share - sent) < _binomial_slack(len(chosen), sent)
    assert every_worthwhile.summary["deferred"] == (chosen["group"] == "deferred").sum() > 0


def test_a_measured_cell_is_sent_in_full_less_its_control(cdnow_scores) -> None:
    measured = load_channel_config().with_measured_response_rates(
        {"email": {"lost": {"response_rate": 0.02, "n_treatment": 500, "n_control": 500}}},
        "test",
    )
    plan = plan_winback(cdnow_scores, 1e9, measured, as_of=AS_OF)
    cell = plan.chosen[(plan.chosen["channel"] == "email") & (plan.chosen["status"] == "lost")]
    assert len(cell) > 1000
    assert set(cell["group"]) == {"treatment", "control"}
    others = plan.chosen[plan.chosen["status"] != "lost"]
    assert (others["group"] == "deferred").any()


def test_groups_are_fixed_per_customer_and_seed() -> None:
    ids = pd.Series([f"c{i}" for i in range(2000)])
    first, again = uniform_draws(ids, "s1"), uniform_draws(ids, "s1")
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, uniform_draws(ids, "s2"))
    assert 0 <= first.min() and first.max() < 1
    # One customer's draw does not depend on who else is drawn.
    np.testing.assert_array_equal(uniform_draws(ids.iloc[[5]], "s1"), first[[5]])
    groups = assign_groups(first, np.zeros(len(ids), bool), 0.1, 0.25)
    assert treatment_probability(np.array([False]), 0.1, 0.25)[0] == pytest.approx(0.225)
    assert abs((groups == "treatment").mean() - 0.225) < _binomial_slack(2000, 0.225)


def test_minimal_detectable_uplift_follows_the_textbook_rule() -> None:
    # 2.80 x sqrt(p(1-p)(1/n_t + 1/n_c)) at a 5% two-sided test and 80% power.
    assert minimal_detectable_uplift(900, 100, 0.2) == pytest.approx(
        2.8016 * np.sqrt(0.16 * (1 / 900 + 1 / 100)), rel=1e-4
    )
    assert minimal_detectable_uplift(0, 100, 0.2) == float("inf")


def test_the_list_and_its_campaign_log_reconcile(small_scores_path, tmp_path) -> None:
    out = tmp_path / "list.csv"
    result = CliRunner().invoke(
        app,
        ["rank", "--scores", str(small_scores_path), "--budget", "1e9", "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    assert "control group:" in result.output and "campaign log" in result.output
    winback_list = read_list(out)
    log = read_campaign_log(campaign_log_path_for(out))  # the import format, validated
    raw = pd.read_csv(campaign_log_path_for(out), dtype={"customer_id": str})
    treated = raw[raw["group"] == "treatment"]
    control = raw[raw["group"] == "control"]
    assert len(log) == len(raw)
    assert set(treated["customer_id"]) == set(winback_list["customer_id"])
    assert not set(control["customer_id"]) & set(winback_list["customer_id"])
    assert raw["list_id"].nunique() == 1 and raw["customer_id"].is_unique
    by_id = winback_list.set_index("customer_id")
    np.testing.assert_allclose(
        treated.set_index("customer_id")["expected_incremental_value"],
        by_id.loc[treated["customer_id"], "expected_incremental_value"],
        atol=0.006,
    )


def test_the_holdout_share_option_reaches_the_groups(small_scores_path, tmp_path) -> None:
    out = tmp_path / "list.csv"
    result = CliRunner().invoke(
        app,
        [
            "rank",
            "--scores",
            str(small_scores_path),
            "--budget",
            "1e9",
            "--out",
            str(out),
            "--holdout-share",
            "0.5",
        ],
    )
    assert result.exit_code == 0, result.output
    raw = pd.read_csv(campaign_log_path_for(out))
    chosen = len(raw) + int(result.output.split("exploration: ")[1].split()[0].replace(",", ""))
    share = (raw["group"] == "control").sum() / chosen
    assert abs(share - 0.5) < _binomial_slack(chosen, 0.5)


def test_a_pooled_measurement_keeps_the_status_factor() -> None:
    """Issue 13: the channel's pooled rate must not forget that lost customers answer less."""
    config = ChannelConfig().with_measured_response_rates(
        {"email": {"all": {"response_rate": 0.12, "n_treatment": 500, "n_control": 500}}}, "t"
    )
    assert config.response_rate("email", "lost") == pytest.approx(0.12 * 0.3)
    assert config.response_rate("email", "sleeping") == pytest.approx(0.12)
    assert not config.is_measured("email", "lost")


def test_value_if_returned_is_the_spend_of_a_returning_customer() -> None:
    """predicted_spend is unconditional: E[spend | return] = predicted_spend / P(return)."""
    scores = pd.DataFrame(
        {
            "customer_id": ["a", "b"],
            "status": ["sleeping", "sleeping"],
            "p_dormant": [0.8, 0.99],
            "predicted_spend": [10.0, 0.1],
            "avg_order_value": [20.0, 20.0],
            "n_orders": [3, 3],
            "frequency": [2, 2],
            "last_purchase": pd.Timestamp(AS_OF) - pd.Timedelta(days=100),
            "days_since_last": [100, 100],
            "typical_gap_days": [30.0, 30.0],
            "overdue_cycles": [3.3, 3.3],
            "ladder_stage": ["client", "client"],
            "abc": ["B", "B"],
            "xyz": ["Y", "Y"],
            "favorite_product": [None, None],
        }
    )
    config = replace(ChannelConfig(), margin=0.5)
    options = contact_options(scores, config)
    # a: 10 / 0.2 = 50 per returning customer; b: below one usual order, so 20.
    np.testing.assert_allclose(options.spend_if_returned, [50.0, 20.0])
    np.testing.assert_allclose(options.value_if_returned, [25.0, 10.0])


def test_campaign_results_over_another_horizon_are_refused(small_scores_path, tmp_path) -> None:
    import json

    results = tmp_path / "campaign_results.json"
    results.write_text(json.dumps({"horizon_days": 30, "by_channel": [], "by_channel_segment": []}))
    result = CliRunner().invoke(
        app,
        [
            "rank",
            "--scores",
            str(small_scores_path),
            "--budget",
            "10",
            "--out",
            str(tmp_path / "list.csv"),
            "--campaign-results",
            str(results),
        ],
    )
    assert result.exit_code == 2
    assert "measured over 30 days" in result.output and "--horizon-days 90" in result.output


class _FixedUplift:
    """An uplift source with known answers: +20 points for even rows, -5 for odd rows
    (sleeping dogs), lower bound 5 points under the point value."""

    def predict(self, customers, channel, offer):
        uplift = np.where(np.arange(len(customers)) % 2 == 0, 0.20, -0.05)
        return pd.DataFrame({"uplift": uplift, "uplift_lower": uplift - 0.05})


def test_a_learned_response_decides_on_its_lower_bound_and_never_contacts_sleeping_dogs(
    cdnow_scores,
) -> None:
    from pipelines.economics.response import LearnedResponse

    sample = cdnow_scores[cdnow_scores["status"].isin(["sleeping", "at_risk"])].head(400)
    plan = plan_winback(
        sample, 1e9, load_channel_config(), as_of=AS_OF, response=LearnedResponse(_FixedUplift())
    )
    options = plan.options
    odd = np.arange(len(options.customers)) % 2 == 1
    chosen = set(plan.chosen["customer_id"])
    # Sleeping dogs (negative uplift) are never chosen; the learned cells count as measured,
    # so there is no exploration, only the control group.
    assert not chosen & set(options.customers.loc[odd, "customer_id"])
    assert plan.summary["deferred"] == 0 and plan.summary["control"] > 0
    np.testing.assert_allclose(
        options.decision_value,
        np.where(odd, -0.10, 0.15)[:, None] * options.value_if_returned[:, None] - options.cost,
    )
    assert plan.campaign["response_source"].eq("learned").all()
