"""Customers collapsed to their unique patterns of feature values, for fast likelihoods.

A million customers hold only thousands of distinct ``(x, t_x, T)`` (or ``(x, m)``)
combinations; :mod:`models.likelihoods` evaluates each once, weighted by how many
customers share it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

#: A column of integers in ``[0, _MAX_DENSE_CODE]`` is its own code: no hashing needed.
_MAX_DENSE_CODE = 100_000
#: Patterns are keyed by one int64 per row while the columns' code ranges multiply below this.
_MAX_ROW_KEYS = 2**63


@dataclass(frozen=True)
class Patterns:
    """Unique rows of some columns: per column, the unique values and each pattern's code.

    ``values[j][codes[j][i]]`` is column ``j`` of pattern ``i``; ``weights[i]`` counts the
    rows (customers) that share pattern ``i``. ``values`` may hold values no row has.
    """

    values: list[np.ndarray]
    codes: list[np.ndarray]
    weights: np.ndarray

    def column(self, j: int) -> np.ndarray:
        return self.values[j][self.codes[j]]


def unique_patterns(*columns: np.ndarray) -> Patterns:
    """Collapse equally long columns to their unique rows and count each row's customers.

    Each column is first coded as integers (integer-valued columns with a small range, such
    as day counts, are their own codes; others are hashed with ``pd.factorize``); the codes
    are then combined into one integer per row, which sorts several times faster than
    ``np.unique(..., axis=0)`` on a million rows.
    """
    encoded = [integer_codes(np.asarray(column, dtype=np.float64)) for column in columns]
    codes = [codes for codes, _ in encoded]
    sizes = [len(values) for _, values in encoded]
    if math.prod(sizes) < _MAX_ROW_KEYS:
        keys, counts = np.unique(np.ravel_multi_index(codes, sizes), return_counts=True)
        pattern_codes = list(np.unravel_index(keys, sizes))
    else:  # only with millions of distinct non-integer values in several columns
        rows, counts = np.unique(np.column_stack(codes), axis=0, return_counts=True)
        pattern_codes = list(rows.T)
    return Patterns(
        values=[values for _, values in encoded],
        codes=pattern_codes,
        weights=counts.astype(np.float64),
    )


def integer_codes(column: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes of a float column and the values they stand for (``values[codes]``).

    Integer-valued columns with a small range (day counts) are offset by their minimum
    instead of hashed, which is several times faster; their ``values`` then cover the whole
    range, including values no row has.
    """
    if len(column) and column.min() >= 0 and column.max() <= _MAX_DENSE_CODE:
        as_int = column.astype(np.int64)
        if np.array_equal(as_int, column):
            low = as_int.min()
            return as_int - low, np.arange(low, as_int.max() + 1, dtype=np.float64)
    codes, values = pd.factorize(column)
    return codes.astype(np.int64), np.asarray(values, dtype=np.float64)
