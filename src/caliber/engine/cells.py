"""Cells: a raw cell as a number, and what each column's cells say (``scoring.md`` §2).

A cell of a count, money or rate column becomes a number in its column's number format
(:mod:`caliber.engine.numbers`: spaces, currency signs, group separators and the percent
sign removed, the decimal mark made a point) with flags for what the run reports: not a
number, negative, too large for a count, carrying a percent sign, possibly written in
the other number format. The flags are counted per group of rows (statistics named
``<column>|<stat>``), combined across groups and reduced to the run's warnings, which
also decide the rate columns given in percent.
"""

from __future__ import annotations

import polars as pl

from caliber.engine.columns import INPUTS, Kind
from caliber.engine.config import CPM_WARNING_THRESHOLD
from caliber.engine.numbers import contradicts, holds_decimals, parse_number
from caliber.engine.options import NumberFormat
from caliber.engine.read import Table
from caliber.engine.report import DataWarning, ProcessingReport

# The largest count a float holds exactly (2**53): a larger "count" (1e19 impressions)
# is not one anybody measured, and it would not fit the results' integer columns.
MAX_COUNT = float(2**53)


def cell_exprs(
    name: str, source: str, dtype: pl.DataType, fmt: NumberFormat = NumberFormat.POINT
) -> list[pl.Expr]:
    """Per cell: the number (money, separators, percent handled) and its flags.

    Missing markers are already null here (the readers turn them into nulls), so a
    non-null cell that gives no number is unparseable. In a column holding decimals,
    ``|unsure`` marks a cell shaped like the other number format than ``fmt``
    (:func:`~caliber.engine.numbers.contradicts`); whole counts are checked by their sums
    (:func:`unsure_cells`).
    """
    kind = INPUTS[name].kind
    raw = pl.col(source)
    number = parse_number(raw, dtype, fmt)
    bad = raw.is_not_null() & number.is_null()
    if dtype == pl.String:
        percent = raw.str.contains("%", literal=True).fill_null(value=False)
    else:
        percent = pl.lit(value=False)
    exprs = [bad.alias(f"{name}|bad")]
    if holds_decimals(name):
        unsure = contradicts(raw, fmt) if dtype == pl.String else pl.lit(value=False)
        exprs.append(unsure.alias(f"{name}|unsure"))
    if kind is Kind.COUNT or kind is Kind.MONEY_RATE:
        # negative counts and spend are reported and left out, like inf and NaN
        usable = number.is_finite() & (number >= 0)
        exprs.append((number < 0).fill_null(value=False).alias(f"{name}|neg"))
        if kind is Kind.COUNT:  # and so are counts too large to be counts
            usable = usable & (number <= MAX_COUNT)
            exprs.append((number > MAX_COUNT).fill_null(value=False).alias(f"{name}|huge"))
    else:
        usable = number.is_finite()
        exprs.append(percent.alias(f"{name}|pct"))
    exprs.append(pl.when(usable).then(number).alias(name))
    return exprs


def cell_stats(name: str) -> list[pl.Expr]:
    """The statistics of column ``name``'s cells over a group of rows."""
    value = pl.col(name)
    kind = INPUTS[name].kind
    stats = [pl.col(f"{name}|bad").sum().alias(f"{name}|bad")]
    if holds_decimals(name):
        stats.append(pl.col(f"{name}|unsure").sum().alias(f"{name}|unsure"))
    if kind is Kind.COUNT or kind is Kind.MONEY_RATE:
        stats.append(pl.col(f"{name}|neg").sum().alias(f"{name}|neg"))
    if kind is Kind.COUNT:
        stats.append(pl.col(f"{name}|huge").sum().alias(f"{name}|huge"))
    if kind is Kind.MONEY_RATE:
        stats.append((value > CPM_WARNING_THRESHOLD).sum().alias(f"{name}|high"))
    if kind is Kind.RATE:
        stats += [
            pl.col(f"{name}|pct").any().alias(f"{name}|pct"),
            value.max().alias(f"{name}|max"),
            ((value < 0) | (value > 1)).sum().alias(f"{name}|out1"),
            ((value < 0) | (value > 100)).sum().alias(f"{name}|out100"),
        ]
    return stats


def unsure_cells(groups: pl.DataFrame, inputs: list[str]) -> dict[str, int]:
    """Per input, what may be written in the other number format than it was read in:
    unparseable cells (``1,234,567`` with a decimal comma), cells shaped like the other
    format in a column holding decimals, and groups whose sum of a whole count is no
    whole number (``1.234`` read as 1.234; by the sums, so that whole counts cost nothing
    per cell: misread fractions summing to whole numbers in every group are no export)."""
    exprs = []
    for name in inputs:
        flagged = pl.col(f"{name}|bad").sum()
        if holds_decimals(name):
            flagged = flagged + pl.col(f"{name}|unsure").sum()
        else:
            flagged = flagged + (pl.col(f"{name}|sum") % 1 != 0).sum()
        exprs.append(flagged.alias(name))
    return {k: int(v or 0) for k, v in groups.select(exprs).row(0, named=True).items()}


def missing_impressions() -> pl.Expr:
    """Rows of a group with no impressions value at all (neither negative nor too large)."""
    imps = pl.col("impressions")
    unset = imps.is_null() & ~pl.col("impressions|neg") & ~pl.col("impressions|huge")
    return unset.sum().alias("impressions|missing")


def combine(column: str) -> pl.Expr:
    """How a per-group column (a statistic or a sum) combines across groups: across the
    raw spellings of one name, and over all kept names for the warnings."""
    if column.endswith("|pct"):
        return pl.col(column).any()
    if column.endswith("|max"):
        return pl.col(column).max()
    return pl.col(column).sum()


def cell_warnings(
    kept: pl.DataFrame, inputs: list[str], header_of: dict[str, str], report: ProcessingReport
) -> set[str]:
    """Reduce the per-group cell statistics; warn; return the rate columns in percent."""
    wanted = [c for c in kept.columns if "|" in c and c.split("|")[1] not in _NOT_STATS]
    totals = kept.select(combine(c) for c in wanted).row(0, named=True)
    percent: set[str] = set()
    for name in inputs:
        header = header_of[name]
        kind = INPUTS[name].kind
        bad = int(totals[f"{name}|bad"])
        if bad:
            report.warnings.append(
                DataWarning(
                    "unparseable_values",
                    f"{bad} cell(s) of '{header}' are not numbers and were treated as missing",
                    header,
                    bad,
                )
            )
        negatives = int(totals.get(f"{name}|neg") or 0)
        if negatives:
            report.warnings.append(
                DataWarning(
                    "negative_counts",
                    f"{negatives} negative value(s) in '{header}' were treated as missing",
                    header,
                    negatives,
                )
            )
        high = int(totals.get(f"{name}|high") or 0)
        if high:
            report.warnings.append(
                DataWarning(
                    "cpm_above_1000",
                    f"{high} value(s) of '{header}' are above {CPM_WARNING_THRESHOLD:,.0f}",
                    header,
                    high,
                )
            )
        if kind is Kind.RATE:
            maximum = totals[f"{name}|max"]
            in_percent = bool(totals[f"{name}|pct"]) or (maximum is not None and maximum > 1)
            if in_percent:
                percent.add(name)
                report.percent_columns.append(header)
            outside = int(totals[f"{name}|out100" if in_percent else f"{name}|out1"])
            if outside:
                report.warnings.append(
                    DataWarning(
                        "rate_out_of_range",
                        f"{outside} value(s) of '{header}' lie outside [0, 1] after "
                        "percent conversion",
                        header,
                        outside,
                    )
                )
    missing = int(totals["impressions|missing"])
    if missing:
        report.warnings.append(
            DataWarning(
                "missing_impressions",
                f"{missing} row(s) have no impressions value and add nothing to weighted "
                "means or volume",
                header_of["impressions"],
                missing,
            )
        )
    return percent


_NOT_STATS = {"sum", "n", "wsum", "w"}


def warn_huge_counts(
    table: Table,
    position: int,
    header: str,
    kept: pl.DataFrame,
    name: str,
    report: ProcessingReport,
    fmt: NumberFormat = NumberFormat.POINT,
) -> None:
    """Counts above :data:`MAX_COUNT` were left out: say how many, and the first one's
    value and row (found by a second scan of that one column, only when there is one)."""
    count = int(kept[f"{name}|huge"].sum() or 0)
    if not count:
        return
    source = f"c{position}"
    scan = table.scan([position])
    dtype = scan.collect_schema()[source]
    raw = pl.col(source)
    number = parse_number(raw, dtype, fmt)
    first = (
        scan.with_row_index("__row")
        .filter(number > MAX_COUNT)
        .select("__row", raw.cast(pl.String))
        .head(1)
        .collect()
    )
    where = ""
    if first.height:
        index, text = first.row(0)
        where = (
            f"; the first is {str(text).strip()[:40]!r} in row {index + 2} (the header is row 1)"
        )
    report.warnings.append(
        DataWarning(
            "count_too_large",
            f"{count} value(s) of '{header}' are above {MAX_COUNT:,.0f} (the largest count a "
            f"number holds exactly) and were treated as missing{where}",
            header,
            count,
        )
    )
