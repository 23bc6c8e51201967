"""How an amount of money is written, so the list's reasons, the console and the report agree.

One rule: the currency symbol of ``configs/channels.yaml`` before the amount, thousands
separated by commas, a fixed number of decimals; a missing amount is a dash.
"""

from __future__ import annotations

import math


def money(amount: float | None, currency: str, decimals: int = 2) -> str:
    """``money(1234.5, "$") == "$1,234.50"``; ``None`` or NaN is ``"-"``."""
    if amount is None or (isinstance(amount, float) and math.isnan(amount)):
        return "-"
    return f"{currency}{amount:,.{decimals}f}"
