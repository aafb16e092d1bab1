"""Numbers in cells: how a cell reads with a decimal point or a decimal comma, and which
cells show which one the file uses.

A cell tells the two apart only when exactly one reading is valid: ``16,25``, ``0,5``,
``1.234,56`` and ``1.234.567`` are written with a decimal comma, ``16.25``, ``0.5``,
``1,234.56`` and ``1,234,567`` with a decimal point. ``1,234`` and ``1.234`` (one
separator followed by three digits, not after a leading 0) read *either* way, plain
digits the same both ways; dates (``13/03/2024``, ``13.03.2024``) and text are neither.

Whatever the format, spaces (also non-breaking and thin), apostrophes, currency signs
and codes before or after the number, and the percent sign are removed, and the Unicode
minus sign is a minus. Which format a file and each column use is decided by
:mod:`caliber.engine.number_format`.
"""

from __future__ import annotations

import polars as pl

from caliber.engine.columns import INPUTS, Kind
from caliber.engine.options import NumberFormat

POINT: NumberFormat = NumberFormat.POINT
COMMA: NumberFormat = NumberFormat.COMMA

# Group separators in both conventions (Swiss exports group with apostrophes).
_GROUPING = [" ", "\t", "\u00a0", "\u2009", "\u202f", "'", "\u2019"]
# Longer spellings first: "US$" must not leave "US" behind. Each pattern costs every
# numeric cell a little (about 1% of the parse per ten), so the list keeps to the
# currencies ad exports are billed in.
_CURRENCIES = [
    *("US$", "CA$", "AU$", "$", "€", "£", "¥", "₹"),
    *("USD", "EUR", "GBP", "JPY", "CHF", "CAD", "AUD", "SEK", "NOK", "DKK", "PLN", "INR"),
]
NOISE = [*_GROUPING, *_CURRENCIES, "%"]
MINUS = "\u2212"
_SIGNS = ["+", "-", MINUS]

# Valid readings of a cell stripped of noise and signs (see the module docstring).
_VALID = {
    POINT: r"^(?:\d+|[1-9]\d{0,2}(?:,\d{3})+)(?:\.\d+)?$|^\.\d+$",
    COMMA: r"^(?:\d+|[1-9]\d{0,2}(?:\.\d{3})+)(?:,\d+)?$|^,\d+$",
}


def _other_pattern(mark: str, other_mark: str) -> str:
    """Cells (raw) that may be written with the decimal mark ``mark`` while read with
    the other: a superset of the cells whose only valid reading uses ``mark``. It only
    decides whether every row is counted, so it may err on the side of matching."""
    spaces = "".join(_GROUPING)
    digit = rf"\d[{spaces}]*"  # a digit; group spaces and apostrophes do not count
    edge = rf"(?:^|[^\d{spaces}])[{spaces}]*"  # where a number starts
    after = rf"{mark}[{spaces}]*"
    return "|".join(
        (
            rf"{after}(?:{digit}){{0,2}}(?:[^\d{spaces}]|$)",  # 0-2 digits after: 16,25
            rf"{after}(?:{digit}){{4}}",  # 4 or more: 1234,5678
            rf"{other_mark}[{spaces}]*(?:{digit})*[{mark}{other_mark}]",  # 1.234,56 1.234.567
            rf"{edge}(?:0[{spaces}]*(?:{digit})*|(?:{digit}){{4,}}){mark}",  # after 0, 4+ digits
            rf"{edge}{after}\d",  # after no digit: ,5
        )
    )


_OTHER = {POINT: _other_pattern(",", r"\."), COMMA: _other_pattern(r"\.", ",")}
NAMES = {POINT: "a decimal point", COMMA: "a decimal comma"}
# Columns that hold decimals: checked cell by cell; the others hold whole counts and
# are checked by their values (a fraction or an unparseable cell).
_DECIMAL_COUNTS = frozenset({"spend", "tv_quality_index_raw"})


def other(fmt: NumberFormat) -> NumberFormat:
    return COMMA if fmt is POINT else POINT


def parse_number(raw: pl.Expr, dtype: pl.DataType, fmt: NumberFormat = POINT) -> pl.Expr:
    """A cell as a float in format ``fmt`` (noise removed, the group mark dropped, the
    decimal mark made a point); numbers as they are; null when the cell gives none."""
    if dtype != pl.String:
        return raw.cast(pl.Float64, strict=False)
    patterns = [*NOISE, MINUS]
    replacements = [""] * len(NOISE) + ["-"]
    if fmt is COMMA:
        patterns += [".", ","]
        replacements += ["", "."]
    else:
        patterns.append(",")
        replacements.append("")
    return raw.str.replace_many(patterns, replacements).cast(pl.Float64, strict=False)


def holds_decimals(name: str) -> bool:
    """Whether input ``name`` legitimately holds decimals (money, rates, TVQI)."""
    return name in _DECIMAL_COUNTS or INPUTS[name].kind is not Kind.COUNT


def contradicts(raw: pl.Expr, fmt: NumberFormat) -> pl.Expr:
    """Per cell: it may be written in the other format than ``fmt`` (cheap, a superset)."""
    return raw.str.contains(_OTHER[fmt]).fill_null(value=False)


def skeleton(raw: pl.Expr) -> pl.Expr:
    """A cell without noise and signs: digits and marks, what :func:`evidence` reads."""
    return raw.str.replace_many([*NOISE, *_SIGNS], [""] * (len(NOISE) + len(_SIGNS)))


def evidence(stripped: pl.Expr) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    """Per cell (its :func:`skeleton`): written with a decimal point / with a decimal
    comma / either way (one mark, then three digits: ``1,234``)."""
    point_ok = stripped.str.contains(_VALID[POINT]).fill_null(value=False)
    comma_ok = stripped.str.contains(_VALID[COMMA]).fill_null(value=False)
    marked = stripped.str.contains(r"[.,]").fill_null(value=False)
    return point_ok & ~comma_ok, comma_ok & ~point_ok, point_ok & comma_ok & marked


def read_one(text: str, fmt: NumberFormat) -> str:
    """How one cell reads in ``fmt``, for messages."""
    value = pl.select(parse_number(pl.lit(text, pl.String), pl.String(), fmt)).item()
    if value is None:
        return "no number"
    return f"{value:,.10g}"
