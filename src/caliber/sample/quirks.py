"""The quirks that make a sample look like a real export rather than a clean table:
counts with thousands separators, money as ``$1,234.56``, rates as percent strings with
missing markers (``-``, ``N/A``, empty), domains spelled with ``www.``, in upper or mixed
case or with spaces, supply vendors in odd case, blank CTV app names, and the Total row.

Numbers stay integers (cents, basis points) until polars formats them as strings, a
chunk of rows at a time.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import polars as pl

    from caliber.sample.rows import Draws

    IntArray: TypeAlias = npt.NDArray[np.int64]

# the headers of the columns formatted as something other than a count
_DATE = "Date"
_SITE = ("Site", "Domain")
_VENDOR = "Supply Vendor"
_SPEND = ("Advertiser Cost (Adv Currency)", "Total Spend")
_ECPM = "eCPM"


def spelling_codes(
    draws: Draws, n_site_rows: int, site_names: list[str], ctv: bool
) -> tuple[IntArray, IntArray]:
    """How each row spells its site and its vendor (codes of :func:`_domain_variant` and
    :func:`_vendor_variant`; for CTV, site code 1 is a blank app name). App bundles and
    the tail-aggregate rows are always spelled as they are."""
    import numpy as np

    rng, n_rows, site = draws.rng, draws.n_rows, draws.site
    if ctv:
        site_code = np.where(rng.random(n_rows) < 0.04, 1, 0)  # 1 = blank app
        vendor_code = rng.choice(4, n_rows, p=[0.94, 0.02, 0.02, 0.02])
    else:
        site_code = rng.choice(8, n_rows, p=[0.45, 0.45, 0.02, 0.02, 0.02, 0.02, 0.01, 0.01])
        vendor_code = np.zeros(n_rows, dtype=np.int64)
    if not ctv:  # app bundles are not spelled with www.
        is_bundle = np.array([name.startswith("com.") for name in site_names] + [False])
        site_code[is_bundle[site]] = 0
    site_code[n_site_rows:] = 0
    return site_code, vendor_code


def total_row(
    headers: tuple[str, ...],
    counts: dict[str, IntArray],
    total_rates: dict[str, float],
    total_cents: int,
    total_imps: int,
) -> dict[str, str | None]:
    """The Total row an export ends with: summed counts and spend, overall rates."""
    total: dict[str, str | None] = {}
    for header in headers:
        if header == _DATE:
            total[header] = "Total"
        elif header in (*_SITE, _VENDOR):
            total[header] = None
        elif header in _SPEND:
            total[header] = _fmt_money(total_cents)
        elif header == _ECPM:
            total[header] = _fmt_money(round(total_cents * 1000 / max(total_imps, 1)))
        elif header in total_rates:
            total[header] = _fmt_rate(total_rates[header])
        else:
            total[header] = _fmt_count(int(counts[header].sum()))
    return total


def cell_expressions(headers: tuple[str, ...], rate_headers: set[str], ctv: bool) -> list[pl.Expr]:
    """The expressions that write the raw columns as the export's cells, in header order:
    ``_date``, ``_site``, ``_vendor``, ``_cents`` and ``_imps`` with their ``_site_code``
    and ``_vendor_code``, counts and rates (``_missing <header>``) by header."""
    import polars as pl

    exprs: list[pl.Expr] = []
    for header in headers:
        if header == _DATE:
            expr = pl.col("_date")
        elif header in _SITE:
            if ctv:
                expr = (
                    pl.when(pl.col("_site_code") == 1)
                    .then(pl.lit(None, dtype=pl.String))  # a blank app name
                    .otherwise(pl.col("_site"))
                )
            else:
                expr = _domain_variant(pl.col("_site"), pl.col("_site_code"))
        elif header == _VENDOR:
            expr = _vendor_variant(pl.col("_vendor"), pl.col("_vendor_code"))
        elif header in _SPEND:
            expr = _money(pl.col("_cents"))
        elif header == _ECPM:
            ecpm_cents = (pl.col("_cents") * 1000 / pl.col("_imps")).round(0).cast(pl.Int64)
            expr = _money(ecpm_cents)
        elif header in rate_headers:
            expr = _with_missing(_percent(pl.col(header)), pl.col(f"_missing {header}"))
        else:
            expr = _grouped(pl.col(header))
        exprs.append(expr.alias(header))
    return exprs


def _grouped(x: pl.Expr) -> pl.Expr:
    """A non-negative integer expression as a string with thousands separators.

    Exact below 10**12, which every data row is by far.
    """
    import polars as pl

    def three(e: pl.Expr) -> pl.Expr:
        return e.cast(pl.String).str.zfill(3)

    return (
        pl.when(x < 1_000)
        .then(x.cast(pl.String))
        .when(x < 1_000_000)
        .then(pl.concat_str([(x // 1_000).cast(pl.String), three(x % 1_000)], separator=","))
        .when(x < 1_000_000_000)
        .then(
            pl.concat_str(
                [(x // 1_000_000).cast(pl.String), three((x // 1_000) % 1_000), three(x % 1_000)],
                separator=",",
            )
        )
        .otherwise(
            pl.concat_str(
                [
                    (x // 1_000_000_000).cast(pl.String),
                    three((x // 1_000_000) % 1_000),
                    three((x // 1_000) % 1_000),
                    three(x % 1_000),
                ],
                separator=",",
            )
        )
    )


def _money(cents: pl.Expr) -> pl.Expr:
    """Integer cents as ``$1,234.56``."""
    import polars as pl

    return pl.concat_str(
        [
            pl.lit("$"),
            _grouped(cents // 100),
            pl.lit("."),
            (cents % 100).cast(pl.String).str.zfill(2),
        ]
    )


def _percent(basis_points: pl.Expr) -> pl.Expr:
    """An integer number of basis points (1/100 of a percent) as ``63.41%``."""
    import polars as pl

    return pl.concat_str(
        [
            (basis_points // 100).cast(pl.String),
            pl.lit("."),
            (basis_points % 100).cast(pl.String).str.zfill(2),
            pl.lit("%"),
        ]
    )


def _with_missing(formatted: pl.Expr, code: pl.Expr) -> pl.Expr:
    """Replace a formatted rate by a missing marker where ``code`` is 1, 2 or 3."""
    import polars as pl

    return (
        pl.when(code == 1)
        .then(pl.lit("-"))
        .when(code == 2)
        .then(pl.lit("N/A"))
        .when(code == 3)
        .then(pl.lit(None, dtype=pl.String))  # written as an empty field
        .otherwise(formatted)
    )


def _domain_variant(name: pl.Expr, code: pl.Expr) -> pl.Expr:
    """Spell a lower-case domain the way exports do: www., upper / mixed case, spaces."""
    import polars as pl

    cap = pl.concat_str([name.str.slice(0, 1).str.to_uppercase(), name.str.slice(1)])
    return (
        pl.when(code == 1)
        .then(pl.concat_str([pl.lit("www."), name]))
        .when(code == 2)
        .then(pl.concat_str([pl.lit("WWW."), name.str.to_uppercase()]))
        .when(code == 3)
        .then(pl.concat_str([pl.lit("WWW."), cap]))
        .when(code == 4)
        .then(cap)
        .when(code == 5)
        .then(pl.concat_str([pl.lit(" "), name, pl.lit(" ")]))
        .when(code == 6)
        .then(pl.concat_str([pl.lit("www."), name, pl.lit(" ")]))
        .when(code == 7)
        .then(name.str.to_uppercase())
        .otherwise(name)
    )


def _vendor_variant(name: pl.Expr, code: pl.Expr) -> pl.Expr:
    """Spell a supply vendor the way exports sometimes do: case and spaces."""
    import polars as pl

    return (
        pl.when(code == 1)
        .then(name.str.to_uppercase())
        .when(code == 2)
        .then(name.str.to_lowercase())
        .when(code == 3)
        .then(pl.concat_str([pl.lit(" "), name, pl.lit(" ")]))
        .otherwise(name)
    )


def _fmt_count(value: int) -> str:
    return f"{value:,}"


def _fmt_money(cents: int) -> str:
    return f"${cents // 100:,}.{cents % 100:02d}"


def _fmt_rate(rate: float) -> str:
    if math.isnan(rate):
        return "-"
    bp = round(rate * 10_000)
    return f"{bp // 100}.{bp % 100:02d}%"
