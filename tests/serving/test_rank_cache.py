"""POST /rank's cache (issue 18): every page served from a kept selection sequence, a
budget's cut or a page's lazily written rows is the page of a plan computed afresh."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest

from pipelines.economics.plan import plan_winback
from pipelines.economics.rank import economics_config
from pipelines.economics.response import PriorResponse
from serving.rank_schemas import RankRow
from serving.ranking import (
    ConsentResponse,
    RankingCache,
    answer_page,
    no_suppression,
    request_config,
    suppress,
)
from serving.scoring import Snapshot, plain_value

#: Customers of the snapshot ranked here: enough for full channels and long lists.
CUSTOMERS = 8_000


@pytest.fixture(scope="module")
def snapshot(served_model) -> Snapshot:
    full = Snapshot.load(served_model.scores_path)
    kept = full.scores.head(CUSTOMERS).reset_index(drop=True)
    return replace(full, scores=kept, by_id={c: full.by_id[c] for c in kept["customer_id"]})


@pytest.fixture(scope="module")
def config():
    return economics_config()[0]


@pytest.fixture(scope="module")
def cache(snapshot, config) -> RankingCache:
    """One cache for the whole module, warmed like the service's: each request below
    meets the lists, plans and options the requests before it left."""
    return RankingCache.warm(snapshot, config, None)


def fresh(snapshot, config, budget, suppression):
    """The list as ``winback rank`` computes it, every row at once: rows and totals."""
    scores = snapshot.scores[~snapshot.scores["customer_id"].isin(suppression.removed)]
    response = (
        ConsentResponse(PriorResponse(config), dict(suppression.blocked))
        if suppression.blocked
        else None
    )
    plan = plan_winback(scores, budget, config, None, snapshot.as_of, response)
    rows = []
    for row in plan.list.to_dict("records"):
        plain = {key: plain_value(value) for key, value in row.items()}
        rows.append(RankRow(**plain | {"customer_id": str(plain["customer_id"])}))
    summary, campaign = plan.summary, plan.campaign
    totals = {
        "total_cost": round(summary["total_cost"], 6),
        "total_expected_value": round(summary["total_expected_value"], 6),
        "expected_cost_as_sent": round(summary["expected_cost_as_sent"], 6),
        "contacts": summary["contacts"],
        "deferred": summary["deferred"],
        "eligible_customers": summary["eligible_customers"],
        "control": campaign.loc[campaign["group"] == "control", "customer_id"].tolist(),
    }
    return rows, totals


def ask(cache, snapshot, config, budget, window, costs=None, capacity=None, **suppressions):
    request = request_config(config, costs, capacity)
    return answer_page(
        cache,
        snapshot,
        ("test", None),
        (budget, request, (costs, capacity)),
        (suppressions.get("exclude"), suppressions.get("no_consent"), None),
        window,
    )


def check_pages(cache, snapshot, config, budget, windows, costs=None, capacity=None, **supp):
    """Each page asked equals the same slice of the fresh list, totals and all."""
    request = request_config(config, costs, capacity)
    suppression = suppress(
        snapshot.by_id,
        snapshot.id_format,
        request.channels,
        snapshot.as_of + dt.timedelta(days=1),
        supp.get("exclude"),
        supp.get("no_consent"),
    )
    rows, totals = fresh(snapshot, request, budget, suppression)
    assert rows, "a list worth checking has rows"
    for offset, limit in windows:
        answer = ask(cache, snapshot, config, budget, (offset, limit), costs, capacity, **supp)
        end = len(rows) if limit is None else min(len(rows), offset + limit)
        assert answer.rows == rows[offset:end], (budget, offset, limit, costs, capacity)
        assert answer.next_offset == (end if end < len(rows) else None)
        assert answer.total_rows == len(rows)
        got = {key: getattr(answer, key) for key in totals}
        assert got == totals
    return rows


WINDOWS = [(0, 50), (50, 50), (0, None), (123, 7), (10_000_000, 5)]


@pytest.mark.parametrize("budget", [0.0, 25.0, 300.0, 1e9])
def test_every_budget_is_the_fresh_list(cache, snapshot, config, budget):
    if budget == 0.0:
        assert ask(cache, snapshot, config, budget, (0, 50)).rows == []
        return
    check_pages(cache, snapshot, config, budget, WINDOWS)


def test_the_last_page_and_a_page_across_the_end(cache, snapshot, config):
    rows = check_pages(cache, snapshot, config, 300.0, [(0, 1)])
    check_pages(cache, snapshot, config, 300.0, [(len(rows) - 3, 50), (len(rows) - 1, 1)])


def test_channel_overrides_never_reuse_another_settings_sequence(cache, snapshot, config):
    """Closing, capping, re-pricing a channel, then the defaults again: each list is the
    fresh one for its own settings, in whichever order the cache met them."""
    phone_rows = check_pages(cache, snapshot, config, 500.0, WINDOWS[:3])
    assert any(row.channel == "phone" for row in phone_rows)
    closed = check_pages(cache, snapshot, config, 500.0, WINDOWS[:3], capacity={"phone": 0})
    assert not any(row.channel == "phone" for row in closed)
    capped = check_pages(cache, snapshot, config, 500.0, WINDOWS[:3], capacity={"phone": 2})
    assert sum(row.channel == "phone" for row in capped) <= 2 * config.campaign_days
    check_pages(cache, snapshot, config, 500.0, WINDOWS[:3], costs={"email": 0.4})
    check_pages(cache, snapshot, config, 500.0, WINDOWS[:3], costs={"email": 0.4, "phone": 0.5})
    assert check_pages(cache, snapshot, config, 500.0, WINDOWS[:3]) == phone_rows


def test_a_capacity_override_reuses_the_options_and_a_budget_the_sequence(snapshot, config):
    cache = RankingCache.warm(snapshot, config, None)
    assert (cache.plans_computed, cache.options_computed) == (1, 1)
    for budget in (10.0, 100.0, 1000.0):
        ask(cache, snapshot, config, budget, (0, 50))
    assert (cache.computed, cache.plans_computed, cache.options_computed) == (3, 1, 1)
    ask(cache, snapshot, config, 100.0, (0, 50), capacity={"phone": 1})
    assert (cache.plans_computed, cache.options_computed) == (2, 1)
    ask(cache, snapshot, config, 100.0, (0, 50), costs={"email": 0.3})
    assert (cache.plans_computed, cache.options_computed) == (3, 2)
    ask(cache, snapshot, config, 100.0, (50, 50))  # the same list, another page
    assert cache.computed == 5


def test_suppressions_are_applied_before_the_kept_selection(cache, snapshot, config):
    ids = snapshot.scores["customer_id"].tolist()
    exclude, no_email = ids[:300], {"email": ids[300:2000]}
    check_pages(cache, snapshot, config, 400.0, WINDOWS[:3], exclude=exclude)
    check_pages(cache, snapshot, config, 400.0, WINDOWS[:3], exclude=exclude, no_consent=no_email)


def test_a_cache_never_answers_with_other_scores(snapshot, config):
    """The entries remember their scores: another snapshot's request computes its own."""
    cache = RankingCache.warm(snapshot, config, None)
    other = replace(snapshot, scores=snapshot.scores.head(2_000).copy())
    none = no_suppression(snapshot, config)
    plan, how = cache.prepared(config, none, (other.scores, None), _prepare(other, config))
    assert how == "computed" and len(plan.options.customers) < CUSTOMERS
    _, again = cache.prepared(config, none, (snapshot.scores, None), _prepare(snapshot, config))
    assert again == "computed"


def _prepare(snapshot, config):
    from serving.ranking import prepare_ranking

    return lambda settings, suppression, options: prepare_ranking(
        snapshot.scores, settings, snapshot.as_of, None, suppression, options
    )


def test_the_start_up_plan_is_never_evicted():
    """Requests with ever new suppression lists each leave a plan; the configured
    settings' plan, pinned at start-up, stays."""
    from serving.rank_cache import _Recent

    recent = _Recent(2)
    recent.put("start-up", "plan", pin=True)
    for n in range(5):
        recent.put(f"suppressions {n}", n)
    assert recent.get("start-up") == "plan"
    assert recent.get("suppressions 4") == 4 and recent.get("suppressions 3") == 3
    assert recent.get("suppressions 2") is None
    assert recent.get("start-up", (object(),)) is None  # computed from other scores
