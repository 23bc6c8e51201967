"""Request and response models of ``POST /rank``: the win-back list a CRM imports.

A CRM pages through one list (``limit``, ``offset``; the answer gives ``total_rows`` and
``next_offset``) and sends what it knows that the snapshot does not: customers it must not
contact at all (``exclude``), per channel (``no_consent``), or again so soon
(``frequency_cap``). Those customers are taken out before the selection, so the budget
goes to customers who may be contacted; the answer's ``suppressed`` says how many each
rule removed. The rules are applied in :mod:`serving.ranking`.

Suppression ids are text like every customer id; a JSON number is read as its text (``2``
-> ``"2"``), and an id that matches the snapshot only once zero-padded (``"2"`` ->
``"00002"``) is suppressed too, and counted: suppressing the customer the CRM meant is the
safe side of a format mismatch.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, Field, StringConstraints

from serving.schemas import (
    MAX_CAP_DAYS,
    MAX_ID_LENGTH,
    MAX_MONEY,
    MAX_RANK_LIMIT,
    MAX_SUPPRESSED_IDS,
    Timestamp,
    _Strict,
)

#: Deepest offset into a list (no snapshot holds more customers than this).
MAX_OFFSET = 100_000_000
#: Largest daily capacity override of a channel.
MAX_DAILY_CAPACITY = 100_000_000


def _integer_as_text(value: Any) -> Any:
    """CRM exports often send ids as numbers: read an integer as its text, refuse the rest."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


SuppressionId = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_ID_LENGTH),
    BeforeValidator(_integer_as_text),
    Field(examples=["00042"]),
]
IdList = Annotated[list[SuppressionId], Field(max_length=MAX_SUPPRESSED_IDS)]


class RecentContact(_Strict):
    """One contact the CRM made, for the frequency cap."""

    customer_id: SuppressionId
    contacted_at: Timestamp = Field(
        description="When the customer was contacted: YYYY-MM-DD or an ISO 8601 date-time "
        "(time zones are converted to UTC; the date counts).",
        examples=["1998-06-20"],
    )


class FrequencyCapRequest(_Strict):
    """Do not contact a customer again within ``days`` of their last contact."""

    days: int = Field(
        ge=1,
        le=MAX_CAP_DAYS,
        description="A customer contacted on or after (list date - days) is suppressed. "
        "The list date is the day after the snapshot's as-of date (the day the list's "
        "campaign log records as contacted_at); the answer gives the first date that counts "
        "as `suppressed.frequency_cap_since`.",
        examples=[30],
    )
    contacts: list[RecentContact] = Field(
        max_length=MAX_SUPPRESSED_IDS,
        description="The CRM's recent contacts (older ones are ignored, so sending the "
        f"whole log is fine, up to {MAX_SUPPRESSED_IDS:,} entries).",
    )


Offset = Annotated[
    int,
    Field(
        ge=0,
        le=MAX_OFFSET,
        description="Rows of the list to skip: 0 for the first page, then the previous "
        "answer's `next_offset`. Past the end the rows are empty.",
        examples=[0],
    ),
]
Exclude = Annotated[
    IdList | None,
    Field(
        description="Customer ids never to contact (unsubscribed, complaints, in another "
        f"campaign): removed before the selection. At most {MAX_SUPPRESSED_IDS:,}.",
        examples=[["00017", "00342"]],
    ),
]
NoConsent = Annotated[
    dict[str, IdList] | None,
    Field(
        description="Per channel, the ids that may not be contacted on it (no consent, "
        "opted out): the selection picks another channel for them, and a customer without "
        "consent on every configured channel is removed. Channels as in `channels`.",
        examples=[{"phone": ["00002"], "sms": ["00002", "00007"]}],
    ),
]
FrequencyCap = Annotated[
    FrequencyCapRequest | None,
    Field(description="Suppress customers contacted within the last `days` days."),
]
ChannelCosts = Annotated[
    dict[str, Annotated[float, Field(ge=0, le=MAX_MONEY, allow_inf_nan=False)]] | None,
    Field(
        description="Cost per contact by channel, overriding configs/channels.yaml for this "
        'request, e.g. {"email": 0.02, "phone": 3.0}. Channels: email, sms, '
        "mass_mailing, special_offer, phone, call_centre (as configured).",
        examples=[{"email": 0.02}],
    ),
]
DailyCapacity = Annotated[
    dict[str, Annotated[int, Field(ge=0, le=MAX_DAILY_CAPACITY)]] | None,
    Field(
        description="Contacts per day by channel, overriding configs/channels.yaml's "
        "daily_capacity for this request (a list may use a channel for campaign_days days; "
        "0 closes the channel).",
        examples=[{"phone": 40}],
    ),
]
Budget = Annotated[
    float,
    Field(
        ge=0,
        le=MAX_MONEY,
        allow_inf_nan=False,
        description="Total expected cost the campaign may spend, in the configured currency.",
        examples=[500.0],
    ),
]
Limit = Annotated[
    int | None,
    Field(
        ge=1,
        le=MAX_RANK_LIMIT,
        description=f"Rows per page (1 to {MAX_RANK_LIMIT:,}); without it every row from "
        "`offset` on.",
        examples=[100],
    ),
]


class RankRow(BaseModel):
    """One row of the win-back list (see ``winback rank``)."""

    rank: int = Field(description="1 = contact first.")
    customer_id: str
    status: str = Field(description="The customer's status.")
    channel: str = Field(description="Channel chosen for the contact.")
    offer: str = Field(description="What the contact proposes.")
    p_return_if_contacted: float = Field(description="Probability of return with the contact.")
    p_return_anyway: float = Field(description="Probability of return without any contact.")
    value_if_returned: float = Field(description="Margin on the spend of a returning customer.")
    cost: float = Field(description="Expected cost of the contact and offer.")
    expected_incremental_value: float = Field(
        description="Value the contact adds, net of its cost."
    )
    contact_by: dt.date = Field(description="Contact before this date.")
    reason: str = Field(description="Why this customer, channel and offer, in words.")


class SuppressionReport(BaseModel):
    """What the request's suppressions removed, before the selection.

    Counts are of the snapshot's customers; a customer matched by several rules counts in
    each, once in ``total``.
    """

    total: int = Field(description="Distinct customers removed before the selection.")
    excluded: int = Field(description="Removed by `exclude`.")
    no_consent: int = Field(description="Removed by `no_consent`: no channel left.")
    frequency_cap: int = Field(description="Removed by `frequency_cap`.")
    restricted_channels: dict[str, int] = Field(
        description="Per channel: customers kept but not to be contacted on it (no_consent)."
    )
    frequency_cap_since: dt.date | None = Field(
        description="Contacts on or after this date count for the frequency cap."
    )
    ids_not_in_snapshot: int = Field(
        description="Distinct ids sent that match no customer of the snapshot (check the id "
        "format if this is high: see `note`)."
    )
    ids_matched_after_zero_padding: int = Field(
        description="Distinct ids that matched a snapshot id only once zero-padded (e.g. 2 -> "
        "'00002'); they were suppressed."
    )
    note: str | None = Field(description="How the ids sent compare with the snapshot's.")


class RankResponse(BaseModel):
    """One page of the win-back list for a budget, chosen from the latest snapshot."""

    model_version: str = Field(description="Model version of the snapshot's scores.")
    as_of: dt.date = Field(description="As-of date of the snapshot.")
    budget: float = Field(description="The requested budget (expected cost).")
    total_cost: float = Field(
        description="Expected cost of the contacts in the whole list (every page), rounded to "
        "6 decimals. The budget bounds the expected cost as sent (`expected_cost_as_sent`); "
        "who of the chosen customers is contacted is drawn (control group, exploration), so "
        "this total differs from it by the luck of the draw."
    )
    expected_cost_as_sent: float = Field(
        description="What the selection expects the contacts to cost; <= budget."
    )
    total_expected_value: float = Field(
        description="Expected incremental value of every contact chosen."
    )
    contacts: int = Field(description="Contacts in the list (the treatment group).")
    control: list[str] = Field(
        description="Customer ids held out at random as the control group: chosen like the "
        "list's customers but NOT to be contacted; record them so the campaign can be "
        "measured (`winback campaign import`). The same on every page."
    )
    deferred: int = Field(
        description="Chosen customers not contacted yet: no campaign has measured their "
        "channel and status, so only an exploration share of such cells is contacted."
    )
    list_id: str = Field(description="Identifies this list (and its groups) in campaign logs.")
    eligible_customers: int = Field(
        description="Customers in a status worth a contact, after the suppressions."
    )
    suppressed: SuppressionReport = Field(description="What the suppressions removed.")
    total_rows: int = Field(description="Rows of the whole list (= contacts).")
    computed_at: dt.datetime = Field(
        description="When the list was computed (UTC). Pages of one list (same budget, "
        "overrides and suppressions) are cut from the list computed once and kept while "
        "the service runs, so they share this time, the selection and the control group."
    )
    offset: int = Field(description="Rows skipped before this page.")
    next_offset: int | None = Field(
        description="`offset` of the next page; null when this page ends the list."
    )
    rows: list[RankRow] = Field(
        description="This page of the list, best first: rows offset+1 to offset+limit."
    )
