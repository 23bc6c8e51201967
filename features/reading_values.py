"""Reading checks on values, once the contract knows which column is which.

Why refuse rather than guess: ``05/10/1997`` is 5 October or 10 May, and a guess swaps days
and months on every row whose day is 12 or less, silently. Amounts written ``1,5`` and ids
written ``17850.0`` are the other two habits of real exports that change results without an
error; they get a note (amounts, which are quarantined) or an option (``--id-format``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import duckdb
import pandas as pd

from features.errors import TransactionsError

if TYPE_CHECKING:  # the type only: features.reading imports this module's users
    from features.reading import ReadOptions

#: ``dd/mm/yyyy`` or ``mm/dd/yyyy`` (also with ``.`` or ``-``), optionally with a time.
_DAY_MONTH = r"^(\d{1,2})([/.-])(\d{1,2})[/.-](\d{4}|\d{2})( \d{1,2}:\d{2}(:\d{2})?)?"
#: An integer, perhaps written as a decimal (``17850.0``), and its canonical form's parts.
_INTEGER_ID = r"[+-]?[0-9]+(\.0*)?"
_INTEGER_PARTS = r"^\+?(-?)0*([0-9]+?)(?:\.0*)?$"


def _literal(value: object) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def inspect_columns(
    con: duckdb.DuckDBPyConnection,
    source_name: str,
    resolved: Mapping[str, str],
    types: Mapping[str, str],
    options: ReadOptions,
    notes: list[str],
) -> None:
    """The checks that need to know which column is which, before any row is typed.

    Day/month dates are refused without ``--date-format`` (a guess would silently swap
    months and days on every row whose day is 12 or less); amounts written with a decimal
    comma or a thousands separator get a note, since they are quarantined as non-numeric.
    """
    column = resolved["timestamp"]
    if _is_text(types[column]):
        if options.date_format is not None:
            _check_date_format(con, options.date_format)
        else:
            _refuse_day_month_dates(con, source_name, column)
    for name in ("amount", "quantity", "unit_price"):
        theirs = resolved.get(name)
        if theirs is None or not _is_text(types[theirs]):
            continue
        example = _first_match(con, theirs, r"-?[0-9]+(,[0-9]+)+(\.[0-9]+)?", ",")
        if example is not None:
            notes.append(
                f"column {theirs!r} has numbers like {example!r} (a decimal comma or a "
                "thousands separator): winback reads only '.' as the decimal point, so those "
                "rows are quarantined as non_numeric_amount"
            )


def _is_text(column_type: str) -> bool:
    return column_type.upper().startswith("VARCHAR")


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _first_match(
    con: duckdb.DuckDBPyConnection, column: str, pattern: str, needle: str
) -> str | None:
    """The first value matching ``pattern``; ``needle`` (a substring every match has) skips
    the regular expression on most rows."""
    text = f"TRIM(CAST({_quote(column)} AS VARCHAR))"
    row = con.execute(
        f"SELECT {text} FROM raw_input WHERE contains({text}, {_literal(needle)}) "
        f"AND regexp_full_match({text}, {_literal(pattern)}) LIMIT 1"
    ).fetchall()
    return row[0][0] if row else None


def _check_date_format(con: duckdb.DuckDBPyConnection, date_format: str) -> None:
    try:
        con.execute(f"SELECT try_strptime('', {_literal(date_format)})").fetchall()
    except duckdb.Error as error:
        first_line = str(error).strip().splitlines()[0]
        raise TransactionsError(f"--date-format {date_format!r}: {first_line}") from None


def _refuse_day_month_dates(con: duckdb.DuckDBPyConnection, source_name: str, column: str) -> None:
    """Refuse text dates such as 05/10/1997: day first or month first is the user's call."""
    pattern = _literal(_DAY_MONTH)
    text = f"TRIM(CAST({_quote(column)} AS VARCHAR))"
    example, day_first, month_first = con.execute(
        f"""
        WITH hits AS (
            SELECT t, CAST(regexp_extract(t, {pattern}, 1) AS INTEGER) AS a,
                   CAST(regexp_extract(t, {pattern}, 3) AS INTEGER) AS b
            FROM (SELECT {text} AS t FROM raw_input)
            WHERE regexp_matches(t, '^[0-9]{{1,2}}[/.-]') AND regexp_matches(t, {pattern})
        )
        SELECT first(t), first(t) FILTER (WHERE a > 12), first(t) FILTER (WHERE b > 12)
        FROM hits
        """
    ).fetchall()[0]
    if example is None:
        return
    where = f"{source_name}: column {column!r} has dates like {example!r}"
    day, month = _format_like(example, True), _format_like(example, False)
    if day_first and month_first:
        raise TransactionsError(
            f"{where}, both day first ({day_first!r}) and month first ({month_first!r}); "
            f"give --date-format (e.g. {day!r}): values that do not fit are quarantined"
        )
    if day_first or month_first:
        suggested, word, seen = (
            (day, "day", day_first) if day_first else (month, "month", month_first)
        )
        raise TransactionsError(
            f"{where}; the data suggests {word} first ({seen!r}), but winback does not "
            f"guess: give --date-format {suggested!r}"
        )
    raise TransactionsError(
        f"{where}, which read as day/month or month/day; give --date-format {day!r} "
        f"(day first) or {month!r} (month first)"
    )


def _format_like(example: str, day_first: bool) -> str:
    """A strptime format for ``example`` (``05/10/1997 08:26`` -> ``%d/%m/%Y %H:%M``)."""
    match = re.match(_DAY_MONTH, example)
    assert match is not None  # example was selected by the same pattern
    separator = match.group(2)
    year = "%Y" if len(match.group(4)) == 4 else "%y"
    fmt = separator.join(["%d", "%m", year] if day_first else ["%m", "%d", year])
    if match.group(5):
        fmt += " %H:%M" + (":%S" if match.group(6) else "")
    return fmt


def normalise_ids(ids: pd.Series, source_name: str, id_format: str, notes: list[str]) -> pd.Series:
    """Customer ids as text: kept as read (``text``) or as canonical integers (``integer``).

    Exports that went through a float column write ``17850.0`` where the CRM keeps
    ``17850``; ``integer`` undoes that, and refuses when some id is not an integer at all,
    since merging ``17850.5`` into ``17850`` would join two customers.
    """
    if id_format == "integer":
        bad = ~ids.str.fullmatch(_INTEGER_ID).astype(bool)
        if bad.any():
            raise TransactionsError(
                f"{source_name}: --id-format integer, but customer id {ids[bad].iloc[0]!r} is "
                f"not an integer ({int(bad.sum()):,} of {len(ids):,} ids are not); use "
                "--id-format text"
            )
        return ids.str.replace(_INTEGER_PARTS, r"\1\2", regex=True)
    note_disguised_integers(ids.iloc[:1000], lambda: ids, notes)
    return ids


#: An integer written as a decimal (``17850.0``), what ``--id-format integer`` undoes.
_DISGUISED_INTEGER = r"[+-]?[0-9]+\.0+"


def note_disguised_integers(
    first_ids: pd.Series, every_id: Callable[[], pd.Series], notes: list[str]
) -> None:
    """Add a note when every id kept as text looks like an integer written as a decimal.

    ``every_id`` is called only when the first ids (``first_ids``) all do: ids read in
    place (:func:`features.contract.validate_in_place`) are then fetched, not otherwise.
    """
    if not len(first_ids) or not first_ids.str.fullmatch(_DISGUISED_INTEGER).all():
        return
    ids = every_id()
    if ids.str.fullmatch(_DISGUISED_INTEGER).all():
        notes.append(
            f"customer ids look like integers written as decimals ({ids.iloc[0]!r}); "
            "--id-format integer reads them as integers"
        )
