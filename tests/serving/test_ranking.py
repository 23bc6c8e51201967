"""The /rank rules without HTTP: id formats, suppressions, consent, the cache's key."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from serving.ids import IdFormat
from serving.rank_schemas import FrequencyCapRequest
from serving.ranking import ConsentResponse, RankingCache, suppress

KNOWN = {f"{n:05d}": None for n in range(1, 51)}
FORMAT = IdFormat.of(KNOWN)
CHANNELS = ("email", "phone")
LIST_DATE = dt.date(1998, 7, 1)


def test_the_id_format_is_described_and_near_misses_found():
    assert FORMAT.describe() == "ids in this snapshot are text like '00001' (5 digits, zero-padded)"
    assert FORMAT.near_match("2", KNOWN) == "00002"
    assert FORMAT.near_match("0002", KNOWN) == "00002"
    assert FORMAT.near_match("00002", KNOWN) is None  # exact ids are no near miss
    assert FORMAT.near_match("99", KNOWN) is None and FORMAT.near_match("x2", KNOWN) is None
    assert "did you mean '00002'?" in FORMAT.unknown_hint("2", KNOWN)
    assert "did you mean" not in FORMAT.unknown_hint("777", KNOWN)


def test_unpadded_snapshots_suggest_the_bare_id():
    known = {"2": None, "15": None, "abc": None}
    id_format = IdFormat.of(known)
    assert id_format.describe() == "ids in this snapshot are text like '15'"
    assert id_format.near_match("002", known) == "2"


def test_each_rule_removes_and_counts_its_customers():
    cap = FrequencyCapRequest(
        days=30,
        contacts=[
            {"customer_id": "00005", "contacted_at": "1998-06-01"},  # exactly 30 days before
            {"customer_id": "00006", "contacted_at": "1998-05-31"},  # 31 days: not capped
            {"customer_id": "00001", "contacted_at": "1998-06-20T10:00:00+02:00"},
        ],
    )
    found = suppress(
        KNOWN,
        FORMAT,
        CHANNELS,
        LIST_DATE,
        exclude=["00001", "00002", "nobody"],
        no_consent={"email": ["00003", "00004"], "phone": ["00003"]},
        frequency_cap=cap,
    )
    assert found.removed == {"00001", "00002", "00003", "00005"}
    report = found.report
    assert (report.excluded, report.no_consent, report.frequency_cap) == (2, 1, 2)
    assert report.total == 4  # 00001 is excluded and capped: counted once in the total
    assert report.restricted_channels == {"email": 1, "phone": 0}
    assert dict(found.blocked) == {"email": {"00004"}}
    assert report.frequency_cap_since == dt.date(1998, 6, 1)
    assert report.ids_not_in_snapshot == 1 and "not in the snapshot" in report.note


def test_integer_ids_are_suppressed_once_padded_and_reported():
    found = suppress(KNOWN, FORMAT, CHANNELS, LIST_DATE, exclude=["2", "00003"])
    assert found.removed == {"00002", "00003"}
    assert found.report.ids_matched_after_zero_padding == 1
    assert "zero-padded" in found.report.note and "'00001'" in found.report.note


def test_nothing_sent_suppresses_nothing():
    found = suppress(KNOWN, FORMAT, CHANNELS, LIST_DATE)
    assert not found.removed and not found.blocked and found.report.total == 0
    assert found.report.note is None and found.report.frequency_cap_since is None


class _Prior:
    name = "prior"

    def estimate(self, customers, p_anyway, channels, offers):
        from pipelines.economics.response import ResponseEstimate

        shape = (len(customers), len(channels))
        return ResponseEstimate(np.full(shape, 0.5), np.full(shape, 0.2), np.ones(shape, bool))


def test_no_consent_makes_only_that_channel_worthless():
    customers = pd.DataFrame({"customer_id": ["00001", "00002"]})
    response = ConsentResponse(_Prior(), {"phone": frozenset({"00002"})})
    estimate = response.estimate(customers, np.zeros(2), CHANNELS, np.empty((2, 2), object))
    assert estimate.uplift_lower.tolist() == [[0.2, 0.2], [0.2, -1.0]]
    assert response.name == "prior" and response.offers_for("email") == []


def test_the_cache_key_follows_what_the_list_depends_on():
    none = suppress(KNOWN, FORMAT, CHANNELS, LIST_DATE)
    some = suppress(KNOWN, FORMAT, CHANNELS, LIST_DATE, exclude=["00001"])
    same = suppress(KNOWN, FORMAT, CHANNELS, LIST_DATE, exclude=["1", "00001"])
    key = RankingCache.key
    assert key(10, None, None, none) == key(10.0, {}, {}, none)
    assert key(10, None, None, some) == key(10, None, None, same)  # same effect, same list
    assert len({key(10, None, None, none), key(11, None, None, none),
                key(10, {"email": 0.1}, None, none), key(10, None, {"phone": 1}, none),
                key(10, None, None, some)}) == 5  # fmt: skip


def test_the_cache_keeps_the_most_recent_lists():
    cache = RankingCache(size=2)
    for key in "abc":
        cache.put(key, key)  # type: ignore[arg-type]
    assert cache.get("a") is None and cache.get("c") == "c" and cache.computed == 3


@pytest.mark.parametrize("days", [0, -1, 3651])
def test_frequency_cap_days_are_bounded(days):
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        FrequencyCapRequest(days=days, contacts=[])
