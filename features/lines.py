"""Order lines: a line's value, whether it is a return, and which lines are not purchases.

Why a module of its own: real order-line exports (an online shop's invoice lines) carry
quantities and unit prices instead of a line value, cancellations with invoice prefixes
such as ``C`` and negative quantities, postage and fee lines, and the odd absurd value.
Read naively, unit prices are summed as revenue, returns go unseen and a postage line is a
purchase day. The contract (:mod:`features.contract`) renders these expressions into its
one typing query, so every line is judged once, in SQL, before any feature is built.

The rules (settings in the ``lines`` section of ``configs/features.yaml``):

* value: the ``amount`` column when there is one; else ``quantity x unit_price``. With
  both, ``amount`` wins and the lines where ``|amount|`` and ``|quantity x unit_price|``
  differ by more than a cent are counted (:func:`line_accounting`).
* return: a negative value or quantity, or an ``order_id`` with the cancellation prefix;
  a return's value always counts negative, whatever sign the export gave it.
* ``absurd_amount``: an infinite value or one beyond ``max_abs_amount``.
* ``non_product_line``: a product code listed in ``non_product_codes``, a zero or negative
  ``unit_price``, or a return worth nothing; these lines move no goods, so counting them
  would invent purchase days. Quarantined with their value, so money reconciles.
"""

from __future__ import annotations

import math

import duckdb

from features.config import LineRules

#: Quarantine reasons added by the line rules, in the order they are checked.
LINE_REASONS = ("absurd_amount", "non_product_line")
#: Largest difference between ``|amount|`` and ``|quantity x unit_price|`` that is rounding.
MISMATCH_TOLERANCE = 0.01


def _text_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def value_expressions(has_amount: bool, has_quantity: bool, has_unit_price: bool) -> str:
    """Select-list of the ``valued`` step: ``p_value`` (the line's value as given or
    computed) and ``p_computed`` (``quantity x unit_price``, NULL without both)."""
    computed = (
        "quantity * unit_price" if has_quantity and has_unit_price else "CAST(NULL AS DOUBLE)"
    )
    given = "p_given_amount" if has_amount else computed
    return f"{given} AS p_value, {computed} AS p_computed"


def return_expression(rules: LineRules, has_quantity: bool, has_order_id: bool) -> str:
    """SQL true for a return line: negative value or quantity, or a cancellation order id."""
    conditions = ["p_value < 0"]
    if has_quantity:
        conditions.append("COALESCE(quantity < 0, false)")
    prefix = rules.cancellation_order_prefix
    if prefix and has_order_id:
        conditions.append(
            f"COALESCE(SUBSTRING(order_id, 1, {len(prefix)}) = {_text_literal(prefix)}, false)"
        )
    return "(" + " OR ".join(conditions) + ")"


def signed_amount_expression() -> str:
    """A return counts negative whatever sign its line has; other lines keep theirs."""
    return "CASE WHEN p_is_return THEN -ABS(p_value) ELSE p_value END"


def line_reason_branches(rules: LineRules, has_product: bool, has_unit_price: bool) -> str:
    """``WHEN ... THEN reason`` branches for the line rules, after ``non_numeric_amount``
    (``absurd_amount``) and after ``future_timestamp`` (``non_product_line``)."""
    limit = float(rules.max_abs_amount)
    beyond = f" OR ABS(p_value) > {limit!r}" if math.isfinite(limit) else ""
    absurd = f"WHEN NOT isfinite(p_value){beyond} THEN 'absurd_amount'"
    non_product = ["(p_is_return AND p_value = 0)"]
    if has_unit_price:
        non_product.append("COALESCE(unit_price <= 0, false)")
    codes = [code.strip().upper() for code in rules.non_product_codes if code.strip()]
    if has_product and codes:
        listed = ", ".join(_text_literal(code) for code in codes)
        non_product.append(f"COALESCE(UPPER(product) IN ({listed}), false)")
    return absurd, f"WHEN {' OR '.join(non_product)} THEN 'non_product_line'"


def line_accounting(con: duckdb.DuckDBPyConnection) -> tuple[float, dict[str, float], int]:
    """From the contract's ``typed`` table: the value of the accepted lines, the value of
    the quarantined lines by reason (where a plausible value was read), and the accepted
    lines whose ``amount`` disagrees with ``quantity x unit_price``."""
    accepted, mismatches = con.execute(
        f"""SELECT COALESCE(SUM(p_amount), 0.0),
                   COUNT(*) FILTER (WHERE ABS(ABS(p_value) - ABS(p_computed))
                                    > {MISMATCH_TOLERANCE!r})
            FROM typed WHERE reason IS NULL"""
    ).fetchall()[0]
    by_reason = dict(
        con.execute(
            """SELECT reason, COALESCE(SUM(CASE WHEN reason <> 'absurd_amount'
                                             AND isfinite(p_amount) THEN p_amount END), 0.0)
               FROM typed WHERE reason IS NOT NULL GROUP BY reason ORDER BY reason"""
        ).fetchall()
    )
    return float(accepted), {k: float(v) for k, v in by_reason.items()}, int(mismatches)
