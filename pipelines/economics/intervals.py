"""Confidence intervals for campaign uplift: a proportion, a difference of two, a mean gap.

Win-back groups are small and their response rates sit near 0, where the textbook Wald
interval is too narrow and can even leave [-1, 1]. The uplift in response is therefore
reported with Newcombe's hybrid score interval (method 10 of Newcombe, 1998), built from
two Wilson intervals; the Wald interval is kept beside it for comparison. Spend per contact
is a mean, compared with a normal (Welch) interval. All functions are vectorised.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

#: Two-sided 95% normal quantile.
Z_95 = 1.959963984540054


def wilson_interval(successes: Any, n: Any, z: float = Z_95) -> tuple[Any, Any]:
    """Wilson score interval of a proportion (vectorised; n > 0)."""
    successes = np.asarray(successes, float)
    n = np.asarray(n, float)
    p = successes / n
    denominator = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z / denominator * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def newcombe_interval(
    successes_1: Any, n_1: Any, successes_2: Any, n_2: Any, z: float = Z_95
) -> tuple[Any, Any]:
    """Newcombe's hybrid score interval for ``p1 - p2`` (method 10, Newcombe 1998).

    Built from the two Wilson intervals; unlike the Wald interval it keeps its coverage for
    small groups and rates near 0 or 1, which is where win-back response rates live.
    """
    p1 = np.asarray(successes_1, float) / np.asarray(n_1, float)
    p2 = np.asarray(successes_2, float) / np.asarray(n_2, float)
    l1, u1 = wilson_interval(successes_1, n_1, z)
    l2, u2 = wilson_interval(successes_2, n_2, z)
    difference = p1 - p2
    lower = difference - np.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    upper = difference + np.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return lower, upper


def wald_interval(
    successes_1: Any, n_1: Any, successes_2: Any, n_2: Any, z: float = Z_95
) -> tuple[Any, Any]:
    """Wald interval for ``p1 - p2`` (shown for comparison; too narrow for small groups)."""
    n_1 = np.asarray(n_1, float)
    n_2 = np.asarray(n_2, float)
    p1 = np.asarray(successes_1, float) / n_1
    p2 = np.asarray(successes_2, float) / n_2
    half = z * np.sqrt(p1 * (1 - p1) / n_1 + p2 * (1 - p2) / n_2)
    return p1 - p2 - half, p1 - p2 + half


def mean_difference_interval(
    treatment: np.ndarray, control: np.ndarray, z: float = Z_95
) -> tuple[float, float, float]:
    """Difference of means with a normal (Welch) interval: (difference, lower, upper)."""
    treatment = np.asarray(treatment, float)
    control = np.asarray(control, float)
    difference = float(treatment.mean() - control.mean())
    variance = 0.0
    for sample in (treatment, control):
        if len(sample) > 1:
            variance += float(sample.var(ddof=1)) / len(sample)
    half = z * math.sqrt(variance)
    return difference, difference - half, difference + half
