"""Campaign learning: a synthetic campaign with known uplift is recovered within its CI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from features.config import load_feature_config
from pipelines.cli import app
from pipelines.economics.campaign import measure_campaign, segments_at
from pipelines.economics.campaign_log import validate_campaign_log
from pipelines.economics.campaign_results import measured_response_rates
from pipelines.economics.channels import ChannelConfig
from pipelines.economics.intervals import newcombe_interval, wald_interval
from pipelines.economics.rank import economics_config

runner = CliRunner()

CONTACT_DAY = pd.Timestamp("2020-03-02")
HORIZON = 90
BASE_RATE = 0.15
TRUE_UPLIFT = {"email": 0.06, "phone": 0.18}
MEAN_ORDERS_IF_RETURNED = 1.5  # 1 + Poisson(0.5)
MEAN_AMOUNT = 50.0  # Gamma(2, 25)


def synthetic_campaign(seed: int = 7, n: int = 8000) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A log and transactions where treatment returns with BASE_RATE + TRUE_UPLIFT[channel]
    and control with BASE_RATE, within HORIZON days of the contact."""
    rng = np.random.default_rng(seed)
    ids = np.array([f"k{i:05d}" for i in range(n)])
    channel = rng.choice(list(TRUE_UPLIFT), n)
    group = np.where(rng.random(n) < 0.5, "treatment", "control")
    contacted_at = CONTACT_DAY + pd.to_timedelta(rng.integers(0, 5, n), unit="D")
    log = pd.DataFrame(
        {
            "customer_id": ids,
            "contacted_at": contacted_at.strftime("%Y-%m-%d"),
            "channel": channel,
            "offer": "default",
            "group": group,
        }
    )
    rows = []
    # History: 1-3 purchases in the year before the contact.
    for i in range(n):
        for day in rng.integers(20, 360, rng.integers(1, 4)):
            rows.append((ids[i], contacted_at[i] - pd.Timedelta(days=int(day)), 30.0))
    p_return = BASE_RATE + np.where(
        group == "treatment", np.vectorize(TRUE_UPLIFT.get)(channel), 0.0
    )
    returned = rng.random(n) < p_return
    for i in np.flatnonzero(returned):
        for _ in range(1 + rng.poisson(0.5)):
            day = int(rng.integers(1, HORIZON + 1))
            rows.append(
                (ids[i], contacted_at[i] + pd.Timedelta(days=day), float(rng.gamma(2.0, 25.0)))
            )
    # Purchases just outside the window must not count; they also close every window.
    for i in rng.choice(n, 300, replace=False):
        rows.append((ids[i], contacted_at[i] + pd.Timedelta(days=HORIZON + 10), 20.0))
    transactions = pd.DataFrame(rows, columns=["customer_id", "timestamp", "amount"])
    transactions["timestamp"] = transactions["timestamp"].astype("datetime64[us]")
    return log, transactions


@pytest.fixture(scope="module")
def campaign() -> tuple[pd.DataFrame, pd.DataFrame]:
    return synthetic_campaign()


@pytest.fixture(scope="module")
def results(campaign) -> dict:
    log, transactions = campaign
    segments = segments_at(
        transactions, (CONTACT_DAY - pd.Timedelta(days=1)).date(), load_feature_config()
    )
    return measure_campaign(validate_campaign_log(log), transactions, HORIZON, segments)


def test_true_uplift_per_channel_is_inside_the_confidence_interval(results) -> None:
    by_channel = {r["channel"]: r for r in results["by_channel"]}
    assert set(by_channel) == set(TRUE_UPLIFT)
    for channel, uplift in TRUE_UPLIFT.items():
        record = by_channel[channel]
        lower, upper = record["uplift_ci"]
        assert lower <= uplift <= upper, (channel, record)
        assert record["control_basis"] == "same channel"
        assert upper - lower < 0.06  # about 2,000 per arm: a useful, not a vacuous, interval


def test_true_response_rate_and_spend_uplift_are_recovered(results) -> None:
    for record in results["by_channel"]:
        true_rate = TRUE_UPLIFT[record["channel"]] / (1 - BASE_RATE)
        lower, upper = record["response_rate_ci"]
        assert lower <= true_rate <= upper
        true_spend = TRUE_UPLIFT[record["channel"]] * MEAN_ORDERS_IF_RETURNED * MEAN_AMOUNT
        spend_lower, spend_upper = record["spend_uplift_ci"]
        assert spend_lower <= true_spend <= spend_upper


def test_overall_uplift_and_frequency_before_after(results) -> None:
    overall = results["overall"]
    assert overall["uplift_ci"][0] > 0
    assert results["contacts_window_not_over"] == 0
    frequency = {row["group"]: row for row in results["frequency"]}
    treated, control = frequency["treatment"], frequency["control"]
    assert treated["orders_per_month_after"] > control["orders_per_month_after"]
    # Nobody bought in the 90 days before the contact except by the synthetic history.
    assert treated["orders_per_month_before"] >= 0


def test_purchases_outside_the_window_do_not_count(campaign) -> None:
    log = campaign[0].head(1).assign(group="treatment")
    control = log.assign(customer_id="other", group="control")
    both = validate_campaign_log(pd.concat([log, control], ignore_index=True))
    log = both.head(1)
    customer = log.loc[0, "customer_id"]
    contacted = log.loc[0, "contacted_at"]
    tx = pd.DataFrame(
        {
            "customer_id": [customer, customer, customer, "other"],
            "timestamp": [
                contacted,
                contacted + pd.Timedelta(days=HORIZON + 1),
                contacted - pd.Timedelta(days=3),
                contacted + pd.Timedelta(days=200),
            ],
            "amount": [10.0, 10.0, 10.0, 1.0],
        }
    )
    measured = measure_campaign(both, tx, HORIZON)
    assert measured["overall"]["responders_treatment"] == 0  # same-day and day-91 excluded
    assert measured["frequency"][0]["orders_per_month_before"] > 0  # contact day counts before


def test_newcombe_interval_keeps_its_coverage() -> None:
    rng = np.random.default_rng(0)
    n1, n2, p1, p2 = 150, 150, 0.30, 0.12
    k1 = rng.binomial(n1, p1, 4000)
    k2 = rng.binomial(n2, p2, 4000)
    lower, upper = newcombe_interval(k1, n1, k2, n2)
    coverage = np.mean((lower <= p1 - p2) & (p1 - p2 <= upper))
    assert 0.935 <= coverage <= 0.965
    wald_lower, wald_upper = wald_interval(k1, n1, k2, n2)
    assert np.all(upper - lower > 0) and np.all(wald_upper - wald_lower > 0)


def test_measured_rates_replace_the_prior_with_precedence(results) -> None:
    rates = measured_response_rates(results)
    config = ChannelConfig().with_measured_response_rates(rates, "test")
    email_all = rates["email"]["all"]["response_rate"]
    assert config.response_rate("email", "no_such_status") == pytest.approx(email_all)
    # Channels the campaign did not use keep the prior x status factor.
    assert config.response_rate("sms", "lost") == pytest.approx(0.14 * 0.3)
    # A channel-and-status measurement wins over the pooled one.
    assert {r["segment"] for r in results["by_segment"]} >= {"sleeping", "at_risk"}
    segment = next(iter(s for s in rates["phone"] if s != "all"))
    assert rates["phone"][segment]["response_rate"] != rates["phone"]["all"]["response_rate"]
    assert config.response_rate("phone", segment) == pytest.approx(
        rates["phone"][segment]["response_rate"]
    )
    # Too small a group: the prior stays.
    strict = ChannelConfig(min_campaign_group_size=10**6).with_measured_response_rates(rates, "t")
    assert strict.response_rate("email", "sleeping") == pytest.approx(0.12)


# --------------------------------------------------------------------------- the command
@pytest.fixture(scope="module")
def campaign_files(campaign, tmp_path_factory) -> tuple:
    log, transactions = campaign
    folder = tmp_path_factory.mktemp("campaign")
    log_path = folder / "log.csv"
    tx_path = folder / "tx.csv"
    log.to_csv(log_path, index=False)
    transactions.to_csv(tx_path, index=False)
    return log_path, tx_path, folder


def test_campaign_import_command_stores_results_used_by_rank(
    campaign_files, cdnow_scores_path, tmp_path
) -> None:
    log_path, tx_path, _ = campaign_files
    out = tmp_path / "campaign_results.json"
    result = runner.invoke(
        app,
        [
            "campaign",
            "import",
            "--log",
            str(log_path),
            "--transactions",
            str(tx_path),
            "--horizon-days",
            str(HORIZON),
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    stored = json.loads(out.read_text())
    assert {r["channel"] for r in stored["by_channel"]} == set(TRUE_UPLIFT)
    assert "orders a month" in result.output
    config, loaded = economics_config(None, out)
    assert loaded is not None and config.measured_response_rates["email"]["all"] == (
        pytest.approx(
            next(r for r in stored["by_channel"] if r["channel"] == "email")["response_rate"]
        )
    )
    listed = tmp_path / "list.csv"
    ranked = runner.invoke(
        app,
        [
            "rank",
            "--scores",
            str(cdnow_scores_path),
            "--budget",
            "300",
            "--out",
            str(listed),
            "--campaign-results",
            str(out),
        ],
    )
    assert ranked.exit_code == 0, ranked.output
    assert "measured by campaign" in ranked.output


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda log: log.drop(columns=["group"]), "missing column(s) group"),
        (
            lambda log: log.assign(group=["treatment", "holdout"] * (len(log) // 2)),
            "row 2: group 'holdout' is not 'treatment' or 'control'",
        ),
        (
            lambda log: log.assign(contacted_at=["2020-03-02", "soon"] * (len(log) // 2)),
            "row 2: contacted_at 'soon' is not a date",
        ),
        (lambda log: log.assign(group="treatment"), "no control rows"),
        (lambda log: log.assign(customer_id="same"), "row 2: customer 'same' is logged twice"),
        (
            lambda log: log.assign(customer_id=[f"z{i}" for i in range(len(log))]),
            "none of the logged customer ids appears in the transactions",
        ),
        (
            lambda log: log.assign(contacted_at="05/10/1997"),
            "row 1: contacted_at '05/10/1997' is day/month text",
        ),
        (
            lambda log: log.assign(contacted_at=["1990-01-02"] + [log["contacted_at"][1]] * 39),
            "row 1: contacted_at 1990-01-02 is before the first transaction",
        ),
    ],
)
def test_bad_logs_are_one_line_and_exit_code_2(campaign_files, tmp_path, edit, message) -> None:
    log_path, tx_path, _ = campaign_files
    bad = tmp_path / "bad.csv"
    edit(pd.read_csv(log_path, dtype=str).head(40)).to_csv(bad, index=False)
    result = runner.invoke(
        app,
        [
            "campaign",
            "import",
            "--log",
            str(bad),
            "--transactions",
            str(tx_path),
            "--out",
            str(tmp_path / "r.json"),
        ],
    )
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert "Traceback" not in result.output


def test_a_window_not_over_yet_is_refused(campaign_files, tmp_path) -> None:
    log_path, tx_path, _ = campaign_files
    result = runner.invoke(
        app,
        [
            "campaign",
            "import",
            "--log",
            str(log_path),
            "--transactions",
            str(tx_path),
            "--horizon-days",
            "400",
            "--out",
            str(tmp_path / "r.json"),
        ],
    )
    assert result.exit_code == 2
    assert "horizon is not over" in result.output


def test_missing_log_file(tmp_path) -> None:
    result = runner.invoke(
        app, ["campaign", "import", "--log", str(tmp_path / "none.csv"), "-t", "cdnow"]
    )
    assert result.exit_code == 2
    assert "campaign log not found" in result.output


def test_contact_times_with_mixed_time_zones_are_read_as_utc() -> None:
    """A CRM export whose rows mix zones: offsets are converted, the rest taken as UTC."""
    from pipelines.economics.campaign_log import validate_campaign_log

    log = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d"],
            "contacted_at": [
                "2024-01-02 08:00",
                "2024-01-02 10:00+02:00",
                "2024-01-02T03:00:00-05:00",
                "2024-01-02T08:00:00Z",
            ],
            "channel": ["email", "email", "email", None],
            "offer": "none",
            "group": ["treatment", "treatment", "treatment", "control"],
        }
    )
    times = validate_campaign_log(log)["contacted_at"]
    assert set(times) == {pd.Timestamp("2024-01-02 08:00")}
    assert times.dt.tz is None
