"""Section (e) of RESULTS.md: start-up and loading, ours against the reference of the run."""

from __future__ import annotations

from typing import Any


def startup_section(r: dict[str, Any], add) -> None:
    """``winback --help`` vs a bare Typer import; ``load_transactions`` vs ``read_parquet``."""
    startup, load = r.get("cli_startup"), r.get("load_transactions")
    if not startup and not load:
        return
    add("## (e) Start-up and loading")
    add("")
    add("| what | ours | reference | time ratio ours/ref | notes |")
    add("|---|---|---|---|---|")
    if startup:
        heavy = ", ".join(startup["heavy_modules"]) or "none"
        bytecode = "written" if startup["bytecode_written"] else "not written"
        add(
            f'| `winback --help` vs `python -c "import typer, rich"` '
            f"| {startup['seconds']:.3f} s | {startup['reference_seconds']:.3f} s "
            f"| {startup['ratio']:.2f} | heavy libraries imported by `pipelines.cli`: {heavy}; "
            f"bytecode {bytecode} (PYTHONDONTWRITEBYTECODE) |"
        )
    if load:
        add(
            f"| `load_transactions` (Parquet) vs `pd.read_parquet` "
            f"| {load['seconds']:.2f} s | {load['reference_seconds']:.2f} s "
            f"| {load['seconds'] / load['reference_seconds']:.1f} "
            f"| {load['rows_read']:,} rows read, {load['rows_accepted']:,} accepted, counts "
            f"{'reconcile' if load['reconciles'] else 'DO NOT reconcile'}; "
            f"peak RSS {load['peak_rss_mb']:,.0f} MB |"
        )
    add("")
    add(
        "Each command is a fresh process, runs interleaved, best of at least 5. Loading "
        "validates, types and counts every row (quarantine reasons, duplicates, money), so "
        "it is not expected to match a bare read; the ratio tracks what that costs."
    )
    add("")


def whole_process_section(r: dict[str, Any], add) -> None:
    """``winback features`` / ``score`` against the lifetimes scripts, whole processes."""
    rows = [(key, r.get(key)) for key in ("whole_features", "whole_score")]
    if not any(result for _, result in rows):
        return
    add("## (f) Whole processes, from the shell prompt to the file")
    add("")
    add(
        "| command | reference | ours | reference time | speed-up "
        "| peak RSS ours | peak RSS reference |"
    )
    add("|---|---|---|---|---|---|---|")
    labels = {
        "whole_features": (
            "`winback features`",
            "lifetimes script: read Parquet, `summary_data_from_transaction_data`, write",
        ),
        "whole_score": (
            "`winback score` (features, BTYD, XGBoost, write)",
            "lifetimes pipeline: summary, BG/NBD and Gamma-Gamma fits, expected purchases, "
            "P(alive), CLV, write",
        ),
    }
    for key, result in rows:
        if not result:
            continue
        ours, reference = labels[key]
        add(
            f"| {ours} | {reference} | {result['seconds']:.2f} s "
            f"| {result['reference_seconds']:.2f} s | {result['speedup']:.2f}x "
            f"| {result['peak_rss_mb']:,.0f} MB | {result['reference_peak_rss_mb']:,.0f} MB |"
        )
    add("")
    add(
        "Each run is a fresh process (start-up, imports, reading and writing included), ours "
        "and the reference alternating, best of the run's repeat count each; peak RSS is the "
        "process's own. `winback score` scores with a champion trained once, untimed, on the "
        "same file (BG/NBD as the transaction model); the lifetimes pipeline fits its models "
        "in the timed run, as a lifetimes user does on every scoring run."
    )
    add("")
