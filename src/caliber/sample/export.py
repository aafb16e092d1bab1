"""Write a realistic synthetic Trade Desk or PulsePoint performance export.

The files look like what the platforms really export, quirks included, so that the
reader and the scoring engine can be exercised (and benchmarked) end to end:

- the real export headers (see ``docs/scoring.md`` §2; ``trade_desk.py``, ``pulsepoint.py``);
- money as ``$1,234.56``, counts with thousands separators (``12,345``), rates as
  percent strings (``63.41%``), occasional missing markers (``-``, ``N/A``, empty)
  in rate columns (``quirks.py``);
- one domain on many rows (several days, several supply vendors), spelled in
  several ways (``www.`` prefixes, upper / mixed case, surrounding spaces);
- a few ``[tail aggregate]`` rows and one ``Total`` row at the end, plus real domains
  whose names merely contain aggregate words (``totalsportek.com``,
  ``summaryjournal.com``) (``names.py``);
- long-tailed volume per site and counts that are consistent with each other
  (clicks <= impressions, viewed <= tracked, completed <= starts, ...) (``rows.py``).

Generation is vectorized (numpy for the numbers, polars for the string formatting
and the CSV writing) and deterministic for a given seed. numpy and polars are
imported inside the functions so that importing this module stays cheap.
"""

from __future__ import annotations

import datetime as dt
import pathlib
from typing import TYPE_CHECKING

from caliber.sample.names import TAIL_AGGREGATE, site_names
from caliber.sample.pulsepoint import PULSEPOINT
from caliber.sample.quirks import cell_expressions, spelling_codes, total_row
from caliber.sample.rows import START_DATE, draw_rows
from caliber.sample.trade_desk import TRADE_DESK

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import polars as pl

__all__ = [
    "SAMPLE_CHANNELS",
    "SAMPLE_PLATFORMS",
    "SampleError",
    "sample_headers",
    "write_sample",
]

_PLATFORMS = {platform.name: platform for platform in (TRADE_DESK, PULSEPOINT)}
SAMPLE_PLATFORMS: tuple[str, ...] = tuple(_PLATFORMS)
SAMPLE_CHANNELS: dict[str, tuple[str, ...]] = {
    name: tuple(platform.headers) for name, platform in _PLATFORMS.items()
}
# formatted a chunk at a time: the string columns of one chunk at a time stay in memory
_CHUNK_ROWS = 100_000


class SampleError(ValueError):
    """An unsupported platform / channel combination or an invalid size or seed."""


def _check(platform: str, channel: str) -> tuple[str, str]:
    plat = platform.strip().lower()
    chan = channel.strip().lower()
    if plat not in SAMPLE_CHANNELS:
        raise SampleError(
            f"unsupported platform {platform!r}: supported platforms are "
            + ", ".join(SAMPLE_PLATFORMS)
        )
    if chan not in SAMPLE_CHANNELS[plat]:
        raise SampleError(
            f"unsupported channel {channel!r} for platform {plat!r}: supported channels are "
            + ", ".join(SAMPLE_CHANNELS[plat])
        )
    return plat, chan


def sample_headers(platform: str, channel: str) -> list[str]:
    """The header row of a sample export for ``platform`` / ``channel``."""
    plat, chan = _check(platform, channel)
    return list(_PLATFORMS[plat].headers[chan])


def write_sample(
    path: pathlib.Path,
    platform: str,
    channel: str,
    rows: int = 2000,
    seed: int = 7,
    sites: int | None = None,
) -> int:
    """Write a realistic export as UTF-8 CSV; return the number of data rows written (including the aggregate rows).
    ``sites``: how many distinct sites (default one in 40 rows)."""  # noqa: E501
    plat, chan = _check(platform, channel)
    if isinstance(rows, bool) or not isinstance(rows, int) or rows < 1:
        raise SampleError(f"rows must be an integer >= 1, got {rows!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise SampleError(f"seed must be an integer >= 0, got {seed!r}")
    if sites is not None and (isinstance(sites, bool) or not isinstance(sites, int) or sites < 1):
        raise SampleError(f"sites must be an integer >= 1, got {sites!r}")
    raw, exprs, total = _build(plat, chan, rows, seed, sites)
    written = 0
    with pathlib.Path(path).open("wb") as out:
        for offset in range(0, max(raw.height, 1), _CHUNK_ROWS):
            chunk = raw.slice(offset, _CHUNK_ROWS).select(exprs)
            chunk.write_csv(out, include_header=offset == 0)
            written += chunk.height
        if total is not None:
            total.write_csv(out, include_header=False)
            written += total.height
    return written


def _build(
    platform_name: str, channel: str, rows: int, seed: int, sites: int | None = None
) -> tuple[pl.DataFrame, list[pl.Expr], pl.DataFrame | None]:
    """The raw (numeric) rows in export order, the expressions that format them, the Total row."""
    import numpy as np
    import polars as pl

    platform = _PLATFORMS[platform_name]
    ctv = channel == "ctv"
    headers = platform.headers[channel]
    vendors = platform.vendors[channel]

    shared = draw_rows(platform, channel, rows, seed, sites)
    own = platform.columns(shared, channel)
    counts_by_header: dict[str, npt.NDArray[np.int64]] = {
        "Impressions": shared.imps,
        "Clicks": shared.clicks,
        "All Last Click + View Conversions": shared.conversions,
        "Conversions": shared.conversions,
        **own.counts,
    }
    names = site_names(shared.n_sites, ctv, in_app=platform.in_app)
    site_code, vendor_code = spelling_codes(shared.draws, shared.n_site_rows, names, ctv)

    total_row_frame = None
    if shared.with_total:
        total = total_row(
            headers,
            counts_by_header,
            own.total_rates,
            int(shared.cents.sum()),
            int(shared.imps.sum()),
        )
        total_row_frame = pl.DataFrame([total], schema=dict.fromkeys(headers, pl.String))

    # --- order like an export: by date, biggest rows first.
    order = np.lexsort((-shared.imps, shared.day))
    name_series = pl.Series("name", [*names, TAIL_AGGREGATE], dtype=pl.String)
    dates = [START_DATE + dt.timedelta(days=d) for d in range(platform.days)]
    date_strings = pl.Series(
        "date", [d.strftime(platform.date_format) for d in dates], dtype=pl.String
    )

    columns: dict[str, pl.Series | npt.NDArray[np.int64]] = {
        "_date": date_strings.gather(shared.day[order]),
        "_site": name_series.gather(shared.draws.site[order]),
        "_site_code": site_code[order],
        "_vendor": pl.Series("vendor", vendors, dtype=pl.String).gather(shared.vendor[order]),
        "_vendor_code": vendor_code[order],
        "_cents": shared.cents[order],
        "_imps": shared.imps[order],
    }
    del site_code, vendor_code, shared
    rate_headers = set(own.rates_bp)
    for header in headers:
        if header in counts_by_header:
            columns[header] = counts_by_header.pop(header)[order]
        elif header in own.rates_bp:
            columns[header] = own.rates_bp.pop(header)[order]
            columns[f"_missing {header}"] = own.rate_missing.pop(header)[order]
    counts_by_header.clear()
    raw = pl.DataFrame(columns)
    del columns, order

    return raw, cell_expressions(headers, rate_headers, ctv), total_row_frame
