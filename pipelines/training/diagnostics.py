"""BTYD diagnostic plots, lifetimes' set, drawn from winback's own fitted models.

lifetimes users judge a BG/NBD fit by four pictures (``lifetimes/plotting.py``); a data
scientist moving to winback should find them in every training run and in the report:

* **frequency/recency matrix**: expected purchases in the next period by the customer's
  repeat-purchase days (frequency) and the day of their last purchase (recency);
* **P(alive) matrix**: the same grid, the probability the customer is still active;
* **calibration vs holdout**: mean actual purchases in a held-out window against the
  model's prediction, by calibration-period frequency -- the out-of-time check;
* **period transactions**: how many customers made 0, 1, 2 ... repeat purchases, actual
  against the model.

Differences from lifetimes, on purpose: the matrices cover the frequencies of 99% of the
customers (lifetimes' default, the largest frequency, leaves the plot empty but for one
corner) and mask the cells no day-based history can have (recency < frequency, or a
one-time buyer with recency > 0); the period-transactions "model" bars are the model's
*expected* number of customers at each customer's own age ``T`` (the sum of
``probability_of_n_purchases_up_to_time``), not one random simulation, so the bars do not
change from run to run; the last bar and the last calibration group collect everything
from ``max_frequency`` up. All functions are vectorised and return a
:class:`matplotlib.figure.Figure` (Agg, no pyplot state, safe in a server).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
from scipy.stats import nbinom  # noqa: E402

from models.btyd import BTYDModel  # noqa: E402
from pipelines.training.fit import fit_btyd  # noqa: E402

#: lifetimes' ``max_frequency`` / ``n`` of the bar and line plots.
MAX_FREQUENCY = 7
#: The matrices cover the repeat-purchase days of this share of the customers.
MATRIX_FREQUENCY_QUANTILE = 0.99
#: At most this many recency rows in a matrix (a ten-year daily history is 3,650 days).
MATRIX_MAX_ROWS = 200
#: Gauss-Legendre nodes of the Pareto/NBD period-count integral (exact to ~1e-12).
_QUADRATURE_NODES = 64
_DPI = 110


@dataclass(frozen=True)
class CalibrationSplit:
    """A calibration period and the window after it: the model fitted on the features at
    the cutoff, those features, and each customer's purchase days in the window."""

    model: Any
    features: pd.DataFrame
    holdout_purchases: pd.Series
    duration_days: float


def _figure(height: float, bottom: float) -> tuple[Figure, Any]:
    """A figure with fixed margins: a layout engine (constrained, tight) would draw every
    figure twice and triple the time a training run spends on these plots."""
    fig = Figure(figsize=(6.4, height), dpi=_DPI)
    fig.subplots_adjust(left=0.12, right=0.97, bottom=bottom, top=0.88)
    return fig, fig.subplots()


def matrix_grid(features: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, float]:
    """Frequencies, recencies and the age ``T`` of the matrices, from the customers' data.

    Customers of the largest age ``T`` (lifetimes' layout): recency runs from 0 to ``T``.
    """
    max_T = float(features["T"].max())
    top = np.quantile(features["frequency"].to_numpy(float), MATRIX_FREQUENCY_QUANTILE)
    frequencies = np.arange(max(int(top), 1) + 1, dtype=float)
    step = max(1, int(np.ceil((max_T + 1) / MATRIX_MAX_ROWS)))
    recencies = np.arange(0.0, max_T + 1, step)
    return frequencies, recencies, max_T


def possible_cells(frequencies: np.ndarray, recencies: np.ndarray) -> np.ndarray:
    """``[recency, frequency]`` mask of the histories day-based data can have: a customer
    with x repeat purchase days bought last on day x or later; one without, on day 0."""
    recency, frequency = np.meshgrid(recencies, frequencies, indexing="ij")
    return np.where(frequency == 0, recency == 0, recency >= frequency)


def _matrix_figure(
    values: np.ndarray,
    frequencies: np.ndarray,
    recencies: np.ndarray,
    title: str,
    colour_label: str,
    cmap: str,
    limits: tuple[float | None, float | None] = (None, None),
) -> Figure:
    fig, ax = _figure(4.8, bottom=0.1)
    masked = np.ma.masked_where(~possible_cells(frequencies, recencies), values)
    half_step = (recencies[1] - recencies[0]) / 2 if len(recencies) > 1 else 0.5
    image = ax.imshow(
        masked,
        origin="lower",
        aspect="auto",
        interpolation="none",
        vmin=limits[0],
        vmax=limits[1],
        cmap=matplotlib.colormaps[cmap].with_extremes(bad="#eeeeee"),
        extent=(
            frequencies[0] - 0.5,
            frequencies[-1] + 0.5,
            recencies[0] - half_step,
            recencies[-1] + half_step,
        ),
    )
    fig.colorbar(image, ax=ax, label=colour_label)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set(
        xlabel="frequency (repeat purchase days)",
        ylabel="recency (day of last purchase, days after the first)",
        title=title,
    )
    return fig


def plot_frequency_recency_matrix(model: Any, features: pd.DataFrame, t: float) -> Figure:
    """Expected purchases in the next ``t`` days on the frequency/recency grid."""
    frequencies, recencies, T = matrix_grid(features)
    recency, frequency = np.meshgrid(recencies, frequencies, indexing="ij")
    values = model.conditional_expected_number_of_purchases_up_to_time(t, frequency, recency, T)
    return _matrix_figure(
        values,
        frequencies,
        recencies,
        f"Expected purchases in the next {t:g} days\n(customers first seen {T:g} days ago)",
        "expected purchases",
        "viridis",
    )


def plot_probability_alive_matrix(model: Any, features: pd.DataFrame) -> Figure:
    """P(alive) on the frequency/recency grid (the model's ``conditional_probability_alive``)."""
    frequencies, recencies, T = matrix_grid(features)
    recency, frequency = np.meshgrid(recencies, frequencies, indexing="ij")
    values = model.conditional_probability_alive(frequency, recency, T)
    return _matrix_figure(
        values,
        frequencies,
        recencies,
        f"P(alive) by frequency and recency\n(customers first seen {T:g} days ago)",
        "P(alive)",
        "RdYlGn",
        (0.0, 1.0),
    )


def holdout_purchases(calibration: pd.DataFrame, later: pd.DataFrame) -> pd.Series:
    """Purchase days in the window of each customer of ``calibration`` (both by customer_id):
    the growth of ``frequency`` from the cutoff's features to the window end's, which counts
    exactly the window's purchase days (``features.sql``: frequency = purchase days - 1)."""
    after = later["frequency"].reindex(calibration.index)
    if after.isna().any():
        raise ValueError(
            f"{int(after.isna().sum())} customers of the calibration period are missing from "
            "the features at the end of the window: pass features of the same transactions"
        )
    return (after - calibration["frequency"]).astype(float).rename("holdout_purchases")


def _frequency_bucket(frequency: pd.Series, max_frequency: int) -> pd.Series:
    return frequency.clip(upper=max_frequency).astype(int)


def _bucket_labels(buckets: pd.Index, max_frequency: int) -> list[str]:
    return [f"{b}+" if b == max_frequency else str(b) for b in buckets]


def calibration_holdout_table(
    split: CalibrationSplit, max_frequency: int = MAX_FREQUENCY
) -> pd.DataFrame:
    """By calibration frequency (``max_frequency`` and up pooled): customers, mean actual
    and mean predicted purchase days in the window."""
    features = split.features
    predicted = split.model.conditional_expected_number_of_purchases_up_to_time(
        split.duration_days,
        features["frequency"].to_numpy(float),
        features["recency"].to_numpy(float),
        features["T"].to_numpy(float),
    )
    frame = pd.DataFrame(
        {
            "bucket": _frequency_bucket(features["frequency"], max_frequency).to_numpy(),
            "actual": split.holdout_purchases.reindex(features.index).to_numpy(float),
            "predicted": predicted,
        }
    )
    table = frame.groupby("bucket").agg(
        customers=("actual", "size"), actual=("actual", "mean"), predicted=("predicted", "mean")
    )
    table.index.name = "calibration_frequency"
    return table


def plot_calibration_vs_holdout(split: CalibrationSplit) -> Figure:
    """Mean actual vs predicted purchases in the window, by calibration frequency."""
    table = calibration_holdout_table(split)
    fig, ax = _figure(4.4, bottom=0.17)
    x = table.index.to_numpy()
    ax.plot(x, table["actual"].to_numpy(), marker="o", label="actual")
    ax.plot(x, table["predicted"].to_numpy(), marker="s", linestyle="--", label="model")
    labels = _bucket_labels(table.index, MAX_FREQUENCY)
    ax.set_xticks(x, [f"{b}\nn={c:,}" for b, c in zip(labels, table["customers"], strict=True)])
    ax.tick_params(axis="x", labelsize=7)
    ax.set(
        xlabel="repeat purchase days in the calibration period (n: customers)",
        ylabel=f"mean purchase days in the next {split.duration_days:g} days",
        title="Calibration period vs holdout window",
    )
    ax.legend(loc="upper left")
    return fig


def probability_of_n_purchases(model: Any, t: np.ndarray, n: np.ndarray) -> np.ndarray:
    """P(exactly n repeat purchases in (0, t]) of a new customer, broadcast over t and n.

    The model's ``probability_of_n_purchases_up_to_time`` where it has one (BG/NBD,
    MBG/NBD); Pareto/NBD has none yet (lifetimes neither), so its closed form's integral is
    done here: with the lifetime marginally Lomax, ``F(τ) = 1 - (β/(β+τ))^s``,

        P(X(t)=n) = (1-F(t)) NB(n; r, α/(α+t)) + ∫_0^F(t) NB(n; r, α/(α+F⁻¹(u))) du

    (alive throughout, or dead at τ having bought as a Gamma-Poisson over τ), whose
    integrand is smooth in u, so 64 Gauss-Legendre nodes are exact to ~1e-12.
    """
    if hasattr(model, "probability_of_n_purchases_up_to_time"):
        return model.probability_of_n_purchases_up_to_time(t, n)
    if tuple(model.params_.index) != ("r", "alpha", "s", "beta"):
        raise TypeError(f"{type(model).__name__} has no probability_of_n_purchases_up_to_time")
    r, alpha, s, beta = (float(v) for v in model.params_)
    t, n = np.broadcast_arrays(np.asarray(t, float), np.asarray(n, float))
    dead_by_t = -np.expm1(-s * np.log1p(t / beta))
    nodes, weights = np.polynomial.legendre.leggauss(_QUADRATURE_NODES)
    u = dead_by_t[..., None] * (nodes + 1.0) / 2.0  # nodes on [0, F(t)]
    death_time = beta * np.expm1(-np.log1p(-u) / s)
    while_alive = nbinom.pmf(n[..., None], r, alpha / (alpha + death_time))
    integral = dead_by_t / 2.0 * (while_alive * weights).sum(axis=-1)
    return (1.0 - dead_by_t) * nbinom.pmf(n, r, alpha / (alpha + t)) + integral


def period_transactions_table(
    model: Any, features: pd.DataFrame, max_frequency: int = MAX_FREQUENCY
) -> pd.DataFrame:
    """Customers with 0, 1, ... ``max_frequency``+ repeat purchase days: actual, and the
    model's expectation ``sum_i P(X(T_i) = n)`` at each customer's own age (computed once
    per distinct ``T``)."""
    ages, customers_of_age = np.unique(features["T"].to_numpy(float), return_counts=True)
    n = np.arange(max_frequency, dtype=float)
    probability = probability_of_n_purchases(model, ages[:, None], n[None, :])
    expected = (customers_of_age[:, None] * probability).sum(axis=0)
    expected = np.append(expected, len(features) - expected.sum())
    actual = _frequency_bucket(features["frequency"], max_frequency).value_counts()
    table = pd.DataFrame(
        {
            "actual": actual.reindex(range(max_frequency + 1), fill_value=0).to_numpy(),
            "model": expected,
        },
        index=pd.Index(range(max_frequency + 1), name="repeat_purchase_days"),
    )
    return table


def plot_period_transactions(model: Any, features: pd.DataFrame) -> Figure:
    """Customers by repeat purchase days: actual against the model's expectation."""
    table = period_transactions_table(model, features)
    fig, ax = _figure(4.4, bottom=0.12)
    x = np.arange(len(table))
    ax.bar(x - 0.2, table["actual"].to_numpy(), width=0.4, label="actual")
    ax.bar(x + 0.2, table["model"].to_numpy(), width=0.4, label="model (expected)")
    ax.set_xticks(x, _bucket_labels(table.index, MAX_FREQUENCY))
    ax.set(
        xlabel="repeat purchase days (frequency)",
        ylabel="customers",
        title=f"Repeat purchases per customer: actual vs model ({len(features):,} customers)",
    )
    ax.legend()
    return fig


def calibration_split(
    calibration: pd.DataFrame,
    later: pd.DataFrame,
    transaction_model: str,
    penalizer_coef: float,
    duration_days: float,
) -> CalibrationSplit:
    """Fit the transaction model on the cutoff's features (by customer_id) as training does,
    and count each customer's window purchases from the features at the window end."""
    model = fit_btyd(calibration, transaction_model, penalizer_coef).transaction_model_
    return CalibrationSplit(
        model, calibration, holdout_purchases(calibration, later), float(duration_days)
    )


def diagnostic_figures(
    btyd: BTYDModel,
    features: pd.DataFrame,
    horizon_days: float,
    split: CalibrationSplit | None = None,
) -> dict[str, Figure]:
    """The four plots of a fitted bundle on its customers' ``features`` (by customer_id);
    without a ``split`` there is no calibration-vs-holdout plot."""
    model = btyd.transaction_model_
    figures = {
        "frequency_recency_matrix": plot_frequency_recency_matrix(model, features, horizon_days),
        "probability_alive_matrix": plot_probability_alive_matrix(model, features),
        "period_transactions": plot_period_transactions(model, features),
    }
    if split is not None:
        figures["calibration_vs_holdout"] = plot_calibration_vs_holdout(split)
    return figures


def write_diagnostics(
    folder: Path, btyd: BTYDModel, features: pd.DataFrame, evaluation: Any, horizon_days: float
) -> list[Path]:
    """The four plots as PNG files in ``folder``, for a training run: the scorer's BTYD on
    the as-of ``features``, and the held-out window of ``evaluation`` (features at its
    cutoff, purchases up to the as-of date) for calibration vs holdout."""
    split = None
    if getattr(evaluation, "features", None) is not None:
        split = calibration_split(
            evaluation.features.set_index("customer_id"),
            features,
            btyd.transaction_model,
            btyd.penalizer_coef,
            evaluation.horizon_days,
        )
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, fig in diagnostic_figures(btyd, features, horizon_days, split).items():
        paths.append(folder / f"{name}.png")
        fig.savefig(paths[-1], dpi=_DPI)
    return paths
