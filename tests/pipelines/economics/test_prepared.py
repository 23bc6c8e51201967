"""One plan, prepared once, cut at many budgets: the same lists as planning each afresh,
and a page's words the same as the whole list's (issue 18)."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from pipelines.economics.channels import load_channel_config
from pipelines.economics.list_rows import ranked_rows, row_words
from pipelines.economics.plan import plan_for_budget, plan_winback
from pipelines.economics.prepared import BudgetError, cut, prepare_plan

AS_OF = dt.date(1998, 6, 30)


@pytest.fixture(scope="module")
def sleeping(cdnow_scores: pd.DataFrame) -> pd.DataFrame:
    """Sleeping and at-risk customers: a few thousand, so fresh plans stay quick."""
    return cdnow_scores[cdnow_scores["status"].isin(["sleeping", "at_risk"])]


def capped_config():
    config = load_channel_config()
    channels = dict(config.channels)
    channels["phone"] = replace(channels["phone"], daily_capacity=3)
    return replace(config, channels=channels).validate()


@pytest.mark.parametrize("config", [load_channel_config(), capped_config()], ids=["open", "capped"])
def test_cuts_of_one_prepared_plan_are_the_fresh_plans(sleeping, config):
    prepared = prepare_plan(sleeping, config, AS_OF)
    for budget, limit in [(0.0, None), (40.0, None), (400.0, 25), (1e9, None)]:
        cached = plan_for_budget(prepared, budget, limit)
        planned = plan_winback(sleeping, budget, config, limit, AS_OF)
        pd.testing.assert_frame_equal(cached.list, planned.list, check_exact=True)
        pd.testing.assert_frame_equal(cached.campaign, planned.campaign, check_exact=True)
        pd.testing.assert_frame_equal(cached.chosen, planned.chosen, check_exact=True)
        assert cached.summary == planned.summary


def test_a_pages_words_are_the_whole_lists(sleeping):
    prepared = prepare_plan(sleeping, load_channel_config(), AS_OF)
    chosen = cut(prepared, 500.0)
    whole = ranked_rows(prepared, chosen)
    for start, end in [(0, 5), (17, 40), (len(whole) - 3, len(whole))]:
        rows, cols = chosen.rows[start:end], chosen.cols[start:end]
        contact_by, offers, reasons = row_words(prepared, rows, cols)
        part = whole.iloc[start:end]
        assert offers == part["offer"].tolist() and reasons == part["reason"].tolist()
        assert contact_by.tolist() == part["contact_by"].tolist()


def test_a_cut_is_best_first_with_ties_by_id(sleeping):
    prepared = prepare_plan(sleeping, load_channel_config(), AS_OF)
    chosen = cut(prepared, 1e9)
    options = prepared.options
    value = options.expected_incremental_value[chosen.rows, chosen.cols]
    ids = options.customers["customer_id"].to_numpy()[chosen.rows]
    keys = list(zip(-value, ids, strict=True))
    assert keys == sorted(keys)
    assert np.all(np.diff(value) <= 0)


def test_a_cut_refuses_a_bad_budget_or_limit(sleeping):
    prepared = prepare_plan(sleeping, load_channel_config(), AS_OF)
    with pytest.raises(BudgetError):
        plan_for_budget(prepared, -1.0)
    with pytest.raises(BudgetError):
        plan_for_budget(prepared, 10.0, limit=0)
