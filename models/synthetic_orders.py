"""An online shop's order-line export, simulated with known truth.

Why: CDNOW is one clean value per purchase. Real exports (an online retailer's invoice
lines) are what break a pipeline: ``Quantity`` and ``UnitPrice`` instead of a line value,
cancellation invoices (``C`` + number, negative quantities), postage and fee lines,
guest orders without a customer id, ids read as floats (``17850.0``), customers whose
returns exceed what they bought inside the export. The real export is held out; this
generator produces the same shape, so tests and benchmarks can run every command on it
and judge the models against a truth they never see.

The process (time in days from ``start``):

* every customer has their **own cadence**: a typical gap between orders
  (``Gamma(2, 25)`` days, 5..200) and a regularity (log-normal jitter of the gaps with
  ``sigma`` 0.15..0.9): a weekly reorderer and a seasonal buyer live side by side;
* after each order the customer leaves for good with their own probability
  (``Beta(1, 7)``); the truth keeps the day they left (``death_day``) or ``None``;
* an order has ``1 + Poisson(basket)`` lines of products drawn by popularity (Zipf), a
  quantity ``1 + Poisson(q)`` per line (wholesale buyers buy by the dozen) at the
  product's unit price; some orders carry a postage line;
* some orders are partly cancelled a few days later: a ``C`` invoice with negative
  quantities; half of them reuse the cancelled invoice's number (``C`` + number, so the
  return links to its order), half get a number of their own (as most exports do);
* guest orders have no customer id; a few lines are fees or manual adjustments (``M``,
  ``BANK CHARGES``, a bad-debt adjustment with a negative price) or free (price 0);
* one customer has only returns (their purchases predate the export) and one returns
  more than they bought in it.

``generate_order_lines`` returns the export (strings and floats as a CSV reader sees
them, ``CustomerID`` like ``17850.0``) and the per-customer truth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

#: The column mapping that reads the export into the data contract.
EXPORT_COLUMN_MAP = (
    "customer_id=CustomerID,timestamp=InvoiceDate,order_id=InvoiceNo,"
    "product=StockCode,quantity=Quantity,unit_price=UnitPrice"
)
EXPORT_COLUMNS = ("InvoiceNo", "StockCode", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID")
#: First customer id, as in the usual UK online-retail export.
FIRST_CUSTOMER_ID = 12346
N_PRODUCTS = 400
POSTAGE_SHARE = 0.08
GUEST_ORDER_SHARE = 0.02
FEE_LINE_SHARE = 0.004


@dataclass(frozen=True)
class _Customer:
    """One customer's latent habits (the truth) and orders."""

    customer_id: str
    first_day: float
    gap_days: float
    jitter: float
    dropout: float
    basket: float
    quantity: float
    cancel_share: float


def generate_order_lines(
    n_customers: int = 2000,
    *,
    start: str = "2010-12-01",
    days: int = 373,
    seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(export, truth)``: order lines over ``days`` days from ``start``, and one truth
    row per customer (index ``customer_id`` as the CRM keeps it, e.g. ``"17850"``):
    ``gap_days``, ``jitter``, ``dropout``, ``first_day``, ``death_day`` (NaN if never
    left), ``n_orders``."""
    rng = np.random.default_rng(seed)
    products = _catalogue(rng)
    rows: list[tuple] = []
    truth: list[dict] = []
    invoice = iter(range(536365, 10_000_000))
    for index in range(n_customers):
        customer = _draw_customer(rng, FIRST_CUSTOMER_ID + index, days)
        order_days, death_day = _order_days(rng, customer, days)
        for day in order_days:
            rows += _order_rows(rng, customer, day, next(invoice), products, days, invoice)
        truth.append(
            {
                "customer_id": customer.customer_id,
                "gap_days": customer.gap_days,
                "jitter": customer.jitter,
                "dropout": customer.dropout,
                "first_day": customer.first_day,
                "death_day": death_day,
                "n_orders": len(order_days),
            }
        )
    rows += _guest_and_odd_rows(rng, n_customers, days, products, invoice)
    export = _to_frame(rows, pd.Timestamp(start))
    return export, pd.DataFrame(truth).set_index("customer_id")


@dataclass(frozen=True)
class _Catalogue:
    """Products: a code like ``85123A``, a unit price, and cumulative popularity (Zipf)."""

    codes: list[str]
    prices: list[float]
    cumulative: np.ndarray

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Indices of ``n`` products drawn by popularity."""
        return np.minimum(np.searchsorted(self.cumulative, rng.random(n)), len(self.codes) - 1)


def _catalogue(rng: np.random.Generator) -> _Catalogue:
    codes = [f"{20000 + 97 * i}{'ABC'[i % 3] if i % 4 == 0 else ''}" for i in range(N_PRODUCTS)]
    weights = 1.0 / np.arange(1, N_PRODUCTS + 1) ** 0.9
    prices = np.round(np.exp(rng.normal(np.log(2.5), 0.7, N_PRODUCTS)), 2).clip(0.19, 50.0)
    return _Catalogue(codes, prices.tolist(), np.cumsum(weights / weights.sum()))


def _draw_customer(rng: np.random.Generator, number: int, days: int) -> _Customer:
    return _Customer(
        customer_id=f"{number}.0",
        first_day=float(rng.uniform(0, days * 0.85)),
        gap_days=float(np.clip(rng.gamma(2.0, 25.0), 5.0, 200.0)),
        jitter=float(rng.uniform(0.15, 0.9)),
        dropout=float(rng.beta(1.0, 7.0)),
        basket=float(rng.gamma(2.0, 3.0)),
        quantity=float(rng.gamma(1.5, 3.0)),
        cancel_share=float(rng.beta(1.0, 12.0)),
    )


def _order_days(
    rng: np.random.Generator, customer: _Customer, days: int
) -> tuple[list[float], float]:
    """Order times until the customer leaves or the export ends; and the day they left."""
    times, day = [], customer.first_day
    while day < days:
        times.append(day)
        if rng.random() < customer.dropout:
            return times, day
        day += customer.gap_days * float(rng.lognormal(0.0, customer.jitter))
    return times, float("nan")


def _order_rows(
    rng: np.random.Generator,
    customer: _Customer,
    day: float,
    number: int,
    products: _Catalogue,
    days: int,
    invoice,
) -> list[tuple]:
    """One order's lines, its postage line, and perhaps its partial cancellation."""
    n_lines = 1 + int(rng.poisson(customer.basket))
    picked = products.draw(rng, n_lines).tolist()
    quantities = (1 + rng.poisson(customer.quantity, n_lines)).tolist()
    order = [
        (str(number), products.codes[i], q, day, products.prices[i])
        for i, q in zip(picked, quantities, strict=True)
    ]
    if rng.random() < POSTAGE_SHARE:
        order.append((str(number), "POST", 1, day, float(rng.choice([18.0, 40.0]))))
    rows = [(*line, customer.customer_id) for line in order]
    if rng.random() < customer.cancel_share:
        cancel_day = min(day + float(rng.uniform(0.1, 10.0)), days - 0.01)
        linked = rng.random() < 0.5
        cancel_number = f"C{number}" if linked else f"C{next(invoice)}"
        for _, code, quantity, _, price in order[: 1 + int(rng.integers(0, 2))]:
            returned = -int(rng.integers(1, quantity + 1))
            rows.append((cancel_number, code, returned, cancel_day, price, customer.customer_id))
    return rows


def _guest_and_odd_rows(
    rng: np.random.Generator, n_customers: int, days: int, products: _Catalogue, invoice
) -> list[tuple]:
    """Guest orders (no id), fee and adjustment lines, free lines, and two customers
    whose returns are all, or more than all, their purchases in the export."""
    rows: list[tuple] = []
    n_guest = int(GUEST_ORDER_SHARE * n_customers * 4)
    for _ in range(n_guest):
        number, day = next(invoice), float(rng.uniform(0, days))
        for i in products.draw(rng, 1 + int(rng.poisson(4))):
            rows.append((str(number), products.codes[i], 1, day, products.prices[i], ""))
    some_customer = [f"{FIRST_CUSTOMER_ID + int(i)}.0" for i in rng.integers(0, n_customers, 12)]
    odd = [
        ("M", 1, 12.5),  # manual adjustment
        ("BANK CHARGES", 1, 15.0),
        ("B", 1, -1100.0),  # bad-debt adjustment: negative price
        ("DOT", 1, 35.0),
    ]
    for k, customer_id in enumerate(some_customer):
        code, quantity, price = odd[k % len(odd)]
        rows.append(
            (str(next(invoice)), code, quantity, float(rng.uniform(0, days)), price, customer_id)
        )
    rows.append((str(next(invoice)), products.codes[0], 6, days * 0.5, 0.0, some_customer[0]))
    only_returns, over_returner = f"{FIRST_CUSTOMER_ID - 1}.0", f"{FIRST_CUSTOMER_ID - 2}.0"
    rows.append((f"C{next(invoice)}", products.codes[1], -12, days * 0.2, 2.1, only_returns))
    rows.append((f"C{next(invoice)}", products.codes[2], -3, days * 0.4, 4.2, only_returns))
    rows.append((str(next(invoice)), products.codes[3], 2, days * 0.3, 5.0, over_returner))
    rows.append((str(next(invoice)), products.codes[4], 1, days * 0.35, 5.0, over_returner))
    rows.append((f"C{next(invoice)}", products.codes[3], -10, days * 0.35, 5.0, over_returner))
    return rows


def _to_frame(rows: list[tuple], start: pd.Timestamp) -> pd.DataFrame:
    """The export as a CSV reader sees it: minute timestamps, sorted by invoice time."""
    frame = pd.DataFrame(
        rows, columns=["InvoiceNo", "StockCode", "Quantity", "day", "UnitPrice", "CustomerID"]
    )
    # Shop hours: 8:00 to 18:00 on the order's day, to the minute.
    whole_days = np.floor(frame["day"].to_numpy(float))
    minutes = 8 * 60 + np.floor((frame["day"].to_numpy(float) - whole_days) * 600)
    frame["InvoiceDate"] = (
        start + pd.to_timedelta(whole_days, unit="D") + pd.to_timedelta(minutes, unit="min")
    ).strftime("%Y-%m-%d %H:%M:%S")
    frame = frame.sort_values(["InvoiceDate", "InvoiceNo"], kind="stable")
    return frame.loc[:, list(EXPORT_COLUMNS)].reset_index(drop=True)
