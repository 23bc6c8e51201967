"""The report's "For data scientists" section: the scoring model's BTYD diagnostics, or a
sentence saying why there are none."""

from __future__ import annotations

import datetime as dt
import re
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from features.config import load_feature_config
from pipelines.report.build import write_report
from pipelines.report.diagnostics_section import (
    CAPTIONS,
    diagnostics_section,
    load_scoring_model,
    report_calibration,
)
from pipelines.report.html import esc
from pipelines.training.fit import fit_btyd

AS_OF = dt.date(1998, 6, 30)  # the stand-in scores' as-of date (tests/pipelines/conftest.py)
HORIZON = 90


@pytest.fixture(scope="module")
def scorer(cdnow_features):
    """What the section reads of a registered scorer: its BTYD bundle and feature rules."""
    features = cdnow_features.set_index("customer_id")
    return SimpleNamespace(
        btyd=fit_btyd(features, "bgnbd"),
        feature_config=load_feature_config(),
        horizon_days=HORIZON,
        trained_as_of=AS_OF,
    )


def test_the_section_shows_the_four_plots_with_captions(scorer, cdnow_scores, cdnow_transactions):
    html = diagnostics_section(scorer, "", cdnow_scores, cdnow_transactions, AS_OF, HORIZON)
    assert html.count('<section id="data-scientists">') == 1
    assert "For data scientists" in html
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert len(images) == 4 and all(len(image) > 10_000 for image in images)
    for caption in CAPTIONS.values():
        assert esc(caption) in html
    assert "BG/NBD" in html and f"{len(cdnow_scores):,} customers" in html
    assert f"r {scorer.btyd.transaction_model_.params_['r']:.4g}" in html
    assert "No calibration" not in html


def test_calibration_in_the_report_compares_only_the_pages_customers(
    scorer, cdnow_scores, cdnow_transactions
):
    page = cdnow_scores[cdnow_scores["status"].isin(["sleeping", "at_risk"])]
    features = page.set_index("customer_id")[["frequency", "recency", "T"]]
    split = report_calibration(scorer, features, cdnow_transactions, AS_OF, HORIZON)
    assert set(split.features.index) <= set(features.index)
    cutoff = pd.Timestamp(AS_OF - dt.timedelta(days=HORIZON))
    days = cdnow_transactions["timestamp"].dt.normalize()
    window = cdnow_transactions[
        (days > cutoff) & (days <= pd.Timestamp(AS_OF)) & (cdnow_transactions["amount"] >= 0)
    ]
    counted = window.assign(day=days).groupby("customer_id")["day"].nunique()
    np.testing.assert_array_equal(
        split.holdout_purchases.to_numpy(),
        counted.reindex(split.features.index, fill_value=0).to_numpy(),
    )
    # The model is fitted on all customers at the cutoff, not on the page's subset.
    assert split.model.n_customers_ > len(split.features)


def test_without_a_registered_model_the_section_says_why(
    cdnow_scores, cdnow_transactions, tmp_path, monkeypatch
):
    assert load_scoring_model(None) == (None, "the scores file names no model version")
    assert "not a registered model version" in load_scoring_model("stand-in-test-fixture")[1]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'none' / 'mlflow.db'}")
    assert load_scoring_model("3")[1].startswith("there is no model registry at")
    assert not (tmp_path / "none").exists()  # read, never created
    html = diagnostics_section(
        None, "the scores file names no model version", cdnow_scores, cdnow_transactions, AS_OF, 90
    )
    assert "No diagnostics: the scores file names no model version." in html
    assert "<img" not in html


def test_the_report_page_has_the_section(small_scores_path, tmp_path):
    out = write_report(small_scores_path, "cdnow", tmp_path / "report.html")
    page = out.read_text(encoding="utf-8")
    assert page.count('<section id="data-scientists">') == 1
    # The stand-in scores name a version that is not a registered one.
    assert "No diagnostics: the scores were made by &#x27;stand-in-test-fixture&#x27;" in page
    assert page.index('id="data-scientists"') > page.index('<section id="list"')
