"""``winback campaign learn`` and ``predict``: uplift learned from logs, judged on known truth.

The logs come from :mod:`models.campaign_simulator`: a randomised pilot whose true uplift
per customer and option is known, so the learned model can be checked against the truth
on customers it never saw.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from features.config import load_feature_config
from models.campaign_simulator import CUSTOMER_COLUMNS, run_pilot, simulate_population
from models.uplift import UPLIFT_GROUPS, classify_uplift_groups
from models.uplift_metrics import qini_from_true_uplift
from pipelines.cli import app
from pipelines.economics.channels import load_channel_config
from pipelines.economics.uplift_log import (
    LEFT_OUT_WINDOW_NOT_OVER,
    TRANSACTION_FEATURES,
    learning_log_from_transactions,
    read_learning_log,
    winback_features_at_contact,
)
from pipelines.economics.uplift_stage import AUTO_CANDIDATES, LEARNERS, PREDICTION_COLUMNS

runner = CliRunner()
FEATURES = [c for c in CUSTOMER_COLUMNS if c != "customer_id"]
CHANNELS = load_channel_config().channels
OPTIONS = {(c, o) for c in ("email", "sms", "phone") for o in ("none", "discount")}


def learn(*args: str | Path) -> object:
    return runner.invoke(app, ["campaign", "learn", *map(str, args)])


def predict(*args: str | Path) -> object:
    return runner.invoke(app, ["campaign", "predict", *map(str, args)])


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> SimpleNamespace:
    """A pilot of 6,000 of 12,000 simulated customers; the other 6,000 are never seen."""
    population = simulate_population(12_000, seed=13)
    pilot = run_pilot(population, pilot_size=6_000, seed=14)
    folder = tmp_path_factory.mktemp("campaign_learn")
    log_path = folder / "pilot.csv"
    pilot.to_csv(log_path, index=False)
    unseen = sorted(set(population.truth.customer_id) - set(pilot["customer_id"]))
    customers = population.customers.set_index("customer_id").loc[unseen].reset_index()
    customers_path = folder / "customers.csv"
    customers.to_csv(customers_path, index=False)
    return SimpleNamespace(
        population=population,
        pilot=pilot,
        folder=folder,
        log_path=log_path,
        customers_path=customers_path,
        unseen=unseen,
    )


@pytest.fixture(scope="module")
def learned(world) -> SimpleNamespace:
    """The default learner fitted on the pilot, and its predictions for unseen customers."""
    model_path = world.folder / "model.json"
    fitted = learn("--log", world.log_path, "--out", model_path)
    assert fitted.exit_code == 0, fitted.output
    predictions_path = world.folder / "predictions.csv"
    predicted = predict(
        "--model", model_path, "--log", world.customers_path, "--out", predictions_path
    )
    assert predicted.exit_code == 0, predicted.output
    truth = world.population.truth.subset(world.unseen).table()
    predictions = pd.read_csv(predictions_path, dtype={"customer_id": str})
    return SimpleNamespace(
        output=fitted.output,
        document=json.loads(model_path.read_text()),
        predict_output=predicted.output,
        predictions=predictions,
        judged=predictions.merge(truth, on=["customer_id", "channel", "offer"], validate="1:1"),
    )


# ----------------------------------------------------------------------------- learn
def test_learn_prints_every_row_read_and_used_and_the_counts_per_option(world, learned) -> None:
    assert "rows read 6,000, used 6,000" in learned.output
    counts = world.pilot.groupby(["channel", "offer", "group"]).size()
    for (channel, offer), row in counts.unstack("group").iterrows():
        assert f"{row['treatment']:,}" in learned.output
        assert f"{row['control']:,}" in learned.output
        recorded = next(
            r
            for r in learned.document["rows"]["by_option"]
            if (r["channel"], r["offer"]) == (channel, offer)
        )
        assert (recorded["treatment"], recorded["control"]) == (row["treatment"], row["control"])


def test_learn_reports_a_held_out_evaluation_beside_the_standard_learners(learned) -> None:
    evaluation = learned.document["evaluation"]
    chosen = learned.document["learner"]
    assert [r["learner"] for r in evaluation["results"]] == [
        chosen,
        "tlearner",
        "class_transformation",
        "random",
    ]
    assert evaluation["rows_test"] == pytest.approx(1_800, abs=2)
    assert evaluation["rows_train"] + evaluation["rows_test"] == 6_000
    for row in evaluation["results"]:
        assert -1 <= row["qini"] <= 1 and row["uplift_at_30_se"] > 0
    for name in (chosen, "tlearner", "class_transformation", "random", "Qini", "uplift@30%"):
        assert name in learned.output


def test_auto_chooses_on_training_customers_only_and_keeps_the_better_qini(learned) -> None:
    document = learned.document
    evaluation = document["evaluation"]
    tried = evaluation["choice_qini"]
    assert set(tried) == set(AUTO_CANDIDATES)
    best = max(AUTO_CANDIDATES, key=lambda name: tried[name])
    assert document["learner_requested"] == "auto"
    assert document["learner"] == evaluation["chosen"] == best
    assert document["kind"] == LEARNERS[best]
    # The choice was made on training customers: the held-out Qini is another number.
    held_out = {r["learner"]: r["qini"] for r in evaluation["results"]}
    assert held_out[best] != pytest.approx(tried[best])
    words = " ".join(learned.output.split())
    assert f"auto: {best}, the better Qini on a part of the training customers" in words


def test_an_explicit_learner_is_kept_and_no_evaluation_falls_back_to_the_first_candidate(
    world, tmp_path
) -> None:
    for args, expected in (
        (["--learner", "tlearner", "--no-evaluate"], "tlearner"),
        (["--no-evaluate"], AUTO_CANDIDATES[0]),
    ):
        model_path = tmp_path / f"{expected}.json"
        fitted = learn("--log", world.log_path, "--out", model_path, "--no-mlflow", *args)
        assert fitted.exit_code == 0, fitted.output
        document = json.loads(model_path.read_text())
        assert document["learner"] == expected and document["evaluation"] is None


def test_the_model_file_records_learner_features_options_and_its_source(world, learned) -> None:
    document = learned.document
    assert document["learner"] in AUTO_CANDIDATES
    assert document["features"] == FEATURES
    assert {(o["channel"], o["offer"]) for o in document["options"]} == OPTIONS
    assert document["rows"]["read"] == document["rows"]["used"] == 6_000
    assert document["spend"] == "spend"
    assert document["source"]["log"] == str(world.log_path)
    digest = hashlib.sha256(world.log_path.read_bytes()).hexdigest()
    assert document["source"]["log_sha256"] == digest
    created = dt.datetime.fromisoformat(document["created_at"])
    assert abs((dt.datetime.now(dt.UTC) - created).total_seconds()) < 600


# ----------------------------------------------------------------------------- predict
def test_predict_writes_one_row_per_customer_and_option(world, learned) -> None:
    predictions = learned.predictions
    assert list(predictions.columns) == list(PREDICTION_COLUMNS)
    assert len(predictions) == len(world.unseen) * len(OPTIONS)
    per_customer = predictions.groupby("customer_id").apply(
        lambda g: set(zip(g["channel"], g["offer"], strict=True))
    )
    assert (per_customer == OPTIONS).all()
    assert predictions["incremental_spend"].notna().all()
    assert (predictions["uplift_lower"] <= predictions["uplift"]).all()
    assert set(predictions["uplift_group"]) <= set(UPLIFT_GROUPS)
    expected = classify_uplift_groups(predictions["p_anyway"], predictions["uplift"])
    assert (predictions["uplift_group"].to_numpy() == expected).all()
    assert f"wrote {len(predictions):,} rows" in learned.predict_output


def test_predicted_uplift_follows_the_true_uplift_of_unseen_customers(learned) -> None:
    judged = learned.judged
    assert np.corrcoef(judged["uplift"], judged["uplift_true"])[0, 1] > 0.15


def test_the_learner_ranks_unseen_customers_better_than_a_random_score(learned) -> None:
    judged = learned.judged
    learned_qini = qini_from_true_uplift(judged["uplift_true"], judged["uplift"])
    rng = np.random.default_rng(0)
    random_qini = [
        qini_from_true_uplift(judged["uplift_true"], rng.random(len(judged))) for _ in range(20)
    ]
    assert learned_qini > 0.15
    assert learned_qini > max(random_qini) + 0.1


def test_shrinkage_learns_per_segment_cell_and_has_no_spend(world) -> None:
    small = world.folder / "small.csv"
    world.pilot.head(1_500).to_csv(small, index=False)
    model_path, out = world.folder / "shrinkage.json", world.folder / "shrinkage.csv"
    fitted = learn("--log", small, "--out", model_path, "--learner", "shrinkage", "--no-evaluate")
    assert fitted.exit_code == 0, fitted.output
    document = json.loads(model_path.read_text())
    assert document["features"] == ["status"] and document["spend"] is None
    assert (
        predict("--model", model_path, "--log", world.customers_path, "--out", out).exit_code == 0
    )
    predictions = pd.read_csv(out, dtype={"customer_id": str})
    status = world.population.customers.set_index("customer_id")["status"]
    predictions["status"] = predictions["customer_id"].map(status)
    per_cell = predictions.groupby(["channel", "offer", "status"])["uplift"].nunique()
    assert (per_cell == 1).all()
    assert predictions["incremental_spend"].isna().all()


def test_the_log_may_name_its_own_columns_and_the_features_to_learn_from(world) -> None:
    renamed = world.folder / "renamed.csv"
    world.pilot.head(800).rename(columns={"returned": "visit", "customer_id": "cust"}).to_csv(
        renamed, index=False
    )
    model_path = world.folder / "renamed.json"
    result = learn(
        "--log",
        renamed,
        "--out",
        model_path,
        "--log-map",
        "returned=visit,customer_id=cust",
        "--learner",
        "shrinkage",
        "--no-evaluate",
    )
    assert result.exit_code == 0, result.output
    document = json.loads(model_path.read_text())
    assert document["rows"]["used"] == 800 and document["features"] == ["status"]
    chosen = read_learning_log(world.log_path, CHANNELS, ["status", "email_engagement"])
    assert chosen.features == ["status", "email_engagement"]
    assert read_learning_log(world.log_path, CHANNELS).features == FEATURES


# ----------------------------------------------------------------------------- transactions
def simulated_transactions(log: pd.DataFrame, customers: pd.DataFrame) -> pd.DataFrame:
    """Purchase histories ending ``days_since_last`` before the contact day, one purchase
    per returner inside the horizon, and a late purchase that closes every window."""
    rng = np.random.default_rng(5)
    who = customers.set_index("customer_id").loc[log["customer_id"]]
    contact = pd.to_datetime(log["contacted_at"]).dt.normalize().to_numpy()
    orders = np.minimum(who["n_orders"].to_numpy(int), 8)
    row = np.repeat(np.arange(len(log)), orders)
    back = np.concatenate([np.arange(k) for k in orders])
    days = who["days_since_last"].to_numpy()[row] + back * who["typical_gap_days"].to_numpy()[row]
    history = pd.DataFrame(
        {
            "customer_id": log["customer_id"].to_numpy()[row],
            "timestamp": contact[row] - pd.to_timedelta(np.round(days), unit="D"),
            "amount": np.round(
                who["avg_order_value"].to_numpy()[row] * rng.lognormal(0.0, 0.3, len(row)), 2
            ),
        }
    )
    back_again = np.flatnonzero(log["returned"].to_numpy() == 1)
    returns = pd.DataFrame(
        {
            "customer_id": log["customer_id"].to_numpy()[back_again],
            "timestamp": contact[back_again]
            + pd.to_timedelta(rng.integers(1, 90, len(back_again)), unit="D"),
            "amount": log["spend"].to_numpy()[back_again],
        }
    )
    closing = pd.DataFrame(
        {"customer_id": ["late"], "timestamp": [contact.max() + pd.Timedelta(days=100)]}
    ).assign(amount=10.0)
    return pd.concat([history, returns, closing], ignore_index=True)


@pytest.fixture(scope="module")
def with_transactions(world) -> SimpleNamespace:
    log = world.pilot.head(1_500)
    log_path, tx_path = world.folder / "plain_log.csv", world.folder / "tx.csv"
    plain = log.loc[:, ["customer_id", "contacted_at", "channel", "offer", "group"]].copy()
    plain["offer"] = plain["offer"].replace({"none": ""})  # an empty offer means none
    global_controls = plain.index[plain["group"] == "control"][:10]
    plain.loc[global_controls, "channel"] = ""  # controls of every channel
    plain.to_csv(log_path, index=False)
    transactions = simulated_transactions(log, world.population.customers)
    transactions.to_csv(tx_path, index=False)
    return SimpleNamespace(log=log, log_path=log_path, tx_path=tx_path, transactions=transactions)


def test_outcomes_from_transactions_are_the_campaign_windows(with_transactions) -> None:
    learning_log = learning_log_from_transactions(
        with_transactions.log_path, with_transactions.tx_path, load_feature_config(), CHANNELS
    )
    assert learning_log.rows_read == learning_log.rows_used == 1_500
    data = learning_log.data
    assert (data["returned"].to_numpy() == with_transactions.log["returned"].to_numpy()).all()
    assert np.allclose(data["spend"], with_transactions.log["spend"])
    assert (data["offer"] == with_transactions.log["offer"].to_numpy()).all()
    assert data["channel"].isna().sum() == 10
    assert learning_log.features == list(TRANSACTION_FEATURES)
    assert learning_log.source["horizon_days"] == 90


def test_contacts_whose_window_is_not_over_are_left_out_and_counted(with_transactions) -> None:
    learning_log = learning_log_from_transactions(
        with_transactions.log_path,
        with_transactions.tx_path,
        load_feature_config(),
        CHANNELS,
        horizon_days=101,
    )
    late = pd.to_datetime(with_transactions.log["contacted_at"]).dt.day_of_year
    not_over = int((late == late.max()).sum())
    assert learning_log.rows_left_out == {LEFT_OUT_WINDOW_NOT_OVER: not_over}
    assert learning_log.rows_used + not_over == learning_log.rows_read == 1_500


def test_features_use_only_purchases_before_the_contact_day(with_transactions) -> None:
    """Purchases on the last contact day (by the customers contacted then) change nobody's
    features: not theirs (made on their contact day), not earlier ones' (made after it)."""
    log = with_transactions.log.loc[:, ["customer_id", "contacted_at"]]
    transactions = with_transactions.transactions.assign(
        timestamp=lambda t: pd.to_datetime(t["timestamp"]).astype("datetime64[us]")
    )
    day = pd.to_datetime(log["contacted_at"]).dt.normalize()
    last = log[day == day.max()]
    on_contact_day = pd.DataFrame(
        {
            "customer_id": np.tile(last["customer_id"].to_numpy(), 2),
            "timestamp": np.r_[
                [day.max()] * len(last), [day.max() + pd.Timedelta(hours=15)] * len(last)
            ],
            "amount": 500.0,
        }
    ).astype({"timestamp": "datetime64[us]"})
    config = load_feature_config()
    before = winback_features_at_contact(log, transactions, config)
    with_contact_day = pd.concat([transactions, on_contact_day], ignore_index=True)
    pd.testing.assert_frame_equal(
        before, winback_features_at_contact(log, with_contact_day, config)
    )
    assert 0 < len(last) < len(log)
    assert before["status"].notna().all() and (before["n_orders"] >= 1).all()


def test_learn_from_transactions_on_the_command_line(world, with_transactions) -> None:
    model_path = world.folder / "from_tx.json"
    result = learn(
        "--log",
        with_transactions.log_path,
        "-t",
        with_transactions.tx_path,
        "--out",
        model_path,
        "--learner",
        "shrinkage",
        "--no-evaluate",
    )
    assert result.exit_code == 0, result.output
    assert "rows read 1,500, used 1,500" in result.output
    assert "evaluation skipped" in result.output
    document = json.loads(model_path.read_text())
    assert document["features"] == ["status"] and document["segment_column"] == "status"
    assert document["source"]["transactions"] == str(with_transactions.tx_path)


# ----------------------------------------------------------------------------- bad input
def _edited(log: pd.DataFrame, column: str, row: int, value: str) -> pd.DataFrame:
    edited = log.copy()
    edited.loc[row - 1, column] = value
    return edited


BAD_LOGS = [
    (
        lambda log: _edited(log, "channel", 5, "pigeon"),
        "row 5: unknown channel 'pigeon'; known: ",
    ),
    (
        lambda log: _edited(log, "group", 3, "holdout"),
        "row 3: group 'holdout' is not 'treatment' or 'control'",
    ),
    (lambda log: log[log["group"] == "treatment"], "no control rows"),
    (
        lambda log: _edited(log, "customer_id", 8, log["customer_id"].iloc[0]),
        "is logged twice in one campaign",
    ),
    (
        lambda log: _edited(log, "returned", 4, "2"),
        "row 4: returned must be 0 or 1, got '2'",
    ),
    (
        lambda log: log.assign(email_engagement=""),
        "feature column 'email_engagement' is empty in every row",
    ),
    (lambda log: log.drop(columns="returned"), "missing column(s) returned"),
    (lambda log: log.head(0), "has a header but no rows"),
    (
        lambda log: _edited(log, "contacted_at", 6, "soon"),
        "row 6: contacted_at 'soon' is not a date",
    ),
]


@pytest.mark.parametrize(("edit", "message"), BAD_LOGS)
def test_a_bad_log_is_one_line_and_exit_code_2(world, tmp_path, edit, message) -> None:
    log = pd.read_csv(world.log_path, dtype=str, keep_default_na=False).head(60)
    bad = tmp_path / "bad.csv"
    edit(log.reset_index(drop=True)).to_csv(bad, index=False)
    result = learn("--log", bad, "--out", tmp_path / "model.json")
    assert result.exit_code == 2, result.output
    assert f"{bad}: " in result.output and message in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "model.json").exists()


def test_a_channel_missing_from_the_channels_config_is_refused(world, tmp_path) -> None:
    channels = tmp_path / "channels.yaml"
    channels.write_text(
        "channels:\n  email: {label: e-mail, cost: 0.05, response_rate: 0.1}\n"
        "  sms: {label: SMS, cost: 0.2, response_rate: 0.1}\n"
    )
    result = learn("--log", world.log_path, "--out", tmp_path / "m.json", "--channels", channels)
    assert result.exit_code == 2, result.output
    assert "unknown channel 'phone'; known: email, sms" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--features", "returned,status"], "--features names returned"),
        (["--learner", "shrinkage", "--segment", "region"], "needs a segment column"),
        (["--map", "amount=value"], "use --log-map for the log"),
    ],
)
def test_bad_learn_options_are_one_line(world, tmp_path, args, message) -> None:
    result = learn("--log", world.log_path, "--out", tmp_path / "m.json", *args)
    assert result.exit_code == 2, result.output
    assert message in result.output and len(result.output.strip().splitlines()) == 1


def test_a_missing_log_file_is_named(tmp_path) -> None:
    result = learn("--log", tmp_path / "none.csv", "--out", tmp_path / "m.json")
    assert result.exit_code == 2
    assert f"{tmp_path / 'none.csv'}: campaign log not found" in result.output


def test_predict_refuses_customers_without_the_model_features(world, learned, tmp_path) -> None:
    customers = pd.read_csv(world.customers_path, dtype=str).head(50)
    bad = tmp_path / "customers.csv"
    customers.drop(columns=["email_engagement", "acquisition"]).to_csv(bad, index=False)
    out = tmp_path / "p.csv"
    result = predict("--model", world.folder / "model.json", "--log", bad, "--out", out)
    assert result.exit_code == 2, result.output
    assert f"{bad}: missing feature column(s) email_engagement, acquisition" in result.output
    assert len(result.output.strip().splitlines()) == 1 and not out.exists()


def test_predict_refuses_a_customer_twice_and_a_missing_model(world, learned, tmp_path) -> None:
    customers = pd.read_csv(world.customers_path, dtype=str).head(5)
    twice = tmp_path / "twice.csv"
    pd.concat([customers, customers.head(1)]).to_csv(twice, index=False)
    model = world.folder / "model.json"
    result = predict("--model", model, "--log", twice, "--out", tmp_path / "p.csv")
    assert result.exit_code == 2 and "row 6: customer_id appears twice" in result.output
    missing = predict("--model", tmp_path / "no.json", "--log", twice, "--out", tmp_path / "p")
    assert missing.exit_code == 2 and "uplift model not found" in missing.output
