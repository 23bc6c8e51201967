"""The per-customer feature SQL, written once for DuckDB and Spark SQL.

The query is standard SQL (window functions, ``PERCENTILE_CONT ... WITHIN GROUP``,
``EXTRACT``) so that both engines run the same text; the only dialect difference, the
day difference between two dates, is a small :class:`Dialect` hook.

Definitions (daily granularity, compatible with
``lifetimes.utils.summary_data_from_transaction_data(freq="D")``):

* a *purchase day* is a calendar day with at least one non-negative line (the contract
  makes every return negative and quarantines lines worth nothing that are not purchases;
  zero-value purchases count, as in lifetimes);
* ``frequency`` = purchase days - 1, ``recency`` = last - first purchase day,
  ``T`` = as-of - first purchase day, ``monetary_value`` = mean value of the repeat purchase
  days (0 without repeats);
* returns (negative lines) net into ``total_spend``. A return whose ``order_id`` (less the
  cancellation prefix) is an earlier order of the same customer also nets into the value
  of that order's day, floored at zero; other returns touch no day's value. So a return
  never creates a purchase day and never makes ``monetary_value`` negative (a negative
  value would be outside the Gamma-Gamma model, and crashed its fit);
* ``typical_gap_days`` = median gap between purchase days, at least
  ``min_typical_gap_days``; one-time buyers get the population median of repeaters;
* nothing after the as-of date is read.

The rules that depend on the population (the one-time buyers' gap, ABC, the advocate
stage of the ladder) are not spelled here: they are rendered from :mod:`features.rules`,
which the service evaluates in Python with the same definitions.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from features.config import FeatureConfig
from features.rules import abc_class, abc_rank_spend_sql, ladder_stage, typical_gap_days

FEATURE_COLUMNS = (
    "customer_id",
    "frequency",
    "recency",
    "T",
    "monetary_value",
    "n_orders",
    "total_spend",
    "avg_order_value",
    "first_purchase",
    "last_purchase",
    "days_since_last",
    "typical_gap_days",
    "overdue_cycles",
    "status",
    "abc",
    "xyz",
    "ladder_stage",
    "favorite_product",
)

STATUSES = ("new", "active", "at_risk", "sleeping", "lost")
LADDER_STAGES = ("buyer", "client", "regular", "loyal", "advocate")


@dataclass(frozen=True)
class Dialect:
    """The few expressions that differ between engines."""

    name: str

    def days_between(self, start: str, end: str) -> str:
        """Whole days from ``start`` to ``end`` (both DATE expressions)."""
        if self.name == "spark":
            return f"datediff({end}, {start})"
        return f"date_diff('day', {start}, {end})"


DUCKDB = Dialect("duckdb")
SPARK = Dialect("spark")


def _number(value: float) -> str:
    return repr(float(value))


def feature_sql(
    table: str,
    as_of: dt.date,
    config: FeatureConfig,
    has_order_id: bool,
    has_product: bool,
    dialect: Dialect = DUCKDB,
    population_gap_days: float | None = None,
    aggregates_table: str | None = None,
    ordered: bool = True,
) -> str:
    """SQL computing one row per customer from transactions in ``table`` up to ``as_of``.

    ``table`` must have ``customer_id``, ``timestamp``, ``amount`` and, if the flags say so,
    ``order_id`` and ``product``. ``population_gap_days`` replaces the population's median
    gap (what one-time buyers get) by the value of a reference population, e.g. the scored
    snapshot's when the service builds the features of a few customers.

    ``aggregates_table`` names a table that already holds the per-customer aggregates of
    the purchase days (:data:`AGGREGATE_COLUMNS`, one row per customer with a purchase day),
    as :mod:`features.customer_days` computes them from :func:`day_lines_sql`, and the ABC
    ranking's :data:`RANKING_COLUMNS` (:func:`features.rules.revenue_before_and_total`);
    without it the query computes them itself (Spark, and the reference the kernel is
    tested against). Everything else -- the population rules, status, ABC, XYZ, ladder,
    orders with order ids, the favourite product -- is this one text either way.

    ``ordered=False`` leaves out the final ``ORDER BY customer_id``, for a caller whose
    rows come out in that order anyway (:func:`features.build.build_features`: a
    projection of aggregates already in id order, which it checks).
    """
    d = dialect
    as_of_sql = f"DATE '{as_of.isoformat()}'"
    st, xyz = config.status, config.xyz
    if population_gap_days is None:
        population = f""",
population AS (
    {population_gap_sql("aggregates")}
)"""
        population_join, population_gap = "\n    CROSS JOIN population p", "p.population_gap"
    else:
        # A given gap is a literal: no one-row CTE joined to every customer.
        population, population_join = "", ""
        population_gap = f"CAST({float(population_gap_days)!r} AS DOUBLE)"
    gap_sql = typical_gap_days(config.cadence).to_sql(
        {"median_gap": "c.median_gap", "population_gap": population_gap}
    )
    abc_sql = abc_class(config.abc).to_sql(
        {name: f"k.{name}" for name in ("total_spend", "revenue_before", "revenue_total")}
    )
    ladder_sql = ladder_stage(config.ladder).to_sql()
    month_index = "(EXTRACT(YEAR FROM {0}) * 12 + EXTRACT(MONTH FROM {0}))"
    _, _, order_counts, orders_join, n_orders_column = _order_parts(has_order_id)
    favorite, favorite_join, favorite_column = _favorite_parts(has_product)
    if aggregates_table is None:
        aggregates = _aggregates_sql(table, as_of, config, has_order_id, has_product, d)
        ranking_columns = ""
        revenue = """revenue AS (
    -- An aggregate, not SUM() OVER (): a second window pass cost 0.12 s at 1M customers.
    SELECT SUM(GREATEST(total_spend, 0.0)) AS revenue_total FROM base
),
"""
        window = f""",
           SUM(GREATEST(b.total_spend, 0.0)) OVER (
               ORDER BY {abc_rank_spend_sql("b.total_spend")} DESC, b.customer_id
               ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS revenue_before,
           r.revenue_total"""
        revenue_join = "\n    CROSS JOIN revenue r"
    else:
        # The lines are read again only for what the aggregates do not hold.
        needs_lines = has_order_id or has_product
        lines = _lines_sql(table, as_of, has_order_id, has_product) + ",\n" if needs_lines else ""
        aggregates = f"""{lines}aggregates AS (
    SELECT * FROM {aggregates_table}
)"""
        # The ranking comes with the aggregates: no window sorting every column.
        ranking_columns = ",\n           c.revenue_before, c.revenue_total"
        revenue, window, revenue_join = "", "", ""
    return f"""
WITH {aggregates}{population},
{order_counts}{favorite}base AS (
    SELECT c.customer_id,
           c.purchase_days,
           c.purchase_days - 1 AS frequency,
           {d.days_between("c.first_day", "c.last_day")} AS recency,
           {d.days_between("c.first_day", as_of_sql)} AS T,
           CASE WHEN c.purchase_days > 1
                THEN c.repeat_amount / (c.purchase_days - 1) ELSE 0.0 END AS monetary_value,
           CAST({n_orders_column} AS BIGINT) AS n_orders,
           c.total_spend,
           CASE WHEN {n_orders_column} > 0
                THEN c.total_spend / {n_orders_column} END AS avg_order_value,
           c.first_day AS first_purchase,
           c.last_day AS last_purchase,
           {d.days_between("c.last_day", as_of_sql)} AS days_since_last,
           {gap_sql} AS typical_gap_days,
           c.total_spend AS spend_sum, c.spend_sum_squares,
           {month_index.format(as_of_sql)} - {month_index.format("c.first_day")} + 1 AS n_months,
           {favorite_column} AS favorite_product{ranking_columns}
    FROM aggregates c{orders_join}
{favorite_join}{population_join}
),
{revenue}classified AS (
    SELECT b.*,
           b.days_since_last / b.typical_gap_days AS overdue_cycles,
           b.spend_sum / b.n_months AS month_mean{window}
    FROM base b{revenue_join}
),
labelled AS (
    SELECT k.*,
           CASE
               WHEN k.T <= k.typical_gap_days THEN 'new'
               WHEN k.overdue_cycles >= {_number(st.lost_cycles)}
                    OR k.days_since_last >= {_number(st.lost_days)} THEN 'lost'
               WHEN k.overdue_cycles >= {_number(st.sleeping_cycles)} THEN 'sleeping'
               WHEN k.overdue_cycles >= {_number(st.at_risk_cycles)} THEN 'at_risk'
               ELSE 'active'
           END AS status,
           {abc_sql} AS abc,
           CASE
               WHEN k.n_months < {int(xyz.min_months)} OR k.month_mean <= 0 THEN 'Z'
               WHEN SQRT(GREATEST(k.spend_sum_squares / k.n_months
                                  - k.month_mean * k.month_mean, 0.0)) / k.month_mean
                    <= {_number(xyz.x_max_cv)} THEN 'X'
               WHEN SQRT(GREATEST(k.spend_sum_squares / k.n_months
                                  - k.month_mean * k.month_mean, 0.0)) / k.month_mean
                    <= {_number(xyz.y_max_cv)} THEN 'Y'
               ELSE 'Z'
           END AS xyz
    FROM classified k
)
SELECT customer_id, frequency, recency, T, monetary_value, n_orders, total_spend,
       avg_order_value, first_purchase, last_purchase, days_since_last, typical_gap_days,
       overdue_cycles, status, abc, xyz,
       {ladder_sql} AS ladder_stage,
       favorite_product
FROM labelled
{"ORDER BY customer_id" if ordered else ""}
"""


#: What an ``aggregates_table`` holds besides :data:`AGGREGATE_COLUMNS`: each customer's
#: ``revenue_before`` in the ABC ranking and the population's ``revenue_total``.
RANKING_COLUMNS = ("revenue_before", "revenue_total")

#: The per-customer aggregates of the purchase days that the rest of :func:`feature_sql`
#: reads: computed by its own CTEs, or handed in as a table (``aggregates_table``).
AGGREGATE_COLUMNS = (
    "customer_id",
    "first_day",  # first purchase day
    "last_day",  # last purchase day
    "purchase_days",  # number of purchase days
    "repeat_amount",  # value of the purchase days after the first
    "median_gap",  # median days between consecutive purchase days; NULL with one day
    "total_spend",  # net value of all lines (returns included)
    "spend_sum_squares",  # sum over calendar months of the month's net value squared
    "n_orders",  # non-negative lines (the order count without order ids)
)


def _lines_sql(table: str, as_of: dt.date, has_order_id: bool, has_product: bool) -> str:
    """The ``lines`` CTE: the rows on or before ``as_of`` with their calendar day."""
    # STRING, not VARCHAR: DuckDB reads it as VARCHAR, Spark rejects VARCHAR without a length.
    order_key = "order_id" if has_order_id else "CAST(NULL AS STRING)"
    product = "product" if has_product else "CAST(NULL AS STRING)"
    return f"""lines AS (
    SELECT customer_id, CAST(timestamp AS DATE) AS day, amount,
           {order_key} AS order_key, {product} AS product
    FROM {table}
    WHERE CAST(timestamp AS DATE) <= DATE '{as_of.isoformat()}'
)"""


def _aggregates_sql(
    table: str,
    as_of: dt.date,
    config: FeatureConfig,
    has_order_id: bool,
    has_product: bool,
    d: Dialect,
) -> str:
    """The CTEs that compute :data:`AGGREGATE_COLUMNS` in SQL, ending in ``aggregates``.

    Three passes: the day aggregate, a window over the purchase days for the gaps, and a
    month aggregate over the lines. :mod:`features.customer_days` computes the same columns
    in one ordered pass over :func:`day_lines_sql`'s rows (the DuckDB engine's path).
    """
    month_index = "(EXTRACT(YEAR FROM {0}) * 12 + EXTRACT(MONTH FROM {0}))"
    month_orders, n_orders, *_ = _order_parts(has_order_id)
    valued_lines = _valued_lines_sql(has_order_id, config.lines.cancellation_order_prefix)
    return f"""{_lines_sql(table, as_of, has_order_id, has_product)},
{valued_lines}days AS (
    SELECT customer_id, day,
           GREATEST(SUM(CASE WHEN in_day_value = 1 THEN amount ELSE 0.0 END), 0.0)
               AS day_amount,
           MAX(CASE WHEN amount >= 0 THEN 1 ELSE 0 END) AS is_purchase
    FROM valued_lines
    GROUP BY customer_id, day
),
purchase_days AS (
    SELECT customer_id, day, day_amount,
           {d.days_between("LAG(day) OVER (PARTITION BY customer_id ORDER BY day)", "day")}
               AS gap
    FROM days
    WHERE is_purchase = 1
),
per_customer AS (
    SELECT customer_id,
           MIN(day) AS first_day,
           MAX(day) AS last_day,
           COUNT(*) AS purchase_days,
           SUM(CASE WHEN gap IS NOT NULL THEN day_amount ELSE 0 END) AS repeat_amount,
           PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY gap) AS median_gap
    FROM purchase_days
    GROUP BY customer_id
),
monthly AS (
    SELECT customer_id, {month_index.format("day")} AS month_number,
           SUM(amount) AS month_spend{month_orders}
    FROM lines
    GROUP BY customer_id, {month_index.format("day")}
),
spend AS (
    SELECT customer_id, SUM(month_spend) AS total_spend,
           SUM(month_spend * month_spend) AS spend_sum_squares, {n_orders} AS n_orders
    FROM monthly
    GROUP BY customer_id
),
aggregates AS (
    SELECT c.customer_id, c.first_day, c.last_day, c.purchase_days, c.repeat_amount,
           c.median_gap, s.total_spend, s.spend_sum_squares, s.n_orders
    FROM per_customer c
    JOIN spend s ON s.customer_id = c.customer_id
)"""


def day_lines_sql(
    table: str,
    as_of: dt.date,
    config: FeatureConfig,
    has_order_id: bool,
    partition: tuple[int, int] = (0, 1),
) -> str:
    """Every line on or before ``as_of`` as its parts of a day's sums, ordered by customer
    and day: the input of :func:`features.customer_days.aggregate_customer_days`.

    Columns: ``customer_id``, ``day``, ``value_part`` (what the line adds to the day's
    value as ``days`` in :func:`feature_sql` defines it: a purchase, or a return linked to
    an order of that day; the day's value is the sum floored at zero), ``net_part`` (what
    it adds to the net of the day it happened: the money of that calendar month) and
    ``purchase_line`` (1 for a non-negative line; a purchase day has at least one). A
    linked return dated after its order is two rows, value on the order's day and net on
    its own, so that one sum of each part per customer and day gives both.

    No GROUP BY: the kernel sums each run of a customer's day, which the ORDER BY makes
    contiguous; sorting the lines cost DuckDB about what grouping them alone did, and
    grouping then sorting the days twice that (9.7M rows: 1.5 s against 2.8-3.3 s).
    DuckDB only.

    ``partition=(i, k)``: only the customers whose id hashes to ``i`` modulo ``k``, so that
    a large table is sorted in ``k`` smaller pieces (a smaller peak of memory); every
    customer falls in exactly one.
    """
    valued_lines = _valued_lines_sql(has_order_id, config.lines.cancellation_order_prefix)
    purchase_line = "CAST(CASE WHEN amount >= 0 THEN 1 ELSE 0 END AS TINYINT)"
    if has_order_id:
        # Value on the day it counts in, net on the day it happened: two rows for a linked
        # return dated after its order, one for every other line.
        parts = f"""SELECT customer_id, own_day AS day,
               CASE WHEN in_day_value = 1 AND day = own_day THEN amount ELSE 0.0 END
                   AS value_part,
               amount AS net_part, {purchase_line} AS purchase_line
        FROM valued_lines
        UNION ALL
        SELECT customer_id, day, amount, 0.0, CAST(0 AS TINYINT)
        FROM valued_lines
        WHERE in_day_value = 1 AND day <> own_day"""
    else:
        parts = f"""SELECT customer_id, day,
               CASE WHEN amount >= 0 THEN amount ELSE 0.0 END AS value_part,
               amount AS net_part, {purchase_line} AS purchase_line
        FROM valued_lines"""
    index, count = partition
    where = f"\nWHERE hash(customer_id) % {int(count)} = {int(index)}" if count > 1 else ""
    return f"""
WITH {_lines_sql(table, as_of, has_order_id, False)},
{valued_lines}parts AS (
        {parts}
)
SELECT customer_id, day, value_part, net_part, purchase_line
FROM parts{where}
ORDER BY customer_id, day
"""


def window_totals_sql(table: str, as_of: dt.date) -> str:
    """One row: rows after ``as_of`` and the net spend of the lines on or before it, in
    one scan (the DuckDB engine's part of :func:`window_accounting_sql`; the customers
    left out come from :mod:`features.customer_days`)."""
    in_window = f"CAST(timestamp AS DATE) <= DATE '{as_of.isoformat()}'"
    return f"""
SELECT COUNT(*) FILTER (WHERE NOT ({in_window})) AS rows_after,
       COALESCE(SUM(amount) FILTER (WHERE {in_window}), 0.0) AS net_spend
FROM {table}
"""


def _valued_lines_sql(has_order_id: bool, cancellation_prefix: str | None) -> str:
    """The ``valued_lines`` CTE: each line with the day whose value it counts in (``day``)
    and the day it happened (``own_day``, whose month its money counts in).

    Purchases count in their own day. A return counts in a day's value only when its order
    id links it to an earlier order of the same customer -- the id itself, or the id less
    the cancellation prefix (``C536365`` cancels ``536365``) -- and then in that order's
    first day. Unlinked returns (``in_day_value = 0``) stay on their own day, which they
    never make a purchase day.
    """
    if not has_order_id:
        return """valued_lines AS (
    SELECT customer_id, day, day AS own_day, amount,
           CASE WHEN amount >= 0 THEN 1 ELSE 0 END AS in_day_value
    FROM lines
),
"""
    link_key = "l.order_key"
    if cancellation_prefix:
        n = len(cancellation_prefix)
        literal = "'" + cancellation_prefix.replace("'", "''") + "'"
        link_key = (
            f"CASE WHEN SUBSTRING(l.order_key, 1, {n}) = {literal} "
            f"THEN SUBSTRING(l.order_key, {n + 1}) ELSE l.order_key END"
        )
    return f"""orders AS (
    SELECT customer_id, order_key, MIN(day) AS order_day
    FROM lines
    WHERE amount >= 0 AND order_key IS NOT NULL
    GROUP BY customer_id, order_key
),
valued_lines AS (
    SELECT l.customer_id, COALESCE(o.order_day, l.day) AS day, l.day AS own_day, l.amount,
           CASE WHEN l.amount >= 0 OR o.order_day IS NOT NULL THEN 1 ELSE 0 END
               AS in_day_value
    FROM lines l
    LEFT JOIN orders o
        ON l.amount < 0 AND o.customer_id = l.customer_id
           AND o.order_key = {link_key} AND o.order_day <= l.day
),
"""


def window_accounting_sql(table: str, as_of: dt.date) -> str:
    """One row: rows after ``as_of``, net spend on or before it, and the customers left out
    of the feature table (lines in the window but none a purchase) with their net spend.

    Money reconciles: ``net_spend`` = the table's ``total_spend`` summed + ``excluded_spend``.
    Shared by both engines, like :func:`feature_sql`. Only customers with a return can be
    left out, so the per-customer aggregate runs over the returners' lines alone.
    """
    in_window = f"CAST(timestamp AS DATE) <= DATE '{as_of.isoformat()}'"
    return f"""
WITH window_lines AS (
    SELECT customer_id, amount FROM {table} WHERE {in_window}
),
returners AS (
    SELECT DISTINCT customer_id FROM window_lines WHERE amount < 0
),
excluded AS (
    SELECT w.customer_id, SUM(w.amount) AS spend
    FROM window_lines w JOIN returners r ON r.customer_id = w.customer_id
    GROUP BY w.customer_id
    HAVING MAX(CASE WHEN w.amount >= 0 THEN 1 ELSE 0 END) = 0
)
SELECT
    (SELECT COUNT(*) FROM {table} WHERE NOT ({in_window})) AS rows_after,
    (SELECT COALESCE(SUM(amount), 0.0) FROM window_lines) AS net_spend,
    (SELECT COUNT(*) FROM excluded) AS excluded_customers,
    (SELECT COALESCE(SUM(spend), 0.0) FROM excluded) AS excluded_spend
"""


def population_gap_sql(aggregates: str) -> str:
    """The median gap of the repeat buyers in ``aggregates`` (NULL without any): the
    ``population`` CTE of :func:`feature_sql`, or a query of its own whose value the
    caller hands back as ``population_gap_days``."""
    return f"""SELECT PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY median_gap)
               AS population_gap
    FROM {aggregates}
    WHERE median_gap IS NOT NULL"""


def _order_parts(has_order_id: bool) -> tuple[str, str, str, str, str]:
    """How orders are counted: the monthly aggregate's extra column, the per-customer sum,
    the ``order_counts`` CTE, its join, and the column holding the count.

    Without order ids an order is a non-negative line: counted in the monthly aggregate and
    summed per customer, with the total spend, so that no extra aggregate reads the lines.
    With order ids the distinct count needs the lines (an order may span months).
    """
    if not has_order_id:
        month_orders = ",\n           SUM(CASE WHEN amount >= 0 THEN 1 ELSE 0 END) AS month_orders"
        return month_orders, "SUM(month_orders)", "", "", "c.n_orders"
    order_counts = """order_counts AS (
    SELECT customer_id,
           COUNT(DISTINCT CASE WHEN amount >= 0 THEN order_key END) AS n_orders
    FROM lines
    GROUP BY customer_id
),
"""
    orders_join = "\n    JOIN order_counts o ON o.customer_id = c.customer_id"
    return "", "0", order_counts, orders_join, "o.n_orders"


def _favorite_parts(has_product: bool) -> tuple[str, str, str]:
    """The favourite product's CTEs, their join and the column.

    Only the CTEs the inputs need: DuckDB materializes a CTE read more than once (``lines``
    when the empty product branch also read it), which cost more than an aggregate.
    """
    if not has_product:
        return "", "", "CAST(NULL AS STRING)"
    favorite = """product_counts AS (
    SELECT customer_id, product, COUNT(*) AS n_lines, SUM(amount) AS product_spend
    FROM lines
    WHERE product IS NOT NULL AND amount >= 0
    GROUP BY customer_id, product
),
favorite AS (
    SELECT customer_id, product AS favorite_product
    FROM (
        SELECT customer_id, product,
               ROW_NUMBER() OVER (PARTITION BY customer_id
                                  ORDER BY n_lines DESC, product_spend DESC, product) AS rank
        FROM product_counts
    ) ranked_products
    WHERE rank = 1
),
"""
    return (
        favorite,
        "    LEFT JOIN favorite f ON f.customer_id = c.customer_id",
        "f.favorite_product",
    )
