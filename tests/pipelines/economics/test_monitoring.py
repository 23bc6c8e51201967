"""Decision monitoring: a list's own campaign log, imported after the campaign, shows
whether the predicted uplift happened (decile by decile) and what the list really earned."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from features.build import build_features
from features.config import load_feature_config
from pipelines.economics.campaign import measure_campaign
from pipelines.economics.campaign_log import validate_campaign_log
from pipelines.economics.channels import load_channel_config
from pipelines.economics.monitoring import monitoring_lines
from pipelines.economics.plan import plan_winback

LIST_AS_OF = dt.date(1997, 9, 30)  # CDNOW goes on for nine months: the window is observed


@pytest.fixture(scope="module")
def list_log(cdnow_transactions: pd.DataFrame, stand_in_scorer) -> pd.DataFrame:
    """The campaign log of an every-worthwhile list at 1997-09-30, as `winback rank`
    writes it (round-tripped through the importer's validation)."""
    history = cdnow_transactions[cdnow_transactions["timestamp"] <= pd.Timestamp(LIST_AS_OF)]
    features = build_features(history, LIST_AS_OF, load_feature_config()).features
    plan = plan_winback(stand_in_scorer(features), 1e9, load_channel_config(), as_of=LIST_AS_OF)
    return validate_campaign_log(plan.campaign, "list log")


def _with_effect(transactions: pd.DataFrame, log: pd.DataFrame, share: float) -> pd.DataFrame:
    """CDNOW plus one purchase, ten days after the contact, for ``share`` of the treated."""
    rng = np.random.default_rng(7)
    treated = log[log["group"] == "treatment"]
    woken = treated[rng.random(len(treated)) < share]
    extra = pd.DataFrame(
        {
            "customer_id": woken["customer_id"].to_numpy(),
            "timestamp": (woken["contacted_at"] + pd.Timedelta(days=10)).to_numpy(),
            "amount": 20.0,
        }
    )
    base = transactions.loc[:, ["customer_id", "timestamp", "amount"]]
    return pd.concat([base, extra.astype(base.dtypes.to_dict())], ignore_index=True)


def test_contacts_without_effect_show_no_realised_uplift(list_log, cdnow_transactions) -> None:
    """Nobody was really contacted in 1997: every decile's realised uplift is noise around
    zero while the prediction is positive, and the realised value is about minus the cost."""
    results = measure_campaign(list_log, cdnow_transactions, 90, channels=load_channel_config())
    deciles = results["monitoring"]["uplift_by_decile"]
    assert len(deciles) == 10
    assert all(row["predicted_uplift"] > 0 for row in deciles)
    realised = [row["realised_uplift"] for row in deciles if row["realised_uplift"] is not None]
    assert abs(np.mean(realised)) < 0.03
    value = results["monitoring"]["value"]
    assert value["predicted_value"] > 0
    assert value["realised_value"] < value["predicted_value"]
    assert monitoring_lines(results["monitoring"], "$")[0].startswith("predicted incremental")


def test_a_real_effect_shows_in_every_decile(list_log, cdnow_transactions) -> None:
    woken = _with_effect(cdnow_transactions, list_log, share=0.3)
    results = measure_campaign(list_log, woken, 90, channels=load_channel_config())
    realised = [
        row["realised_uplift"]
        for row in results["monitoring"]["uplift_by_decile"]
        if row["realised_uplift"] is not None
    ]
    assert np.mean(realised) == pytest.approx(0.3, abs=0.06)
    value = results["monitoring"]["value"]
    assert value["realised_value"] > 0
