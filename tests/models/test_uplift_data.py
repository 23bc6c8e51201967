"""Bad campaign logs are refused with one line that names the row or column."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from features.errors import WinbackError
from models.uplift_data import (
    OTHER_LEVEL,
    FeatureEncoder,
    UpliftDataError,
    feature_columns,
    option_key,
    validate_uplift_log,
)


def good_log() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d"],
            "contacted_at": ["2024-01-01"] * 4,
            "channel": ["email", "sms", "email", None],
            "offer": ["none", "", None, None],
            "group": ["treatment", "Treatment ", "control", "control"],
            "returned": ["1", 0, 0, 1],
            "spend": [30.0, None, 0.0, 12.5],
            "status": ["sleeping", "lost", "lost", "active"],
            "n_orders": ["3", "1", "2", None],
        }
    )


def test_a_good_log_is_normalised_without_dropping_rows() -> None:
    log = validate_uplift_log(good_log(), spend="spend", features=["status", "n_orders"])
    assert len(log) == 4
    assert log["group"].tolist() == ["treatment", "treatment", "control", "control"]
    assert log["treated"].tolist() == [1, 1, 0, 0]
    assert log["offer"].tolist() == ["none", "none", "none", "none"]
    assert log["returned"].tolist() == [1, 0, 0, 1]
    assert log["spend"].tolist() == [30.0, 0.0, 0.0, 12.5]
    assert feature_columns(log, ["returned", "spend"]) == ["status", "n_orders"]
    assert option_key(["email"], ["none"]).tolist() == ["email|none"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda f: f.assign(group=["treatment", "holdout", "control", "control"]),
            r"row 2: group 'holdout' is not 'treatment' or 'control'",
        ),
        (lambda f: f.assign(group="treatment"), "no control rows"),
        (lambda f: f.assign(group="control"), "no treatment rows"),
        (lambda f: f.assign(returned=[1, 2, 0, 1]), r"row 2: returned must be 0 or 1, got 2"),
        (lambda f: f.assign(returned=[1, 0, "yes", 1]), "row 3: returned must be 0 or 1"),
        (lambda f: f.assign(returned=[1, 0, None, 1]), "row 3: returned must be 0 or 1"),
        (
            lambda f: f.assign(customer_id=["a", "b", "a", "d"]),
            "row 3: customer 'a' is logged twice",
        ),
        (lambda f: f.assign(customer_id=["a", "b", None, "d"]), "row 3: customer_id is empty"),
        (lambda f: f.assign(n_orders=None), "feature column 'n_orders' is empty in every row"),
        (lambda f: f.drop(columns="status"), r"missing feature column\(s\) status"),
        (lambda f: f.drop(columns="returned"), r"missing column\(s\) returned"),
        (
            lambda f: f.assign(channel=[None, "sms", "email", None]),
            "row 1: a treatment row needs a channel",
        ),
        (lambda f: f.assign(spend=[30.0, 5.0, 0.0, 12.5]), "row 2: spend is 5.0 but returned"),
        (lambda f: f.assign(spend=[None, 0.0, 0.0, 12.5]), "row 1: spend is empty"),
        (lambda f: f.assign(spend=["x", 0.0, 0.0, 12.5]), "row 1: spend 'x' is not a number"),
        (lambda f: f.iloc[:0], "no rows"),
    ],
)
def test_bad_logs_raise_one_clear_winback_error(change, message: str) -> None:
    with pytest.raises(UpliftDataError, match=message) as error:
        validate_uplift_log(change(good_log()), spend="spend", features=["status", "n_orders"])
    assert isinstance(error.value, WinbackError)
    assert "\n" not in str(error.value)


def test_unknown_channels_and_offers_are_refused_when_known_ones_are_given() -> None:
    with pytest.raises(UpliftDataError, match="row 2: unknown channel 'sms'"):
        validate_uplift_log(good_log(), channels=["email"])
    with pytest.raises(UpliftDataError, match="unknown offer 'none'"):
        validate_uplift_log(good_log(), offers=["discount"])


def test_the_same_customer_may_appear_in_two_campaigns() -> None:
    log = good_log().assign(customer_id=["a", "b", "a", "b"], campaign_id=["1", "1", "2", "2"])
    assert len(validate_uplift_log(log)) == 4
    log["campaign_id"] = ["1", "1", "1", "2"]
    with pytest.raises(UpliftDataError, match="row 3: customer 'a' is logged twice"):
        validate_uplift_log(log)


def test_feature_encoder_reads_text_numbers_and_keeps_unseen_levels() -> None:
    frame = good_log()
    encoder = FeatureEncoder().fit(frame, ["status", "n_orders"])
    assert encoder.numeric_ == ["n_orders"]
    assert encoder.levels_["status"][-1] == OTHER_LEVEL
    matrix = encoder.transform(frame)
    assert matrix.shape == (4, len(encoder.names_))
    assert matrix[:, 0].tolist()[:3] == [3.0, 1.0, 2.0] and np.isnan(matrix[3, 0])
    unseen = encoder.transform(pd.DataFrame({"status": ["vip"], "n_orders": [4]}))
    other = encoder.names_.index(f"status={OTHER_LEVEL}")
    assert unseen[0, other] == 1.0 and unseen[0, 1:].sum() == 1.0
    again = FeatureEncoder.from_dict(json.loads(json.dumps(encoder.to_dict())))
    assert np.array_equal(again.transform(frame), matrix, equal_nan=True)
    with pytest.raises(UpliftDataError, match="missing column"):
        encoder.transform(frame.drop(columns="status"))
