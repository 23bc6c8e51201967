"""Reading transactions the same way in every command that reads them.

``features``, ``evaluate``, ``train``, ``score``, ``report``, ``campaign import`` and
``campaign learn --transactions`` all go through :func:`load_for_command`: the same
options (``--map``, ``--delimiter``, ``--encoding``, ``--date-format``, ``--id-format``)
and the quarantine file next to the command's output
(:func:`pipelines.paths.quarantine_path_for_command`). Each prints the same read /
accepted / quarantined table (:func:`pipelines.cli.console.print_load_report`) once its
stage has succeeded, so that a failure stays one line. A command used to drop its
quarantined rows without a word; now none can.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

from features.errors import TransactionsError

if TYPE_CHECKING:  # types only: the contract imports pandas and duckdb
    from features.config import LineRules
    from features.contract import LoadedTransactions, LoadReport
    from features.reading import ReadOptions


def load_for_command(
    transactions: str,
    column_map: str | None,
    options: ReadOptions,
    quarantine_path: Path,
    lines: LineRules | None = None,
) -> LoadedTransactions:
    """Read and validate ``transactions`` and write the quarantine file; the caller prints
    ``print_load_report(loaded.report)`` when its stage is done."""
    from features.contract import load_transactions, parse_column_map
    from pipelines.cli.console import working

    with working(f"reading and validating {transactions}"):
        return load_transactions(
            transactions,
            column_map=parse_column_map(column_map),
            quarantine_path=quarantine_path,
            lines=lines,
            read_options=options,
        )


def check_quarantine_share(
    report: LoadReport,
    max_share: float,
    allowed_share: float | None = None,
    expected_reasons: tuple[str, ...] = (),
) -> None:
    """Refuse to learn from a file whose rows were mostly quarantined.

    ``max_share`` is the configured limit (``reading.max_quarantine_share``);
    ``allowed_share`` (``--allow-quarantine-share``) replaces it for one run. Rows
    quarantined for one of ``expected_reasons`` (``reading.expected_reasons``: guest orders,
    postage lines) do not count: an export holds them by design.
    """
    limit = max_share if allowed_share is None else allowed_share
    counted = sum(
        n for reason, n in report.quarantined_by_reason.items() if reason not in expected_reasons
    )
    share = counted / report.rows_read if report.rows_read else 0.0
    if share <= limit:
        return
    where = f"; see {report.quarantine_path}" if report.quarantine_path else ""
    setting = (
        "--allow-quarantine-share" if allowed_share is not None else "reading.max_quarantine_share"
    )
    raise TransactionsError(
        f"{report.source}: {counted:,} of {report.rows_read:,} rows "
        f"({share:.1%}) were quarantined as unreadable, more than {setting} ({limit:.1%}) "
        f"allows{where}; fix the file, or pass --allow-quarantine-share "
        f"{min(1.0, _round_up(share)):g}"
    )


def _round_up(share: float) -> float:
    """The share rounded up to a whole percent, to suggest as an override."""
    return math.ceil(share * 100 - 1e-9) / 100
