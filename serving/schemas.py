"""Request and response models of the scoring service, with the limits it enforces.

Every field carries a description: BentoML turns these models into the OpenAPI schema at
``/docs.json``, which is the service's reference documentation. Limits are module
constants so the service, the tests and the README quote the same numbers. The models of
``POST /rank`` are in :mod:`serving.rank_schemas`.

Validation happens here, at the boundary. A request that breaks a rule is answered with
HTTP 400 and one entry per problem: the field path (``customers[3].transactions[0].amount``)
and the reason. A well-formed request for a customer the service does not know is not an
error of the request: that customer gets a per-item error in ``results``.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
)

#: Customers in one ``POST /score`` request.
MAX_CUSTOMERS_PER_REQUEST = 1_000
#: Transactions of one customer scored on the fly.
MAX_TRANSACTIONS_PER_CUSTOMER = 10_000
#: Transactions in one ``POST /score`` request, over all customers.
MAX_TRANSACTIONS_PER_REQUEST = 100_000
#: Request body size; larger bodies get 413 before they are parsed.
MAX_BODY_BYTES = 16 * 1024 * 1024
#: Absolute value of one transaction amount (keeps sums and models finite).
MAX_ABS_AMOUNT = 1e9
#: Dates the service accepts (timestamps and as-of dates).
EARLIEST_DATE = dt.date(1900, 1, 1)
#: Length of a customer id, an order id, a product or a channel name.
MAX_ID_LENGTH = 128
#: Rows of the win-back list one ``POST /rank`` may return.
MAX_RANK_LIMIT = 100_000
#: Budget and channel cost ceiling for ``POST /rank``.
MAX_MONEY = 1e12
#: Ids in one suppression list of ``POST /rank`` (``exclude``, each channel of
#: ``no_consent``, ``frequency_cap.contacts``).
MAX_SUPPRESSED_IDS = 500_000
#: Longest frequency cap of ``POST /rank``, in days.
MAX_CAP_DAYS = 3_650

CustomerId = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_ID_LENGTH),
    Field(
        description="Your customer id, as in the transactions the model was trained on "
        "(numbers are accepted and read as text; surrounding spaces are ignored).",
        examples=["00042"],
    ),
]
OptionalText = Annotated[
    str | None,
    StringConstraints(strip_whitespace=True, max_length=MAX_ID_LENGTH),
]


#: Years 1900 to 9999 at the start of a date: the schema's statement of EARLIEST_DATE.
FROM_1900 = "^(19|[2-9][0-9])[0-9]{2}-"
_NUMBER = re.compile(r"[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]+)?")


def _date_text(value: Any) -> Any:
    """Dates arrive as text. pydantic would read a number, or text that looks like one, as
    seconds since 1970 (``"19970930"`` -> 1970-08-20); the files' rule reads eight digits
    as YYYYMMDD, so the API does too, and refuses every other number in one line."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError(f'send dates as text, e.g. "1997-09-30", not the number {value!r}')
    if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        text = value.strip()
        if len(text) == 8 and text.isdigit():
            try:
                return dt.datetime.strptime(text, "%Y%m%d")
            except ValueError:
                reason = f"{text!r} is not a date (eight digits are read as YYYYMMDD)"
                raise ValueError(reason) from None
        raise ValueError(f"{text!r} is not a date: write YYYY-MM-DD or an ISO 8601 date-time")
    return value


def _day_text(value: Any) -> Any:
    read = _date_text(value)
    return read.date() if isinstance(read, dt.datetime) else read


def _on_or_after_earliest(value: dt.date) -> dt.date:
    if value < EARLIEST_DATE:
        raise ValueError(f"must not be before {EARLIEST_DATE.isoformat()}")
    return value


def naive_utc(value: dt.datetime) -> dt.datetime:
    """A time as naive UTC, not before :data:`EARLIEST_DATE`. A ValueError (a 400 naming the
    field) also for times whose UTC falls off the calendar (year 1 at +01:00): Python
    raises OverflowError there, which pydantic would let through as a server error."""
    if value.tzinfo is not None:
        try:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        except OverflowError:
            raise ValueError("out of the range of dates once converted to UTC") from None
    _on_or_after_earliest(value.date())
    return value


#: A point in time of a request: ISO 8601 text (or YYYYMMDD), as naive UTC from 1900 on.
Timestamp = Annotated[
    dt.datetime,
    BeforeValidator(_date_text),
    AfterValidator(naive_utc),
    WithJsonSchema(
        {
            "type": "string",
            "anyOf": [{"format": "date"}, {"format": "date-time"}],
            "pattern": FROM_1900,
        }
    ),
]
#: A calendar day of a request: YYYY-MM-DD (or YYYYMMDD), from 1900 on.
Day = Annotated[
    dt.date,
    BeforeValidator(_day_text),
    AfterValidator(_on_or_after_earliest),
    WithJsonSchema({"type": "string", "format": "date", "pattern": FROM_1900}),
]


class _Strict(BaseModel):
    """Unknown fields are rejected: a typo such as ``ammount`` must not pass silently."""

    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)


class Transaction(_Strict):
    """One order line, in the data contract's columns (see README, data contract)."""

    timestamp: Timestamp = Field(
        description="When the order was placed: YYYY-MM-DD or an ISO 8601 date-time "
        "(YYYYMMDD text is read as a date, as the CLI reads files). Time zones are converted "
        "to UTC. Not before 1900-01-01, and not after the request's as_of.",
        examples=["1997-03-14"],
    )
    amount: float = Field(
        allow_inf_nan=False,
        ge=-MAX_ABS_AMOUNT,
        le=MAX_ABS_AMOUNT,
        description="Order line value in your currency; negative for a return (nets against "
        "the customer's spend).",
        examples=[29.97],
    )
    order_id: OptionalText = Field(
        default=None,
        description="Order id. Lines of one order count as one order. Give it on every "
        "line of a customer or on none.",
    )
    product: OptionalText = Field(default=None, description="Product id or name.")
    quantity: float | None = Field(
        default=None,
        allow_inf_nan=False,
        ge=-MAX_ABS_AMOUNT,
        le=MAX_ABS_AMOUNT,
        description="Units on the line.",
    )
    channel: OptionalText = Field(default=None, description="Sales channel of the order.")


class CustomerRequest(_Strict):
    """A customer to score: by id from the latest snapshot, or from their transactions."""

    customer_id: CustomerId
    transactions: list[Transaction] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_TRANSACTIONS_PER_CUSTOMER,
        description="The customer's transactions up to as_of. Without them the customer "
        "is looked up in the latest scored snapshot; with them the customer is scored on "
        f"the fly at as_of. At most {MAX_TRANSACTIONS_PER_CUSTOMER:,} per customer and "
        f"{MAX_TRANSACTIONS_PER_REQUEST:,} per request.",
    )


AsOf = Annotated[
    Day | None,
    Field(
        description="Scoring date for customers sent with transactions (YYYY-MM-DD; default "
        "today, UTC). Not later than tomorrow. Customers looked up by id are scored at the "
        "snapshot's as-of date, reported in each result.",
        examples=["1997-09-30"],
    ),
]
Customers = Annotated[
    list[CustomerRequest],
    Field(
        min_length=1,
        max_length=MAX_CUSTOMERS_PER_REQUEST,
        description=f"1 to {MAX_CUSTOMERS_PER_REQUEST:,} customers; the results keep this order.",
    ),
]


class CustomerFeatures(BaseModel):
    """The customer's features at the as-of date (see ``winback features``)."""

    frequency: int = Field(description="Repeat purchase days (lifetimes' frequency).")
    recency: int = Field(description="Days from the first to the last purchase day.")
    T: int = Field(description="Days from the first purchase day to the as-of date.")
    monetary_value: float = Field(description="Mean value of the repeat purchase days.")
    n_orders: int = Field(description="Orders placed.")
    total_spend: float = Field(description="Spend, returns netted.")
    avg_order_value: float | None = Field(description="Average order value.")
    first_purchase: dt.date = Field(description="First purchase day.")
    last_purchase: dt.date = Field(description="Last purchase day.")
    days_since_last: int = Field(description="Days since the last purchase day.")
    typical_gap_days: float = Field(description="The customer's own purchase cycle in days.")
    overdue_cycles: float = Field(description="days_since_last / typical_gap_days.")
    abc: str | None = Field(description="ABC class by share of revenue (A, B, C).")
    xyz: str | None = Field(description="XYZ class by regularity of monthly spend (X, Y, Z).")
    ladder_stage: str | None = Field(
        description="Loyalty ladder: buyer, client, regular, loyal, advocate."
    )
    favorite_product: str | None = Field(description="Most frequent product, if known.")


class CustomerScore(BaseModel):
    """Scores of one customer: the columns of ``winback score``."""

    customer_id: str = Field(description="The customer id as requested.")
    source: Literal["snapshot", "transactions"] = Field(
        description="'snapshot': looked up in the latest scored snapshot; 'transactions': "
        "scored on the fly from the transactions in the request."
    )
    as_of: dt.date = Field(description="Date the scores refer to.")
    model_version: str = Field(description="Registered model version that produced them.")
    p_dormant: float = Field(
        description="Probability of no purchase within the model's horizon (horizon_days "
        "in /metadata)."
    )
    p_alive: float = Field(
        description="Probability that the customer is still active, from the transaction "
        "model training chose (BG/NBD, MBG/NBD or Pareto/NBD: the lowest out-of-time Brier). "
        "Under BG/NBD it is 1.0 for a customer with one purchase day by that model's "
        "construction; decisions use p_dormant, the probability of no purchase in the horizon."
    )
    expected_purchases: float = Field(description="BTYD expected purchase days within the horizon.")
    predicted_spend: float = Field(description="Predicted spend within the horizon.")
    clv: float = Field(description="BTYD customer lifetime value.")
    expected_next_order_date: dt.date | None = Field(
        description="Median date of the next purchase, given that the customer buys again: "
        "if they order again, they have done so by this date with probability 0.5. Whether "
        "they order at all is p_alive / p_dormant. Null where that median is more than two "
        "years after the as-of date (under BG/NBD, long-silent one-time buyers: about half "
        "of CDNOW's customers) or where p_alive is 0."
    )
    status: str = Field(description="new, active, at_risk, sleeping or lost.")
    purchases_p05: int | None = Field(
        default=None,
        description="Lower bound of the 90% prediction interval of the customer's purchase "
        "days within the horizon (at most 5% below it; parameter uncertainty included). "
        "None for snapshots scored before intervals existed.",
    )
    purchases_p95: int | None = Field(
        default=None,
        description="Upper bound of that interval: the count that brings the interval's "
        "predictive probability closest to 90%.",
    )
    btyd_p_dormant_p05: float | None = Field(
        default=None,
        description="5% bound of the BTYD probability of no purchase in the horizon over "
        "the parameters' uncertainty (the BTYD's, not the XGBoost p_dormant above).",
    )
    btyd_p_dormant_p95: float | None = Field(
        default=None, description="95% bound of the same BTYD probability."
    )
    clv_p05: float | None = Field(
        default=None,
        description="5% bound of the expected CLV over the parameters' uncertainty (not the "
        "spread of what the customer will actually spend).",
    )
    clv_p95: float | None = Field(default=None, description="95% bound of the expected CLV.")
    features: CustomerFeatures = Field(description="The features behind the scores.")


class CustomerError(BaseModel):
    """Why one customer of the request could not be scored; the others still are."""

    customer_id: str = Field(description="The customer id as requested.")
    error: Literal["unknown_customer", "no_snapshot", "no_purchase"] = Field(
        description="'unknown_customer': not in the latest snapshot (send transactions to "
        "score on the fly); 'no_snapshot': the service runs without a snapshot; "
        "'no_purchase': the transactions hold no purchase on or before as_of."
    )
    message: str = Field(description="The reason in words.")


class ScoreResponse(BaseModel):
    """Results in the order of the request's customers."""

    model_version: str = Field(description="Version of the model loaded by the service.")
    results: list[CustomerScore | CustomerError] = Field(
        description="One entry per requested customer: scores, or an error for that customer."
    )


class ProblemField(BaseModel):
    field: str = Field(description="Path of the offending field, e.g. customers[3].as_of.")
    reason: str = Field(description="What is wrong with it.")


class Problem(BaseModel):
    """Body of every 4xx answer of the service."""

    error: str = Field(description="Short code: invalid_request, unauthorized, ...")
    message: str = Field(description="What happened and how to fix it.")
    errors: list[ProblemField] = Field(
        default_factory=list, description="One entry per invalid field."
    )


class SnapshotInfo(BaseModel):
    """The scored snapshot that ``/score`` by id and ``/rank`` read."""

    file: str = Field(description="File name of the snapshot (scores.parquet).")
    as_of: dt.date = Field(description="As-of date of its scores.")
    model_version: str | None = Field(description="Model version that scored it.")
    horizon_days: int | None = Field(description="Horizon of its p_dormant and spend.")
    customers: int = Field(description="Customers in the snapshot.")
    matches_served_model: bool = Field(
        True,
        description="False when the snapshot was scored by another model version than the "
        "one serving (only with WINBACK_ALLOW_VERSION_MISMATCH=1): lookups by id then answer "
        "the snapshot version's scores.",
    )


class Limits(BaseModel):
    """What one request may contain."""

    max_customers_per_request: int = MAX_CUSTOMERS_PER_REQUEST
    max_transactions_per_customer: int = MAX_TRANSACTIONS_PER_CUSTOMER
    max_transactions_per_request: int = MAX_TRANSACTIONS_PER_REQUEST
    max_body_bytes: int = MAX_BODY_BYTES
    max_rank_limit: int = MAX_RANK_LIMIT
    max_suppressed_ids: int = MAX_SUPPRESSED_IDS


class MetadataResponse(BaseModel):
    """The exact model the service loaded at start-up, and its snapshot."""

    model_name: str = Field(description="Registered MLflow model name.")
    model_version: str = Field(description="Registered version loaded at start-up.")
    aliases: list[str] = Field(description="Aliases of that version (e.g. champion).")
    run_id: str = Field(description="MLflow run that trained it.")
    trained_at: str = Field(description="When the training run started (UTC, ISO 8601).")
    trained_as_of: str | None = Field(description="Training data ran up to this date.")
    validation_cutoff: str | None = Field(description="Start of the held-out window.")
    horizon_days: int | None = Field(description="Horizon of p_dormant and predicted_spend.")
    heldout_metrics: dict[str, float] = Field(
        description="Out-of-time metrics on the held-out window (heldout.<model>.<task>.<metric>)."
    )
    feature_schema: list[str] = Field(description="Model input features, in order.")
    snapshot: SnapshotInfo | None = Field(description="The loaded snapshot, if any.")
    limits: Limits = Field(default_factory=Limits)
    authentication: Literal["api_key", "none"] = Field(
        description="'api_key' unless the service was started with --insecure."
    )
