"""Pareto/NBD fit speed and agreement: :class:`models.pareto_nbd.ParetoNBDModel` against
lifetimes' ``ParetoNBDFitter``, on CDNOW and on synthetic customers at benchmark scale; and
BG/BB (:class:`models.bgbb.BetaGeoBetaBinomModel`) against ``BetaGeoBetaBinomFitter`` on
lifetimes' donations data.

Run: ``.venv/bin/python -m benchmarks.pareto_nbd [--customers 1000000] [--json out.json]``.
Prints a Markdown table. Timings are wall time and CPU time of the fit alone (ours includes
collapsing to patterns and the Hessian for standard errors; lifetimes' has none).

Cases:

* CDNOW, the 2,357-customer summary lifetimes ships (weeks) and full CDNOW in days (23,570).
* Synthetic: ``--customers`` drawn from the Pareto/NBD process (whole days, two years, the
  parameters of the CDNOW-in-days fit), by :mod:`models.synthetic_pareto_nbd`. lifetimes is
  run on the customer rows as users call it, and once more on the unique patterns with its
  ``weights`` argument (lifetimes at its best; the grouping is not timed).

Agreement: lifetimes' Nelder-Mead stops at tolerance 1e-4 from a random start, so its
parameters move in the fourth digit between runs; the table therefore also gives lifetimes'
own objective at both optima (lower is better) and, on CDNOW, lifetimes run to convergence
(``tol=1e-10``), which is the reference for the 1e-4 target.
"""

from __future__ import annotations

import argparse
import importlib.resources
import json
import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd

from benchmarks.measure import best_of
from models.pareto_nbd import ParetoNBDModel
from models.synthetic_pareto_nbd import generate_pareto_nbd_summary

NAMES = ["r", "alpha", "s", "beta"]
#: Close to the fit on full CDNOW in days.
SYNTHETIC_PARAMS = {"r": 0.61, "alpha": 95.3, "s": 0.31, "beta": 43.0}
SEED = 20_261_201


def _cdnow_weekly() -> pd.DataFrame:
    path = importlib.resources.files("lifetimes") / "datasets" / "cdnow_customers_summary.csv"
    return pd.read_csv(str(path), index_col="ID")


def _cdnow_daily() -> pd.DataFrame:
    from lifetimes.utils import summary_data_from_transaction_data

    from features.datasets import load_cdnow_raw

    return summary_data_from_transaction_data(load_cdnow_raw(), "customer_id", "timestamp")


def _lifetimes_fit(frame: pd.DataFrame, weighted: bool = False, **kwargs: object) -> pd.Series:
    from lifetimes import ParetoNBDFitter

    np.random.seed(SEED)  # lifetimes draws its starting point from the global generator
    columns = [frame[c] for c in ("frequency", "recency", "T")]
    weights = frame["weights"] if weighted else None
    fitter = ParetoNBDFitter().fit(*columns, weights=weights, **kwargs)
    return fitter.params_[NAMES].astype(float)


def _lifetimes_objective(params: pd.Series, frame: pd.DataFrame) -> float:
    """lifetimes' negative log-likelihood (summed, its scaled time) at natural parameters."""
    from lifetimes import ParetoNBDFitter

    x, t_x, T = (frame[c].to_numpy(np.float64) for c in ("frequency", "recency", "T"))
    scale = 1.0 / T.max()
    scaled = params[NAMES].to_numpy() * np.array([1.0, scale, 1.0, scale])
    return float(
        ParetoNBDFitter._negative_log_likelihood(
            scaled, x, t_x * scale, T * scale, np.ones_like(x), 0.0
        )
    )


def _timed(repeat: int, call: Callable[[], pd.Series]) -> tuple[pd.Series, dict]:
    value, stats = best_of(repeat, call)
    return value, {"seconds": stats["seconds"], "cpu_seconds": stats["cpu_seconds"]}


def _case(name: str, frame: pd.DataFrame, repeat: int, references: dict) -> dict:
    """Our fit (best of ``repeat``) against each lifetimes variant in ``references``."""
    ours, ours_time = _timed(repeat, lambda: ParetoNBDModel().fit(frame).params_)
    result = {
        "case": name,
        "customers": len(frame),
        "patterns": len(frame[["frequency", "recency", "T"]].drop_duplicates()),
        "ours": {
            **ours_time,
            "params": ours.to_dict(),
            "objective": _lifetimes_objective(ours, frame),
        },
        "lifetimes": {},
    }
    for label, call in references.items():
        params, timing = _timed(1, call)
        result["lifetimes"][label] = {
            **timing,
            "params": params.to_dict(),
            "objective": _lifetimes_objective(params, frame),
            "max_relative_difference": float((ours / params - 1.0).abs().max()),
            "speed_up": timing["seconds"] / ours_time["seconds"],
        }
    return result


def _scoring(frame: pd.DataFrame, params: dict, repeat: int) -> dict:
    """P(alive) and E[purchases in 90 days] for every customer, ours against lifetimes'."""
    from lifetimes import ParetoNBDFitter

    state = {"params": params, "covariance": np.eye(4).tolist(), "n_customers": len(frame)}
    model = ParetoNBDModel.from_dict(state)
    reference = ParetoNBDFitter()
    reference.params_ = pd.Series(params)[NAMES]
    x, t_x, T = (frame[c].to_numpy(np.float64) for c in ("frequency", "recency", "T"))

    def both(fitter: object) -> tuple[np.ndarray, np.ndarray]:
        alive = fitter.conditional_probability_alive(x, t_x, T)
        expected = fitter.conditional_expected_number_of_purchases_up_to_time(90.0, x, t_x, T)
        return alive, expected

    ours, ours_time = best_of(repeat, lambda: both(model))
    theirs, their_time = best_of(1, lambda: both(reference))
    finite = np.isfinite(theirs[0]) & np.isfinite(theirs[1])
    return {
        "customers": len(frame),
        "ours_seconds": ours_time["seconds"],
        "lifetimes_seconds": their_time["seconds"],
        "lifetimes_non_finite": int((~finite).sum()),
        "max_relative_difference": float(
            max(
                np.max(np.abs(o[finite] / t[finite] - 1.0))
                for o, t in zip(ours, theirs, strict=True)
            )
        ),
    }


def _bgbb_case(repeat: int) -> dict:
    """BG/BB on the donations data (22 weighted patterns, 11,104 donors)."""
    from lifetimes import BetaGeoBetaBinomFitter

    from models.bgbb import BetaGeoBetaBinomModel

    path = importlib.resources.files("lifetimes") / "datasets" / "donations.csv"
    donations = pd.read_csv(str(path)).rename(columns={"periods": "n_periods"})
    columns = [donations[c] for c in ("frequency", "recency", "n_periods")]

    def theirs() -> pd.Series:
        fitter = BetaGeoBetaBinomFitter().fit(*columns, weights=donations["weights"])
        return fitter.params_.astype(float)

    ours, ours_time = _timed(
        repeat, lambda: BetaGeoBetaBinomModel().fit(donations, weights="weights").params_
    )
    reference, their_time = _timed(repeat, theirs)
    return {
        "case": "BG/BB donations",
        "ours": {**ours_time, "params": ours.to_dict()},
        "lifetimes": {**their_time, "params": reference[ours.index].to_dict()},
        "max_relative_difference": float((ours / reference[ours.index] - 1.0).abs().max()),
        "speed_up": their_time["seconds"] / ours_time["seconds"],
    }


def run(customers: int, repeat: int, skip_lifetimes_rows: bool) -> dict:
    weekly, daily = _cdnow_weekly(), _cdnow_daily()
    cases = [
        _case(
            "CDNOW sample (weeks)",
            weekly,
            repeat,
            {
                "default": lambda: _lifetimes_fit(weekly),
                "tol=1e-10": lambda: _lifetimes_fit(weekly, tol=1e-10, maxiter=20_000),
            },
        ),
        _case(
            "CDNOW full (days)",
            daily,
            repeat,
            {
                "default": lambda: _lifetimes_fit(daily),
                "tol=1e-10": lambda: _lifetimes_fit(daily, tol=1e-10, maxiter=20_000),
            },
        ),
    ]
    synthetic = generate_pareto_nbd_summary(
        customers, SYNTHETIC_PARAMS, whole_days=True, seed=SEED
    )[["frequency", "recency", "T"]]
    grouped = synthetic.groupby(["frequency", "recency", "T"]).size().rename("weights")
    grouped = grouped.reset_index()
    references = {"weights (patterns)": lambda: _lifetimes_fit(grouped, weighted=True)}
    if not skip_lifetimes_rows:
        references["default (rows)"] = lambda: _lifetimes_fit(synthetic)
    cases.append(_case(f"synthetic {customers:,} (days)", synthetic, repeat, references))
    scoring = _scoring(synthetic, cases[-1]["ours"]["params"], repeat)
    return {"cases": cases, "scoring": scoring, "bgbb": _bgbb_case(repeat)}


def _markdown(results: dict) -> str:
    lines = [
        "| case | customers | patterns | fit | ours | lifetimes | speed-up | max rel. diff "
        "| objective ours / lifetimes |",
        "|---|---:|---:|---|---:|---:|---:|---:|---|",
    ]
    for case in results["cases"]:
        ours = case["ours"]
        for label, ref in case["lifetimes"].items():
            lines.append(
                f"| {case['case']} | {case['customers']:,} | {case['patterns']:,} | {label} "
                f"| {ours['seconds']:.2f} s | {ref['seconds']:.2f} s | {ref['speed_up']:.1f}x "
                f"| {ref['max_relative_difference']:.1e} "
                f"| {ours['objective']:.6f} / {ref['objective']:.6f} |"
            )
    lines.append("")
    for case in results["cases"]:
        params = ", ".join(f"{k}={v:.6g}" for k, v in case["ours"]["params"].items())
        lines.append(f"- {case['case']}, ours: {params}")
        for label, ref in case["lifetimes"].items():
            params = ", ".join(f"{k}={v:.6g}" for k, v in ref["params"].items())
            lines.append(f"  - lifetimes {label}: {params}")
    s = results["scoring"]
    lines.append(
        f"\nScoring P(alive) + E[purchases in 90 days], {s['customers']:,} customers: ours "
        f"{s['ours_seconds']:.2f} s, lifetimes {s['lifetimes_seconds']:.2f} s; max relative "
        f"difference {s['max_relative_difference']:.1e} where lifetimes is finite "
        f"(non-finite in lifetimes: {s['lifetimes_non_finite']})."
    )
    b = results["bgbb"]
    lines.append(
        f"\n{b['case']}: ours {b['ours']['seconds']:.3f} s, lifetimes "
        f"{b['lifetimes']['seconds']:.3f} s ({b['speed_up']:.1f}x); max relative difference "
        f"{b['max_relative_difference']:.1e}; ours: "
        + ", ".join(f"{k}={v:.6g}" for k, v in b["ours"]["params"].items())
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="our fits: best of this many")
    parser.add_argument(
        "--skip-lifetimes-rows",
        action="store_true",
        help="do not run lifetimes on the synthetic customer rows (minutes at 1M)",
    )
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # lifetimes' import-time and overflow warnings
    results = run(args.customers, args.repeat, args.skip_lifetimes_rows)
    print(_markdown(results))
    if args.json:
        with open(args.json, "w") as out:
            json.dump(results, out, indent=2)


if __name__ == "__main__":
    main()
