"""The analysis dimension's values (``scoring.md`` §2): which rows are aggregates (a total
on the dimension or in the first column), which have no name or one too long to be a
name, and the name every other row is grouped under (trimmed, lower-case, without
``www.`` or NUL characters).
"""

from __future__ import annotations

import re

import polars as pl

from caliber.engine.report import DataWarning

AGGREGATE_MARKERS: tuple[str, ...] = (
    "total",
    "totals",
    "grand total",
    "summary",
    "row labels",
    "[tail aggregate]",
    "(not set)",
    "(not available)",
)

# The longest domain or supply vendor kept: a domain has at most 253 characters and
# bundle ids and vendor names far fewer, so a longer value is a broken cell (a quote left
# open swallows the lines after it), never a name to whitelist; its row is dropped and
# counted. The service stores names in a 512-character column: the same rule for both.
MAX_NAME_LENGTH = 512

# The level-1 group columns: the raw dimension text, and whether the first column marks
# the row as an aggregate; and how many rows of the file each group holds.
FIRST = "__first_is_aggregate"
RAW = "__raw_dimension"
ROWS = "source_rows"

# Group keys for dropped rows: they cannot collide with a real value (NUL first).
_AGGREGATE_KEY = "\x00aggregate"
_MISSING_KEY = "\x00missing"
_TOO_LONG_KEY = "\x00too long"
# rows dropped before anything else, by the reason the report counts them under
DROPPED_KEYS = {
    "aggregate_row": _AGGREGATE_KEY,
    "missing_dimension": _MISSING_KEY,
    "dimension_too_long": _TOO_LONG_KEY,
}
AGGREGATE_PATTERN = r"(?i)^\s*(?:" + "|".join(re.escape(m) for m in AGGREGATE_MARKERS) + r")\s*$"


def group_key(raw: str, first_is_aggregate: str) -> pl.Expr:
    """The normalized dimension value, or a sentinel for aggregate, blank and overlong
    rows. NUL characters are removed first: no database text column takes them, and a
    NUL inside a name is damage (a file padded with NUL bytes gives a blank name)."""
    lowered = (
        pl.col(raw).str.replace_all("\x00", "", literal=True).str.strip_chars().str.to_lowercase()
    )
    is_aggregate = lowered.is_in(AGGREGATE_MARKERS).fill_null(value=False) | pl.col(
        first_is_aggregate
    )
    value = lowered.str.strip_prefix("www.").str.strip_chars()
    return (
        pl.when(is_aggregate)
        .then(pl.lit(_AGGREGATE_KEY))
        .when(value.is_null() | (value == ""))
        .then(pl.lit(_MISSING_KEY))
        .when(value.str.len_chars() > MAX_NAME_LENGTH)
        .then(pl.lit(_TOO_LONG_KEY))
        .otherwise(value)
    )


def name_warnings(
    level1: pl.DataFrame, dropped: dict[str, int], level: str, header: str
) -> list[DataWarning]:
    """Names that lost NUL characters, and rows dropped for an overlong name."""
    what = level.replace("_", " ")
    warnings: list[DataWarning] = []
    nul = level1.filter(pl.col(RAW).str.contains("\x00", literal=True))[ROWS].sum()
    if nul:
        warnings.append(
            DataWarning(
                "nul_in_names",
                f"{nul} row(s) had NUL characters in their {what}; they were removed",
                header,
                int(nul),
            )
        )
    too_long = dropped["dimension_too_long"]
    if too_long:
        longest = level1.select(pl.col(RAW).str.len_chars().max()).item()
        warnings.append(
            DataWarning(
                "dimension_too_long",
                f"{too_long} row(s) were dropped because their {what} is longer than "
                f"{MAX_NAME_LENGTH} characters (the longest has {longest:,}); no real {what} "
                "is that long: check the file for a quote left open",
                header,
                too_long,
            )
        )
    return warnings
