"""BG/NBD and MBG/NBD transaction models: who is still a customer, and when they buy next.

Both models say: while active, a customer buys as a Poisson process with rate
``lambda ~ Gamma(r, rate=alpha)``; after a purchase they drop out for good with probability
``p ~ Beta(a, b)``. BG/NBD (Fader, Hardie & Lee 2005) lets customers drop out only after a
*repeat* purchase, so a customer who never came back is certainly "alive" -- which is why
``p_dormant`` below is the probability of no purchase over the horizon, not
``1 - p_alive``. MBG/NBD (Batislam, Denizel & Filiztekin 2007) also lets them drop out right
after the first purchase.

All closed forms take numpy arrays (``frequency`` = x repeat purchase days, ``recency`` =
t_x, ``T`` = age, all in days for ``freq='D'`` features) and broadcast like numpy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Self

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy.special import betaln, expit, hyp2f1

from models.btyd_api import LifetimesParameterErrors, customer_weights
from models.estimator import MaximumLikelihoodModel, convergence_error, feature_arrays
from models.likelihoods import ConvergenceError, MaximumLikelihoodFit, fit_beta_geo
from models.patterns import integer_codes

RFM_COLUMNS = ("frequency", "recency", "T")
#: The search horizon of the next order date, in days: beyond two years a date is no
#: forecast a win-back decision can use, and the scores' horizon is months.
NEXT_ORDER_MAX_DAYS = 730.0


class _BetaGeoFamilyModel(LifetimesParameterErrors, MaximumLikelihoodModel):
    """Everything BG/NBD and MBG/NBD share; they differ in ``_dropout_offset`` only.

    ``_dropout_offset`` (k) counts the extra drop-out opportunity of MBG/NBD: it shifts
    ``b + x`` to ``b + x + 1`` in every formula and gives customers with no repeat purchase a
    probability of having dropped out.
    """

    param_names: ClassVar[tuple[str, ...]] = ("r", "alpha", "a", "b")
    _dropout_offset: ClassVar[int]
    _lifetimes_fitter: ClassVar[str]
    _model_name: ClassVar[str]

    def __init__(self, penalizer_coef: float = 0.0, fitter: str = "fast") -> None:
        self.penalizer_coef = penalizer_coef
        self.fitter = fitter

    def fit(self, features: pd.DataFrame, weights: ArrayLike | str | None = None) -> Self:
        """Maximum-likelihood parameters from per-customer ``frequency, recency, T``.

        ``fitter="fast"`` uses :mod:`models.likelihoods`; ``fitter="lifetimes"`` uses the
        lifetimes fitter as the reference implementation (about 40x slower at a million
        customers), its standard errors from our objective's Hessian at its optimum. Either
        way only the fitted parameters are kept.

        ``weights`` (lifetimes'): a column name or an array, how many customers each row
        stands for, for data condensed to one row per ``(x, t_x, T)``; the fit equals the
        one on the rows repeated that often, and ``n_customers_`` is their sum.
        """
        frequency, recency, T = rfm_arrays(features)
        row_weights = customer_weights(features, weights)
        if self.fitter == "fast":
            try:
                fit = fit_beta_geo(
                    frequency,
                    recency,
                    T,
                    modified=bool(self._dropout_offset),
                    penalizer_coef=self.penalizer_coef,
                    weights=row_weights,
                )
            except ConvergenceError as error:
                raise convergence_error(self._model_name, len(frequency), self, error) from None
        elif self.fitter == "lifetimes":
            fit = self._fit_with_lifetimes(frequency, recency, T, row_weights)
        else:
            raise ValueError(f"fitter must be 'fast' or 'lifetimes', got {self.fitter!r}")
        self._store_fit(fit)
        return self

    def _fit_with_lifetimes(
        self,
        frequency: np.ndarray,
        recency: np.ndarray,
        T: np.ndarray,
        weights: np.ndarray | None = None,
    ) -> MaximumLikelihoodFit:
        import lifetimes  # heavy, warns on import, and only needed for reference fits

        fitter = getattr(lifetimes, self._lifetimes_fitter)(penalizer_coef=self.penalizer_coef)
        fitter.fit(frequency, recency, T, weights=weights)
        return fit_beta_geo(
            frequency,
            recency,
            T,
            modified=bool(self._dropout_offset),
            penalizer_coef=self.penalizer_coef,
            optimum=fitter.params_[list(self.param_names)].to_numpy(dtype=np.float64),
            weights=weights,
        )

    def expected_number_of_purchases_up_to_time(self, t: ArrayLike) -> np.ndarray:
        """E[repeat purchases in (0, t]] of a customer just acquired: FHL (2005) eq. (9).

        BG/NBD ``(a+b-1)/(a-1) (1 - (α/(α+t))^r 2F1(r, b; a+b-1; t/(α+t)))``, MBG/NBD
        ``b/(a-1) (1 - (α/(α+t))^r 2F1(r, b+1; a+b; t/(α+t)))``. Both are the conditional
        expectation for the history ``x = t_x = T = 0``, which is how it is computed: one
        formula to keep right, with its overflow guard and its ``a + b < 1`` fix.
        """
        return self.conditional_expected_number_of_purchases_up_to_time(t, 0.0, 0.0, 0.0)

    def probability_of_n_purchases_up_to_time(self, t: ArrayLike, n: ArrayLike) -> np.ndarray:
        """P(exactly n repeat purchases in (0, t]) of a new customer: FHL (2005) eq. (8).

        ``B(a, b+n+k)/B(a, b) NB(n; r, α/(α+t)) + δ(n+k>0) B(a+1, b+n+k-1)/B(a, b)
        P(NB >= n)``: still active after n purchases, or dropped out right after the n-th
        when the Poisson process would have made at least n (k = 1 for MBG/NBD, whose
        customers may drop out at the first purchase). lifetimes sums ``Γ`` ratios for the
        tail and overflows past n ≈ 170; here the negative binomial's log-pmf and
        survival function are scipy's, and ``t`` and ``n`` broadcast.
        """
        # scipy.stats costs about a second to import: only this method needs it (issue 18).
        from scipy.stats import nbinom

        r, alpha, a, b = self._fitted_params()
        k = self._dropout_offset
        t, n = _floats(t, n)
        if (n < 0).any() or (n != np.floor(n)).any():
            raise ValueError("n must hold whole numbers of purchases >= 0")
        p = alpha / (alpha + t)
        active = np.exp(betaln(a, b + n + k) - betaln(a, b) + nbinom.logpmf(n, r, p))
        b_n = b + np.maximum(n + k, 1.0) - 1.0  # guards BG/NBD's n == 0, which has no term
        dropped = np.exp(betaln(a + 1.0, b_n) - betaln(a, b)) * nbinom.sf(n - 1.0, r, p)
        return active + np.where(n + k > 0, dropped, 0.0)

    def conditional_probability_alive_matrix(
        self, max_frequency: int | None = None, max_recency: int | None = None
    ) -> np.ndarray:
        """P(alive) on the grid ``[t_x, x]``, ``0 <= t_x <= max_recency``,
        ``0 <= x <= max_frequency``, for customers of age ``T = max_recency``: lifetimes'
        layout (``Z[t_x][x]``), vectorised.

        lifetimes defaults to the training data's largest frequency and ``T``; winback's
        models keep no training data (their state is the fitted parameters), so both
        arguments are required.
        """
        if max_frequency is None or max_recency is None:
            raise ValueError(
                "pass max_frequency and max_recency, e.g. int(features['frequency'].max()) "
                "and int(features['T'].max()) (lifetimes' defaults): winback's models keep "
                "no training data"
            )
        recency, frequency = np.meshgrid(
            np.arange(max_recency + 1.0), np.arange(max_frequency + 1.0), indexing="ij"
        )
        return self.conditional_probability_alive(frequency, recency, float(max_recency))

    def conditional_probability_alive(
        self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> np.ndarray:
        """P(still active at T | x, t_x, T).

        BG/NBD: Fader, Hardie & Lee (2008), note 021 "Computing P(alive) using the BG/NBD
        model": ``1 / (1 + δ(x>0) a/(b+x-1) ((α+T)/(α+t_x))^(r+x))``, so exactly 1 for x = 0.
        MBG/NBD: the same with ``b+x`` and no ``δ`` (Batislam et al. 2007).
        """
        return expit(-self._log_odds_dropped_out(*_floats(frequency, recency, T)))

    def conditional_probability_no_purchase_up_to_time(
        self, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> np.ndarray:
        """P(no purchase in (T, T+t] | x, t_x, T).

        Derivation: a customer who has dropped out buys nothing. For one still active at T,
        the history's likelihood is ``lambda^x exp(-lambda T)`` times a factor in p alone, so
        given the history ``lambda ~ Gamma(r+x, rate=alpha+T)``. Customers drop out only
        right *after* a purchase, so an active one makes none in (T, T+t] exactly when the
        Poisson process has no event there, with probability ``exp(-lambda t)``. Averaging
        over lambda:

            P(0 in t) = (1 - P(alive)) + P(alive) ((α+T)/(α+T+t))^(r+x)

        for both models (they differ only in P(alive)).
        """
        frequency, recency, T, t = _floats(frequency, recency, T, t)
        p_alive = self.conditional_probability_alive(frequency, recency, T)
        return 1.0 - p_alive * self._probability_purchase_if_alive(t, frequency, T)

    def conditional_expected_number_of_purchases_up_to_time(
        self, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> np.ndarray:
        """E[purchases in (T, T+t] | x, t_x, T].

        BG/NBD: Fader, Hardie & Lee (2005), eq. (10). MBG/NBD: Batislam et al. (2007), in the
        form of lifetimes' ``ModifiedBetaGeoFitter`` (Wagner & Hoppe 2008). Both are
        ``P(alive) x E[purchases | alive at T]``.
        """
        frequency, recency, T, t = _floats(frequency, recency, T, t)
        p_alive = self.conditional_probability_alive(frequency, recency, T)
        return p_alive * self._expected_purchases_if_alive(t, frequency, T)

    def weighted_expected_purchases(
        self,
        times: Sequence[float],
        weights: Sequence[float],
        frequency: ArrayLike,
        recency: ArrayLike,
        T: ArrayLike,
    ) -> np.ndarray:
        """``sum_k weights[k] E[purchases in (T, T+times[k]] | x, t_x, T]`` per customer.

        CLV's discounted sum over months is such a combination. Computing it here is what
        makes batch scoring fast: the hypergeometric function, the costly part, depends on
        x and T only, so it is evaluated once per unique ``(x, T)`` pair (thousands for a
        million day-based customers) and horizon, and the customer-level array is built once.
        """
        frequency, recency, T = _floats(frequency, recency, T)
        p_alive = self.conditional_probability_alive(frequency, recency, T)
        return self._weighted_expected_purchases(times, weights, p_alive, frequency, T)

    def expected_days_to_next_purchase(
        self,
        frequency: ArrayLike,
        recency: ArrayLike,
        T: ArrayLike,
        probability: float = 0.5,
        max_days: float = 730.0,
    ) -> np.ndarray:
        """Smallest t with P(at least one purchase in (T, T+t]) >= ``probability``.

        NaN when that needs more than ``max_days``, and whenever the customer's probability
        of ever buying again, ``P(alive)`` (the limit of ``1 - P(0 in t)``), is below
        ``probability``. No search is needed: ``P(alive) (1 - (1 + t/(α+T))^-(r+x)) = q``
        inverts in closed form to ``t = (α+T) (exp(-ln(1 - q/P(alive)) / (r+x)) - 1)``.
        """
        if not 0.0 < probability < 1.0:
            raise ValueError(f"probability must be in (0, 1), got {probability}")
        frequency, recency, T = _floats(frequency, recency, T)
        p_alive = self.conditional_probability_alive(frequency, recency, T)
        return self._days_to_next_purchase(p_alive, frequency, T, probability, max_days)

    def median_days_to_next_purchase(
        self,
        frequency: ArrayLike,
        recency: ArrayLike,
        T: ArrayLike,
        max_days: float = NEXT_ORDER_MAX_DAYS,
    ) -> np.ndarray:
        """Median days to the next purchase, given that the customer buys again.

        Why conditional: :meth:`expected_days_to_next_purchase` at 0.5 has no answer for
        anyone whose P(alive) is below 0.5 (three in four CDNOW customers), although the
        model knows *when* they would buy. An active customer always buys again here (drop
        out happens only right after a purchase) and a dropped-out one never does, so
        "buys again" is "alive at T", whose next purchase time is Lomax: ``λ ~ Gamma(r+x,
        rate=α+T)`` and ``P(t) = 1 - (1 + t/(α+T))^-(r+x)``, with median ``(α+T)
        (2^(1/(r+x)) - 1)``, in closed form. P(alive) cancels: it says *whether*
        (``p_alive``, ``p_dormant``), this says *when*.

        NaN where that median is beyond ``max_days`` (mostly one-time buyers, whose
        conditional median under BG/NBD is years away: their rate's posterior is spread
        thin) and where P(alive) is 0 to double precision (no future to condition on).
        """
        frequency, recency, T = _floats(frequency, recency, T)
        p_alive = self.conditional_probability_alive(frequency, recency, T)
        return self._median_days_if_buying_again(p_alive, frequency, T, max_days)

    def predict(self, features: pd.DataFrame, horizon_days: float = 90.0) -> pd.DataFrame:
        """Per-customer scores over the next ``horizon_days``, indexed like ``features``.

        ``p_alive``: P(still active). ``p_dormant``: P(no purchase within the horizon).
        ``expected_purchases``: within the horizon. ``days_to_next_order``: the median
        days to the next purchase given that there is one
        (:meth:`median_days_to_next_purchase`; NaN beyond 730 days or when P(alive) is 0).
        """
        frequency, recency, T = rfm_arrays(features)
        p_alive = self.conditional_probability_alive(frequency, recency, T)
        purchase = self._probability_purchase_if_alive(horizon_days, frequency, T)
        expected = self._weighted_expected_purchases([horizon_days], [1.0], p_alive, frequency, T)
        return pd.DataFrame(
            {
                "p_alive": p_alive,
                "p_dormant": 1.0 - p_alive * purchase,
                "expected_purchases": expected,
                "days_to_next_order": self._median_days_if_buying_again(p_alive, frequency, T),
            },
            index=features.index,
        )

    def _log_odds_dropped_out(
        self, frequency: np.ndarray, recency: np.ndarray, T: np.ndarray
    ) -> np.ndarray:
        """ln(P(dropped out) / P(alive)); -inf for BG/NBD customers without repeat purchase."""
        r, alpha, a, b = self._fitted_params()
        k = self._dropout_offset
        b_x = b + np.maximum(frequency + k, 1.0) - 1.0  # guards BG/NBD's x == 0 only
        log_odds = np.log(a / b_x) + (r + frequency) * np.log((alpha + T) / (alpha + recency))
        return log_odds if k else np.where(frequency > 0, log_odds, -np.inf)

    def _days_to_next_purchase(
        self,
        p_alive: np.ndarray,
        frequency: np.ndarray,
        T: np.ndarray,
        probability: float = 0.5,
        max_days: float = 730.0,
    ) -> np.ndarray:
        r, alpha, _, _ = self._fitted_params()
        with np.errstate(divide="ignore", invalid="ignore"):
            days = (alpha + T) * np.expm1(-np.log1p(-probability / p_alive) / (r + frequency))
        return np.where((probability < p_alive) & (days <= max_days), days, np.nan)

    def _median_days_if_buying_again(
        self,
        p_alive: np.ndarray,
        frequency: np.ndarray,
        T: np.ndarray,
        max_days: float = NEXT_ORDER_MAX_DAYS,
    ) -> np.ndarray:
        r, alpha, _, _ = self._fitted_params()
        days = (alpha + T) * np.expm1(np.log(2.0) / (r + frequency))
        return np.where((p_alive > 0.0) & (days <= max_days), days, np.nan)

    def _weighted_expected_purchases(
        self,
        times: Sequence[float],
        weights: Sequence[float],
        p_alive: np.ndarray,
        frequency: np.ndarray,
        T: np.ndarray,
    ) -> np.ndarray:
        pair_of_customer, pair_x, pair_T = _unique_pairs(frequency, T)
        per_pair = sum(
            weight * self._expected_purchases_if_alive(t, pair_x, pair_T)
            for t, weight in zip(times, weights, strict=True)
        )
        return p_alive * per_pair[pair_of_customer]

    def _probability_purchase_if_alive(
        self, t: np.ndarray, frequency: np.ndarray, T: np.ndarray
    ) -> np.ndarray:
        """``1 - ((α+T)/(α+T+t))^(r+x)``, accurate for small t."""
        r, alpha, _, _ = self._fitted_params()
        return -np.expm1(-(r + frequency) * np.log1p(t / (alpha + T)))

    def _expected_purchases_if_alive(
        self, t: np.ndarray | float, frequency: np.ndarray, T: np.ndarray
    ) -> np.ndarray:
        """E[purchases in (T, T+t] | active at T]: the numerator of FHL (2005) eq. (10).

        ``(a+b+x+k-1)/(a-1) (1 - ((α+T)/(α+T+t))^(r+x) 2F1(r+x, b+x+k; a+b+x+k-1; z))`` with
        ``z = t/(α+T+t)``. Where ``2F1`` overflows, Euler's transformation
        ``2F1(A, B; C; z) = (1-z)^(C-A-B) 2F1(C-A, C-B; C; z)`` is used, as in lifetimes.
        Unlike lifetimes this does not take the log of ``2F1``, which is negative when
        ``a + b < 1`` and x = 0 (lifetimes returns NaN there; the expectation is positive).
        """
        r, alpha, a, b = self._fitted_params()
        k = self._dropout_offset
        A, B, C = r + frequency, b + frequency + k, a + b + frequency + k - 1.0
        z = t / (alpha + T + t)
        log_1mz = -np.log1p(t / (alpha + T))
        with np.errstate(over="ignore", invalid="ignore"):
            survival_term = hyp2f1(A, B, C, z) * np.exp(A * log_1mz)
            overflowed = ~np.isfinite(survival_term)
            if overflowed.any():
                euler = hyp2f1(C - A, C - B, C, z) * np.exp((C - B) * log_1mz)
                survival_term = np.where(overflowed, euler, survival_term)
        return C / (a - 1.0) * (1.0 - survival_term)


class BetaGeoModel(_BetaGeoFamilyModel):
    """BG/NBD (Fader, Hardie & Lee 2005) with lifetimes-compatible closed forms.

    ``__init__`` only stores its arguments; ``fit(features)`` learns ``params_`` (r, alpha,
    a, b; alpha in the unit of the features' time columns, days for ``freq='D'``),
    ``covariance_`` and ``n_customers_``.
    """

    _dropout_offset = 0
    _lifetimes_fitter = "BetaGeoFitter"
    _model_name = "BG/NBD"


class ModifiedBetaGeoModel(_BetaGeoFamilyModel):
    """MBG/NBD (Batislam, Denizel & Filiztekin 2007): BG/NBD plus a drop-out chance right
    after the first purchase, so one-time buyers are not certain to be active.

    Same interface as :class:`BetaGeoModel`; lifetimes' ``ModifiedBetaGeoFitter`` is its
    reference implementation.
    """

    _dropout_offset = 1
    _lifetimes_fitter = "ModifiedBetaGeoFitter"
    _model_name = "MBG/NBD"


def rfm_arrays(features: pd.DataFrame) -> list[np.ndarray]:
    """``frequency, recency, T`` of a feature frame, with the checks the models rely on."""
    frequency, recency, T = feature_arrays(features, RFM_COLUMNS)
    if len(frequency) == 0:
        raise ValueError("features have no rows")
    if (recency > T).any():
        raise ValueError(
            f"column 'recency' exceeds column 'T' for {np.sum(recency > T)} customers; "
            "recency is days from first to last purchase, T from first purchase to the as-of date"
        )
    if (frequency != np.floor(frequency)).any():
        raise ValueError("column 'frequency' must hold whole numbers of repeat purchase days")
    if ((frequency == 0) & (recency != 0)).any():
        raise ValueError("column 'recency' must be 0 where column 'frequency' is 0")
    return [frequency, recency, T]


def _floats(*arrays: ArrayLike) -> list[np.ndarray]:
    return [np.asarray(array, dtype=np.float64) for array in arrays]


def _unique_pairs(frequency: np.ndarray, T: np.ndarray) -> tuple[np.ndarray, ...]:
    """(pair code of each customer, x of each pair, T of each pair) of the ``(x, T)`` pairs."""
    frequency, T = np.broadcast_arrays(frequency, T)
    x_codes, x_values = integer_codes(frequency.ravel())
    T_codes, T_values = integer_codes(T.ravel())
    pair_of_customer, pair_keys = pd.factorize(x_codes * len(T_values) + T_codes)
    return (
        pair_of_customer.reshape(frequency.shape),
        x_values[pair_keys // len(T_values)],
        T_values[pair_keys % len(T_values)],
    )
