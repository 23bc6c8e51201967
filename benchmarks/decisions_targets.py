"""The issue's targets for the decision benchmark, checked, and the "why" behind the numbers.

Targets (issue 13, "Done when"), on the realistic pilot, mean over the reported seeds:
the learned list reaches at least 75% of the oracle's true value at every worthwhile
contact and 80% at the tight budget, with at most 20% negative-value contacts; and on the
tiny pilot the prior keeps its place (the guard promotes no learner on any seed). The
headline is the pre-registered challenger (:data:`benchmarks.decisions_world.LEARNERS`
first, the X-learner); the best learner on each target is shown beside it, chosen after
the fact and therefore optimistic.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm

from benchmarks.decisions_world import LEARNERS
from models.campaign_simulator import DEFAULT_ECONOMICS

Add = Callable[[str], None]
HEADLINE = LEARNERS[0]


def frame(results: dict[str, Any], scenario: str, key: str = "policies") -> pd.DataFrame:
    """One row per seed and policy (or ceiling) of a scenario."""
    rows = [
        {**p, "seed": run["seed"]}
        for run in results["runs"]
        if run["scenario"] == scenario
        for p in run[key]
    ]
    return pd.DataFrame(rows)


def _means(results: dict[str, Any], scenario: str) -> pd.DataFrame:
    table = frame(results, scenario)
    table = table[table["policy"].isin(LEARNERS)]
    columns = ["every_share", "tight_share", "every_negative", "tight_negative"]
    return table.groupby("policy")[columns].mean()


def _value_target(means: pd.DataFrame, column: str, goal: float, higher: bool) -> dict[str, Any]:
    values = means[column]
    best = values.idxmax() if higher else values.idxmin()
    ok: Callable[[float], bool] = (lambda v: v >= goal) if higher else (lambda v: v <= goal)
    head = float(values.get(HEADLINE, np.nan))
    return {
        "goal": ("at least " if higher else "at most ") + f"{goal:.0%}",
        "headline": f"{head:.0%}",
        "met": bool(np.isfinite(head) and ok(head)),
        "best": f"{best}: {values[best]:.0%}",
        "best_met": bool(ok(float(values[best]))),
    }


def _guard_target(results: dict[str, Any]) -> dict[str, Any]:
    tiny = frame(results, "tiny")
    tiny = tiny[tiny["policy"].isin(LEARNERS)]
    promoted = tiny["promote"].fillna(False).astype(bool)
    head = promoted[tiny["policy"] == HEADLINE]
    return {
        "goal": "no promotion on any seed",
        "headline": f"promoted on {int(head.sum())} of {len(head)} seeds",
        "met": not bool(head.any()),
        "best": f"all learners: {int(promoted.sum())} of {len(promoted)} verdicts promote",
        "best_met": not bool(promoted.any()),
    }


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Every target with its goal, the headline learner's number, the best learner's."""
    means = _means(results, "realistic")
    rows = [
        ("value share at every worthwhile contact", "every_share", 0.75, True),
        ("value share at the tight budget", "tight_share", 0.80, True),
        ("negative-value contacts, every worthwhile contact", "every_negative", 0.20, False),
        ("negative-value contacts, tight budget", "tight_negative", 0.20, False),
    ]
    out = [
        {"target": label, **_value_target(means, column, goal, higher)}
        for label, column, goal, higher in rows
    ]
    out.append({"target": "tiny pilot: the prior keeps its place", **_guard_target(results)})
    return out


def _met(met: bool) -> str:
    return "met" if met else "**NOT met**"


def targets_section(results: dict[str, Any], checked: list[dict[str, Any]], add: Add) -> None:
    n_seeds = len(results["settings"]["seeds"])
    add("## Targets (issue 13)")
    add("")
    add(
        f"Realistic pilot, mean of {n_seeds} seed(s); headline: the X-learner, named the "
        "challenger before these seeds were run. The best learner per row is picked after "
        "the fact (optimistic)."
    )
    add("")
    add("| target | goal | X-learner | status | best learner | status |")
    add("|---|---|---|---|---|---|")
    for t in checked:
        add(
            f"| {t['target']} | {t['goal']} | {t['headline']} | {_met(t['met'])} | "
            f"{t['best']} | {_met(t['best_met'])} |"
        )
    add("")
    all_met = all(t["met"] for t in checked)
    add(
        "**All targets met.**"
        if all_met
        else "**Not all targets are met**: the numbers below say by how much, and Why says why."
    )
    add("")


def _evidence(results: dict[str, Any], scenario: str) -> dict[str, float]:
    runs = [run for run in results["runs"] if run["scenario"] == scenario]
    return pd.DataFrame([run["evidence"] for run in runs]).mean().to_dict()


def _share(results: dict[str, Any], scenario: str, policy: str, column: str) -> float:
    table = frame(results, scenario)
    if table.empty or column not in table:
        return float("nan")
    return float(table.loc[table["policy"] == policy, column].mean())


def _ceiling(results: dict[str, Any], name: str, column: str) -> float:
    table = frame(results, "realistic", "ceilings")
    return float(table.loc[table["policy"] == name, column].mean())


def _largest_pilot(results: dict[str, Any]) -> str:
    """The scenario whose pilot is the largest (the sweep's end)."""
    return max(results["runs"], key=lambda run: run["pilot_size"])["scenario"]


def _noise_paragraph(results: dict[str, Any], add: Add) -> None:
    largest = _largest_pilot(results)
    real, large = _evidence(results, "realistic"), _evidence(results, largest)
    pilot = next(r["pilot_size"] for r in results["runs"] if r["scenario"] == largest)
    add(
        f"**Pilot noise against effect size.** In the realistic pilot's training part each of "
        f"the six options has about {real['treated_per_option']:,.0f} treated customers "
        f"against {real['n_control']:,.0f} controls; the treated-minus-control return rate of "
        f"an option has a standard error of {real['median_se'] * 100:.1f} points, while the "
        f"options' true mean uplift is {real['mean_true_uplift'] * 100:.1f} points: the "
        f"median option's effect is {real['median_z']:.1f} standard errors. Who within an "
        "option gains, and who is a sleeping dog, is a smaller signal still, and it is what "
        f"separates the lists. With the largest pilot ({pilot:,} customers, "
        f"{large['treated_per_option']:,.0f} treated per option) the median effect is "
        f"{large['median_z']:.1f} standard errors and the X-learner's value share at every "
        f"worthwhile contact is {_share(results, largest, HEADLINE, 'every_share'):.0%} "
        f"(realistic: {_share(results, 'realistic', HEADLINE, 'every_share'):.0%}; sweep "
        "table). Standard errors fall only with the square root of the pilot: four times the "
        "pilot halves them."
    )
    add("")


def _ceiling_paragraph(results: dict[str, Any], add: Add) -> None:
    c = {n: _ceiling(results, n, "every_share") for n in ("cell_truth", "expected_uplift")}
    t = {n: _ceiling(results, n, "tight_share") for n in ("cell_truth", "expected_uplift")}
    neg = _ceiling(results, "cell_truth", "every_negative")
    exact = _ceiling(results, "exact_uplift", "every_share")
    add(
        "**Ceilings.** A cell model that knew the exact true mean uplift and baseline of every "
        f"channel x offer x status cell reaches {c['cell_truth']:.0%} of the oracle's value at "
        f"every worthwhile contact and {t['cell_truth']:.0%} at the tight budget, with "
        f"{neg:.0%} negative-value contacts: customers within a cell differ (receptiveness, "
        "engagement, basket, cadence)"
        + (
            ", so no amount of pilot lets a cell model reach 75%. "
            if c["cell_truth"] < 0.75
            else ". "
        )
        + "Knowing each customer's exact *expected* uplift given the features and the true "
        "baseline (only the simulator's unobservable receptiveness and per-channel noise left "
        f"out) reaches {c['expected_uplift']:.0%} and {t['expected_uplift']:.0%}"
        + (
            ": the targets are reachable in principle by a per-customer learner, but only "
            "with far more evidence than these pilots hold. "
            if c["expected_uplift"] >= 0.75 and t["expected_uplift"] >= 0.80
            else ": even that misses the targets. "
        )
        + f"A perfect uplift model reaches {exact:.0%} (the "
        "rest is the scorer's spend error)."
    )
    add("")
    known = {c: _ceiling(results, "known_formula", c) for c in _KNOWN_COLUMNS}
    goals = {"every_share": 0.75, "tight_share": 0.80, "every_negative": 0.20}
    goals["tight_negative"] = 0.20
    missed = [
        _KNOWN_NAMES[c]
        for c, goal in goals.items()
        if (known[c] < goal if c.endswith("share") else known[c] > goal)
    ]
    add(
        "**The best case for a learner.** A learner that knew the simulator's effect formula "
        "(the shape of every customer's expected uplift for every option) and the true "
        "baseline, and had to learn only one scale per option from the same pilot (least "
        "squares), reaches "
        f"{known['every_share']:.0%} at every worthwhile contact ({known['every_negative']:.0%} "
        f"negative) and {known['tight_share']:.0%} at the tight budget "
        f"({known['tight_negative']:.0%} negative)"
        + (
            ": the pilot would suffice for a learner with that much prior knowledge, and "
            "the gap to the learners is what finding the shape costs."
            if not missed
            else ". Six numbers estimated from this pilot already miss "
            + "; ".join(missed)
            + ": a learner that must also find the shape from the features, with the "
            "same evidence, is not expected to meet the targets on a pilot this size (a "
            "cleverer estimate of the six scales could do somewhat better; no learner here "
            "knows the formula)."
        )
    )
    add("")


_KNOWN_COLUMNS = ("every_share", "tight_share", "every_negative", "tight_negative")
_KNOWN_NAMES = {
    "every_share": "the 75% value share at every worthwhile contact",
    "tight_share": "the 80% value share at the tight budget",
    "every_negative": "at most 20% negative contacts at every worthwhile contact",
    "tight_negative": "at most 20% negative contacts at the tight budget",
}


_Z90 = float(norm.ppf(0.95))  # the guard's two-sided 90% interval


def guard_calibration(results: dict[str, Any], scenario: str) -> pd.DataFrame:
    """Per learner verdict: true gain per customer over the prior, the guard's standard error,
    and the promotion probability a calibrated 90% interval would give that gain."""
    table = frame(results, scenario)
    runs = {run["seed"]: run for run in results["runs"] if run["scenario"] == scenario}
    prior = table[table["policy"] == "prior"].set_index("seed")["every_share"]
    rows = table[table["policy"].isin(LEARNERS) & table["difference"].notna()].copy()
    scale = rows["seed"].map(
        {s: run["oracle"]["every_value"] / run["n_listed"] for s, run in runs.items()}
    )
    rows["true_gain"] = (rows["every_share"] - rows["seed"].map(prior)) * scale
    rows["se"] = (rows["difference"] - rows["difference_lower"]) / _Z90
    rows["calibrated_p"] = 1.0 - norm.cdf(_Z90 - rows["true_gain"] / rows["se"])
    rows["promote"] = rows["promote"].fillna(False).astype(bool)
    return rows


def _guard_paragraph(results: dict[str, Any], add: Add) -> None:
    real, tiny = guard_calibration(results, "realistic"), guard_calibration(results, "tiny")
    head = real[real["policy"] == HEADLINE]
    holdout = next(r["n_holdout"] for r in results["runs"] if r["scenario"] == "realistic")
    gain, se = float(head["true_gain"].mean()), float(head["se"].mean())
    multiple = (_Z90 * se / gain) ** 2 if gain > 0 else float("inf")
    promoted = tiny[tiny["promote"]]
    seeds = promoted["seed"].nunique()
    every = frame(results, "realistic")
    prior_phone = _channel_share(every.loc[every["policy"] == "prior", "every_by_channel"], "phone")
    add(
        f"**The promotion guard.** On the realistic pilot it judges on {holdout:,} held-out "
        f"customers (about {holdout / 12:,.0f} treated per option). In truth the X-learner's "
        f"list is worth {gain:+.2f} per customer more than the prior's (the prior loses "
        f"money: {_share(results, 'realistic', 'prior', 'every_share'):.0%} of the oracle's "
        f"value at every worthwhile contact, {prior_phone:.0%} of its contacts phone calls), "
        f"but the guard's IPW estimate of that difference has a standard error of {se:.2f}: "
        "a value estimate uses only the rows whose random assignment matches the policy's "
        "choice, most rows earn nothing and a return is worth tens of dollars. It promoted in "
        f"{int(real['promote'].sum())} of {len(real)} verdicts; seeing the X-learner's gain "
        f"would take about {multiple:,.0f} times the held-out rows. On the tiny pilot "
        f"({tiny_holdout(results):,} held-out customers) it promoted in "
        f"{len(promoted)} of {len(tiny)} verdicts, on {seeds} of "
        f"{tiny['seed'].nunique()} seeds ({int((promoted['true_gain'] <= 0).sum())} of them "
        "worse than the prior in truth; the verdicts of one seed share its held-out rows, so "
        "they are not independent), where a calibrated 90% interval, given the true gains "
        "and the guard's own standard errors, would promote in about "
        f"{tiny['calibrated_p'].mean():.0%} of verdicts"
        + (
            ": with a handful of matched rows per option the normal interval from the sample "
            "standard deviation looks too narrow, and the promotions rest on luck (most point "
            "the right way only because the prior is that bad). The guard needs a minimum of "
            "matched held-out rows per policy, or an interval that holds for small samples, "
            "before it can be trusted on small pilots (`models/uplift_promotion.py`)."
            if tiny["promote"].mean() > tiny["calibrated_p"].mean() + 0.05
            else "."
        )
    )
    add("")


def tiny_holdout(results: dict[str, Any]) -> int:
    runs = [run for run in results["runs"] if run["scenario"] == "tiny"]
    return int(runs[0]["n_holdout"]) if runs else 0


def _channel_share(rows: pd.Series, channel: str) -> float:
    """Mean share of a list's contacts on ``channel`` (rows of contacts_by_channel dicts)."""
    counts = pd.DataFrame(list(rows)).fillna(0)
    total = counts.sum(axis=1).replace(0, np.nan)
    if channel not in counts:
        return 0.0
    return float((counts[channel] / total).mean())


def _value_share(rows: pd.Series, channel: str) -> float:
    """Mean share of a list's true value that comes from ``channel`` (value_by_channel)."""
    values = pd.DataFrame(list(rows)).fillna(0.0)
    total = values.sum(axis=1).replace(0, np.nan)
    return float((values[channel] / total).mean()) if channel in values else 0.0


def _budget_paragraph(results: dict[str, Any], add: Add) -> None:
    runs = [run for run in results["runs"] if run["scenario"] == "realistic"]
    oracle = pd.DataFrame([run["oracle"] for run in runs])
    real = frame(results, "realistic")
    head = real[real["policy"] == HEADLINE]
    if head.empty or "every_cost" not in head:
        return
    over = float((head["every_cost"].to_numpy() > oracle["budget"].to_numpy()).mean())
    costs = DEFAULT_ECONOMICS.channel_costs
    ratio = costs["phone"] / costs["email"]
    binds = (
        "the budget binds and the tight list is a cut of it"
        if over == 1.0
        else "on the other seeds the tight-budget list is the same list"
        if over > 0
        else "its tight-budget list is the same list, judged against the oracle's best use "
        "of that budget"
    )
    add(
        f"**Channels and budgets.** Phone calls are "
        f"{_channel_share(oracle['every_by_channel'], 'phone'):.0%} of the oracle's contacts "
        f"at every worthwhile contact and "
        f"{_value_share(oracle['every_value_by_channel'], 'phone'):.0%} of its value; e-mail "
        f"{_channel_share(oracle['every_by_channel'], 'email'):.0%} and "
        f"{_value_share(oracle['every_value_by_channel'], 'email'):.0%}. The X-learner's "
        f"list is {_channel_share(head['every_by_channel'], 'email'):.0%} e-mail and "
        f"{_channel_share(head['every_by_channel'], 'phone'):.0%} phone calls: a call costs "
        f"{ratio:.0f} e-mails, so a call is sent only where the learned effect's lower "
        "bound clears its cost, and with this much noise it rarely does. Its list at every "
        f"worthwhile contact costs more than the tight budget on {over:.0%} of the seeds; {binds}."
    )
    add("")


def sweep_means(results: dict[str, Any]) -> pd.DataFrame:
    """Mean shares per pilot size (rows) and policy (column level 1), smallest pilot first."""
    rows = [
        {
            "n_customers": run["n_customers"],
            "pilot_size": run["pilot_size"],
            "policy": p["policy"],
            "every_share": p.get("every_share"),
            "tight_share": p.get("tight_share"),
        }
        for run in results["runs"]
        for p in run["policies"]
    ]
    table = pd.DataFrame(rows).groupby(["pilot_size", "n_customers", "policy"]).mean()
    return table.unstack("policy").sort_index()


def _first_pilot(mask: pd.Series) -> str:
    hits = mask[mask.to_numpy()]
    return f"{hits.index[0][0]:,}" if len(hits) else "none of them"


def _pilot_paragraph(results: dict[str, Any], add: Add) -> None:
    means = sweep_means(results)
    every, tight = means["every_share"], means["tight_share"]
    learners = [name for name in LEARNERS if name in every]
    if HEADLINE not in every or "prior" not in every or len(means) < 2:
        return
    path = " -> ".join(f"{v:.0%}" for v in every[HEADLINE])
    tight_path = " -> ".join(f"{v:.0%}" for v in tight[HEADLINE])
    pilots = " -> ".join(f"{p:,}" for p, _ in means.index)
    best = every[learners].max(axis=1)
    reached = bool(((every[learners] >= 0.75) & (tight[learners] >= 0.80)).any().any())
    add(
        f"**What pilot a shop needs.** Over pilots of {pilots} customers the X-learner's "
        f"share of the oracle's value goes {path} at every worthwhile contact and "
        f"{tight_path} at the tight budget (best learner at the largest pilot: "
        f"{best.iloc[-1]:.0%}). "
        + (
            "A pilot in this range reaches the targets."
            if reached
            else "No pilot in this range reaches the targets; at this rate of growth a shop "
            "would need a pilot many times larger, or learners that use the evidence better."
        )
        + " A learned list beats the prior's at every worthwhile contact (where the prior "
        f"loses money) from a pilot of {_first_pilot(every[HEADLINE] > every['prior'])} on; "
        "at the tight budget the prior's list, which ranks on its assumed rates, is matched "
        f"by the X-learner from {_first_pilot(tight[HEADLINE] >= tight['prior'])} on."
    )
    add("")


def why_section(results: dict[str, Any], checked: list[dict[str, Any]], add: Add) -> None:
    add("## Why")
    add("")
    _noise_paragraph(results, add)
    _pilot_paragraph(results, add)
    _ceiling_paragraph(results, add)
    _guard_paragraph(results, add)
    _budget_paragraph(results, add)
