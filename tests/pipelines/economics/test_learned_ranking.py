"""The loop closed: a learned uplift model decides the next list only after its guard
promoted it on held-out randomised customers; otherwise the prior keeps its place.

The logs are built on the CDNOW stand-in scores with a known rule, so the right list is
known: in the *split* world a contact wakes the eligible customers silent for longer than
the median eligible customer (+30 points) and puts off the others (-30 points, sleeping
dogs); today's prior, which assumes every contact helps, contacts both. In the *null*
world a contact changes nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.paths import PROJECT_ROOT

runner = CliRunner()
FEATURES = ["frequency", "recency", "T", "days_since_last", "avg_order_value", "status"]
ELIGIBLE = ["sleeping", "at_risk", "lost"]


def _eligible(scores: pd.DataFrame) -> pd.DataFrame:
    return scores[scores["status"].isin(ELIGIBLE)]


def _threshold(scores: pd.DataFrame) -> float:
    """Days since the last purchase that split the eligible customers in halves."""
    return float(_eligible(scores)["days_since_last"].median())


def _log(scores: pd.DataFrame, effect: float, seed: int, size: int = 4_000) -> pd.DataFrame:
    """A randomised e-mail/SMS campaign on ``size`` eligible customers with a known rule."""
    rng = np.random.default_rng(seed)
    customers = _eligible(scores).sample(size, random_state=seed).reset_index(drop=True)
    treated = rng.random(len(customers)) < 0.5
    channel = np.where(rng.random(len(customers)) < 0.5, "email", "sms")
    gains = customers["days_since_last"].to_numpy(float) > _threshold(scores)
    p = 0.40 + treated * np.where(gains, effect, -effect)
    returned = (rng.random(len(customers)) < p).astype(int)
    spend = returned * customers["avg_order_value"].to_numpy(float) * 2.0
    return customers.loc[:, ["customer_id", *FEATURES]].assign(
        contacted_at="1998-07-01",
        channel=channel,
        offer="default",
        group=np.where(treated, "treatment", "control"),
        returned=returned,
        spend=spend.round(2),
    )


def _learn(log: pd.DataFrame, folder: Path) -> Path:
    log_path, model_path = folder / "log.csv", folder / "model.json"
    log.to_csv(log_path, index=False)
    result = runner.invoke(
        app, ["campaign", "learn", "--log", str(log_path), "--out", str(model_path)]
    )
    assert result.exit_code == 0, result.output
    return model_path


def _words(output: str) -> str:
    """Console output with the terminal's line wrapping undone."""
    return " ".join(output.split())


def _channels(folder: Path) -> Path:
    """The shipped channels file with only the campaign's channels and no offer rules, so
    that every option of the list is one the campaign tried (the default offer)."""
    config = yaml.safe_load((PROJECT_ROOT / "configs" / "channels.yaml").read_text())
    config["channels"] = {k: v for k, v in config["channels"].items() if k in ("email", "sms")}
    config["offer_rules"] = [{"offer": "default"}]
    path = folder / "channels.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _rank(scores_path: Path, model: Path, out: Path, *extra: str) -> object:
    args = ["rank", "--scores", str(scores_path), "--budget", "1000000", "--out", str(out)]
    args += ["--channels", str(_channels(out.parent))]
    return runner.invoke(app, [*args, "--uplift-model", str(model), *extra])


@pytest.fixture(scope="module")
def split_model(cdnow_scores, tmp_path_factory) -> Path:
    return _learn(_log(cdnow_scores, 0.30, seed=5), tmp_path_factory.mktemp("split"))


@pytest.fixture(scope="module")
def null_model(cdnow_scores, tmp_path_factory) -> Path:
    return _learn(_log(cdnow_scores, 0.0, seed=6), tmp_path_factory.mktemp("null"))


def test_the_guard_promotes_a_model_that_beats_the_prior_on_held_out_customers(split_model):
    promotion = json.loads(split_model.read_text())["promotion"]
    assert promotion["promote"], promotion["reason"]
    assert promotion["reason"].startswith("promote learned: it beats prior by")
    assert promotion["numbers"]["difference_lower"] > 0
    # The prior contacts every held-out customer; the learned policy leaves out many.
    numbers = promotion["numbers"]
    assert numbers["contact_share_prior"] == 1.0 > numbers["contact_share_learned"]


def test_the_guard_keeps_the_prior_when_contacts_change_nothing(null_model):
    promotion = json.loads(null_model.read_text())["promotion"]
    assert not promotion["promote"]
    assert promotion["reason"].startswith("keep prior")


def test_a_promoted_model_decides_the_list(split_model, cdnow_scores, cdnow_scores_path, tmp_path):
    out = tmp_path / "list.csv"
    result = _rank(cdnow_scores_path, split_model, out)
    assert result.exit_code == 0, result.output
    learner = json.loads(split_model.read_text())["learner"]
    assert f"({learner}, promoted;" in _words(result.output)
    listed = pd.read_csv(out, dtype={"customer_id": str})
    log = pd.read_csv(out.with_name("list.campaign.csv"), dtype={"customer_id": str})
    assert set(log["response_source"]) == {f"learned:{learner}"}
    # Learned channels are measured: no exploration, only the control group.
    assert "exploration" not in result.output
    silent = cdnow_scores.set_index("customer_id").loc[listed["customer_id"], "days_since_last"]
    # The model learned whom a contact wakes: nearly every listed customer is one of them,
    # while half the eligible customers are sleeping dogs.
    assert (silent > _threshold(cdnow_scores)).mean() > 0.9
    # Every row still recomputes from its own numbers.
    recomputed = (listed["p_return_if_contacted"] - listed["p_return_anyway"]) * listed[
        "value_if_returned"
    ] - listed["cost"]
    np.testing.assert_allclose(listed["expected_incremental_value"], recomputed, atol=0.011)


def test_an_unpromoted_model_leaves_the_prior_in_place_and_says_why(
    null_model, cdnow_scores_path, tmp_path
):
    out = tmp_path / "list.csv"
    result = _rank(cdnow_scores_path, null_model, out)
    assert result.exit_code == 0, result.output
    assert "not used, the prior decides" in _words(result.output)
    log = pd.read_csv(out.with_name("list.campaign.csv"))
    assert set(log["response_source"]) == {"prior"}
    forced = _rank(cdnow_scores_path, null_model, tmp_path / "forced.csv", "--force-uplift")
    assert forced.exit_code == 0, forced.output
    assert "NOT promoted" in _words(forced.output)


def test_a_model_on_columns_the_scores_lack_is_refused_in_one_line(
    cdnow_scores, cdnow_scores_path, tmp_path
):
    log = _log(cdnow_scores, 0.30, seed=7).assign(loyalty_points=1.0)
    model = _learn(log, tmp_path)
    result = _rank(cdnow_scores_path, model, tmp_path / "list.csv", "--force-uplift")
    assert result.exit_code == 2
    assert "loyalty_points" in result.output and "--transactions" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_the_model_its_evaluation_and_the_verdict_are_an_mlflow_run(split_model):
    import mlflow

    from pipelines.registry.store import configure_mlflow
    from pipelines.registry.uplift_runs import ARTIFACT_NAME, UPLIFT_EXPERIMENT

    configure_mlflow()
    document = json.loads(split_model.read_text())
    runs = mlflow.search_runs(
        experiment_names=[UPLIFT_EXPERIMENT],
        filter_string=f"params.`source.log_sha256` = '{document['source']['log_sha256']}'",
        output_format="list",
    )
    assert len(runs) == 1
    run = runs[0]
    assert run.data.tags["promoted"] == "true"
    assert run.data.tags["guard.reason"] == document["promotion"]["reason"]
    assert run.data.metrics["guard.difference_lower"] > 0
    results = {r["learner"]: r["qini"] for r in document["evaluation"]["results"]}
    for name, qini in results.items():
        assert run.data.metrics[f"heldout.{name}.qini"] == pytest.approx(qini)
    stored = mlflow.artifacts.load_dict(f"runs:/{run.info.run_id}/{ARTIFACT_NAME}")
    assert stored["model"] == document["model"]


def test_a_promoted_model_chooses_the_offer_it_measured_best(
    cdnow_scores, cdnow_scores_path, tmp_path
):
    """Offers are a decision once measured: the campaign tried the default offer and a gift;
    only the gift wakes customers (+40 points), so the list offers the gift although the
    offer rules say "default" and the gift costs $2.00 when redeemed."""
    log = _log(cdnow_scores, 0.0, seed=8, size=8_000)
    rng = np.random.default_rng(9)
    treated = log["group"].eq("treatment").to_numpy()
    gift = treated & (rng.random(len(log)) < 0.5)
    returned = rng.random(len(log)) < np.where(gift, 0.80, 0.40)
    log = log.assign(
        offer=np.where(gift, "gift", "default"),
        returned=returned.astype(int),
        spend=(returned * log["avg_order_value"] * 2.0).round(2),
    )
    model = _learn(log, tmp_path)
    assert json.loads(model.read_text())["promotion"]["promote"]
    out = tmp_path / "list.csv"
    result = _rank(cdnow_scores_path, model, out)
    assert result.exit_code == 0, result.output
    campaign = pd.read_csv(out.with_name("list.campaign.csv"))
    assert len(campaign) > 100
    assert (campaign["offer"] == "gift").mean() > 0.9
    # The list the CRM gets carries the gift's words.
    assert pd.read_csv(out)["offer"].str.contains("gift").mean() > 0.9
