"""Realistic synthetic Trade Desk and PulsePoint performance exports.

The files look like what the platforms really export, quirks included, so that the
reader and the scoring engine can be exercised (and benchmarked) end to end:

- the real export headers (see ``docs/scoring.md`` §2);
- money as ``$1,234.56``, counts with thousands separators (``12,345``), rates as
  percent strings (``63.41%``), occasional missing markers (``-``, ``N/A``, empty)
  in rate columns;
- one domain on many rows (several days, several supply vendors), spelled in
  several ways (``www.`` prefixes, upper / mixed case, surrounding spaces);
- a few ``[tail aggregate]`` rows and one ``Total`` row at the end, plus real domains
  whose names merely contain aggregate words (``totalsportek.com``,
  ``summaryjournal.com``);
- long-tailed volume per site and counts that are consistent with each other
  (clicks <= impressions, viewed <= tracked, completed <= starts, ...).

Generation is vectorized (numpy for the numbers, polars for the string formatting
and the CSV writing) and deterministic for a given seed. numpy and polars are
imported inside the functions so that importing this module stays cheap.
"""

from __future__ import annotations

import datetime as dt
import math
import pathlib
from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import polars as pl

    IntArray: TypeAlias = npt.NDArray[np.int64]
    FloatArray: TypeAlias = npt.NDArray[np.float64]
    BoolArray: TypeAlias = npt.NDArray[np.bool_]

__all__ = [
    "SAMPLE_CHANNELS",
    "SAMPLE_PLATFORMS",
    "SampleError",
    "sample_headers",
    "write_sample",
]

SAMPLE_PLATFORMS: tuple[str, ...] = ("trade_desk", "pulsepoint")
SAMPLE_CHANNELS: dict[str, tuple[str, ...]] = {
    "trade_desk": ("display", "ctv", "video", "audio"),
    "pulsepoint": ("display", "video"),
}


class SampleError(ValueError):
    """An unsupported platform / channel combination or an invalid size or seed."""


# --------------------------------------------------------------------------- headers

_TTD_COMMON: tuple[str, ...] = (
    "Date",
    "Site",
    "Supply Vendor",
    "Impressions",
    "Clicks",
    "Advertiser Cost (Adv Currency)",
    "All Last Click + View Conversions",
)
_TTD_DISPLAY: tuple[str, ...] = (
    "IAS Display Fully In View 1 Second Rate",
    "Ad Load - XL (Excessive) - Impressions",
    "Ad Refresh - Below 15s - Impressions",
)
_TTD_PLAYER: tuple[str, ...] = (
    "Sampled Tracked Impressions",
    "Sampled Viewed Impressions",
    "Player Starts",
    "Player Completed Views",
    "Player Errors",
    "Player Mute",
)
_TTD_CTV: tuple[str, ...] = (
    "TV Quality Index Raw",
    "TV Quality Index Measured Impressions",
    "Unique IDs",
)
_PP_COMMON: tuple[str, ...] = (
    "Date",
    "Domain",
    "Impressions",
    "Total Spend",
    "Clicks",
    "CTR",
    "Conversions",
    "eCPM",
)
_HEADERS: dict[tuple[str, str], tuple[str, ...]] = {
    ("trade_desk", "display"): _TTD_COMMON + _TTD_DISPLAY,
    ("trade_desk", "video"): _TTD_COMMON + _TTD_PLAYER,
    ("trade_desk", "audio"): _TTD_COMMON + _TTD_PLAYER,
    ("trade_desk", "ctv"): _TTD_COMMON + _TTD_CTV,
    ("pulsepoint", "display"): _PP_COMMON,
    ("pulsepoint", "video"): (*_PP_COMMON, "Completion Rate"),
}

# ------------------------------------------------------------------------ vocabulary

_TAIL_AGGREGATE = "[tail aggregate]"
# Real domains whose names merely contain aggregate words: an engine must keep them.
_AGGREGATE_LOOKALIKES: tuple[str, ...] = ("totalsportek.com", "summaryjournal.com")

_PREFIXES: tuple[str, ...] = (
    "daily", "city", "metro", "urban", "global", "local", "smart", "happy", "modern",
    "green", "blue", "red", "golden", "silver", "bright", "quick", "simple", "true",
    "real", "prime", "super", "mega", "micro", "open", "free", "wild", "cool", "fresh",
    "pure", "bold", "savvy", "clever", "epic", "royal", "rapid", "sunny", "north",
    "south", "east", "west", "coastal", "mountain", "river", "lake", "ocean", "desert",
    "prairie", "valley", "harbor", "island", "tech", "gadget", "auto", "motor", "food",
    "recipe", "kitchen", "garden", "home", "family", "parent", "baby", "kid", "teen",
    "college", "career", "money", "finance", "market", "stock", "crypto", "travel",
    "trip", "hotel", "flight", "health", "fitness", "yoga", "diet", "beauty", "style",
    "fashion", "celeb", "movie", "film", "music", "game", "gamer", "sport", "football",
    "soccer", "hoop", "golf", "tennis", "outdoor", "fishing", "hunting", "pet", "dog",
    "cat", "science", "space", "history", "weather", "news", "politic", "word", "puzzle",
    "trivia", "quiz", "craft", "diy", "design", "photo",
)  # fmt: skip
_SUFFIXES: tuple[str, ...] = (
    "hub", "times", "post", "journal", "digest", "wire", "today", "zone", "insider",
    "guide", "central", "report", "review", "world", "life", "daily", "spot", "base",
    "nation", "land", "planet", "corner", "place", "point", "space", "lab", "labs",
    "works", "media", "press", "herald", "tribune", "gazette", "chronicle", "observer",
    "ledger", "bulletin", "courier", "dispatch", "mirror", "sentinel", "monitor",
    "weekly", "now", "live", "tv", "radio", "cast", "feed", "stream", "buzz", "chatter",
    "talk", "forum", "club", "crowd", "fans", "mania", "geek", "nerd", "pro", "expert",
    "tips", "hacks", "ideas", "mag", "magazine", "blog", "notes", "stories", "tales",
    "facts", "info", "answers", "finder", "tracker", "watch", "alert", "scoop", "beat",
    "pulse", "vibe", "trend", "trends", "edge", "network", "source", "stop", "shop",
    "deals", "savings", "review", "ranker", "list", "lists", "box", "den", "nest", "haven",
    "path", "road", "street", "avenue", "square", "circle", "loop", "link", "express",
    "direct", "hq", "online", "web", "site", "page", "hive",
)  # fmt: skip
_TLDS: tuple[str, ...] = (
    "com", "com", "com", "com", "com", "com", "com", "com", "com", "com", "com", "com",
    "net", "net", "org", "co.uk", "io", "tv", "news", "info", "co", "us", "ca", "com.au",
)  # fmt: skip

_VENDORS: tuple[str, ...] = (
    "Google Ad Manager",
    "Magnite DV+",
    "PubMatic",
    "Index Exchange",
    "OpenX",
    "TripleLift",
    "Sovrn",
    "Sharethrough",
    "Microsoft Advertising Exchange",
    "Yieldmo",
    "Amazon Publisher Services",
    "Media.net",
    "Equativ (Smart AdServer)",
    "Kargo",
    "The Trade Desk OpenPath",
    "GumGum",
    "Nativo",
    "33Across",
)
_CTV_VENDORS: tuple[str, ...] = (
    "Magnite Streaming",
    "FreeWheel",
    "PubMatic",
    "Index Exchange",
    "Roku",
    "Samsung Ads",
    "Amazon Publisher Services",
    "Xandr Monetize",
    "Google AdX",
    "Verve",
    "Beachfront",
    "Sharethrough",
    "Vizio Ads",
    "LG Ads",
    "Philo",
    "Fubo",
    "Tubi",
    "Pluto TV",
    "Paramount",
    "Sling TV",
    "Xumo",
    "Local Now",
    "DIRECTV",
    "Plex",
)

_START_DATE = dt.date(2025, 3, 1)
_CHUNK_ROWS = 100_000
_TTD_DAYS = 31
_PP_DAYS = 90


# ------------------------------------------------------------------------ public API


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
    return list(_HEADERS[_check(platform, channel)])


def write_sample(
    path: pathlib.Path, platform: str, channel: str, rows: int = 2000, seed: int = 7
) -> int:
    """Write a realistic export as UTF-8 CSV; return the number of data rows written (including the aggregate rows)."""  # noqa: E501
    plat, chan = _check(platform, channel)
    if isinstance(rows, bool) or not isinstance(rows, int) or rows < 1:
        raise SampleError(f"rows must be an integer >= 1, got {rows!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise SampleError(f"seed must be an integer >= 0, got {seed!r}")
    raw, exprs, total = _build(plat, chan, rows, seed)
    written = 0
    # Formatted in chunks: the string columns of one chunk at a time stay in memory.
    with pathlib.Path(path).open("wb") as out:
        for offset in range(0, max(raw.height, 1), _CHUNK_ROWS):
            chunk = raw.slice(offset, _CHUNK_ROWS).select(exprs)
            chunk.write_csv(out, include_header=offset == 0)
            written += chunk.height
        if total is not None:
            total.write_csv(out, include_header=False)
            written += total.height
    return written


# ----------------------------------------------------------------------- site names


def _site_names(n: int, ctv: bool, in_app: bool) -> list[str]:
    """``n`` distinct, plausible site names.

    Domains; with ``in_app``, one name in eight is a mobile app bundle
    (``com.example.android``), as in-app inventory shows in Trade Desk site reports.
    For CTV: app names or app bundles.

    Index ``i`` goes through a fixed bijection of the (prefix, suffix, style) grid so
    that neighbouring indices do not share a word; past the grid (or on the rare
    accidental collision) a number is appended.
    """
    n_pre, n_suf = len(_PREFIXES), len(_SUFFIXES)
    styles = (
        "{p}{s}",
        "{p}-{s}",
        "the{p}{s}",
        "my{p}{s}",
        "{p}{s}online",
        "{p}-{s}-news",
        "{p}{s}network",
        "the-{p}-{s}",
    )
    grid = n_pre * n_suf * len(styles)
    mult = 7919  # prime, coprime with the grid size
    specials = () if ctv else _AGGREGATE_LOOKALIKES[:n]
    seen: set[str] = set(specials)
    names: list[str] = list(specials)
    for i in range(len(specials), n):
        j = (i * mult + 1) % grid
        pre = _PREFIXES[j % n_pre]
        suf = _SUFFIXES[(j // n_pre) % n_suf]
        style = styles[j // (n_pre * n_suf)]
        num = "" if i < grid else str(i // grid + 1)
        while True:
            if ctv:
                name = (
                    f"com.{pre}{suf}{num}.tv"
                    if i % 3 == 0
                    else f"{pre.title()} {suf.title()}{num} TV"
                )
            elif in_app and i % 8 == 5:
                name = f"com.{pre}{suf}{num}.android" if i % 16 == 5 else f"com.{pre}.{suf}{num}app"
            else:
                tld = _TLDS[(i * 31 + 7) % len(_TLDS)]
                name = style.format(p=pre, s=suf) + f"{num}.{tld}"
            if name not in seen:
                break
            num = str(int(num or "1") + 1)
        seen.add(name)
        names.append(name)
    return names


# ------------------------------------------------------------------ string formatting


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


def _weighted_mean(rate: FloatArray, weights: IntArray, present: BoolArray) -> float:
    """The ``weights``-weighted mean of ``rate`` over the ``present`` rows (NaN if none)."""
    kept = weights[present]
    total = int(kept.sum())
    return float(rate[present] @ kept / total) if total else math.nan


def _fmt_count(value: int) -> str:
    return f"{value:,}"


def _fmt_money(cents: int) -> str:
    return f"${cents // 100:,}.{cents % 100:02d}"


def _fmt_rate(rate: float) -> str:
    if math.isnan(rate):
        return "-"
    bp = round(rate * 10_000)
    return f"{bp // 100}.{bp % 100:02d}%"


# ------------------------------------------------------------------------- generation


def _build(
    platform: str, channel: str, rows: int, seed: int
) -> tuple[pl.DataFrame, list[pl.Expr], pl.DataFrame | None]:
    """The raw (numeric) rows in export order, the expressions that format them, the Total row."""
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(seed)
    ttd = platform == "trade_desk"
    ctv = channel == "ctv"
    headers = _HEADERS[(platform, channel)]

    n_total = 1 if rows >= 2 else 0
    n_agg = 0 if rows < 10 else min(50, max(2, rows // 20_000))
    n_site_rows = rows - n_total - n_agg
    n_rows = n_site_rows + n_agg  # every row but the Total row

    vendors: tuple[str, ...] = (_CTV_VENDORS if ctv else _VENDORS) if ttd else ("",)
    n_vendors = len(vendors)
    n_days = _TTD_DAYS if ttd else _PP_DAYS
    n_combos = n_days * n_vendors
    n_sites = min(n_site_rows, max(30, rows // 40, -(-n_site_rows // n_combos)))

    # --- which site, day and vendor each row is: a site never repeats (day, vendor).
    popularity = rng.lognormal(0.0, 1.3, n_sites)
    if n_sites > len(_AGGREGATE_LOOKALIKES):
        popularity[: len(_AGGREGATE_LOOKALIKES)] = np.quantile(popularity, 0.9)
    counts = np.ones(n_sites, dtype=np.int64)
    if n_site_rows > n_sites:
        counts += rng.multinomial(n_site_rows - n_sites, popularity / popularity.sum())
    np.minimum(counts, n_combos, out=counts)
    by_popularity = np.argsort(-popularity, kind="stable")
    deficit = n_site_rows - int(counts.sum())
    while deficit > 0:
        room = by_popularity[counts[by_popularity] < n_combos][:deficit]
        counts[room] += 1
        deficit -= len(room)

    site = np.repeat(np.arange(n_sites, dtype=np.int64), counts)
    starts = np.cumsum(counts) - counts
    rank = np.arange(n_site_rows, dtype=np.int64) - np.repeat(starts, counts)
    units = np.array([k for k in range(1, n_combos) if math.gcd(k, n_combos) == 1] or [1])
    offset = rng.integers(0, n_combos, n_sites)
    stride = rng.choice(units, n_sites).astype(np.int64)
    combo_order = rng.permutation(n_combos)
    combo = combo_order[(offset[site] + rank * stride[site]) % n_combos]

    # The tail-aggregate rows are one more pseudo-site with average parameters.
    agg_site = n_sites
    site = np.concatenate([site, np.full(n_agg, agg_site, dtype=np.int64)])
    combo = np.concatenate([combo, rng.integers(0, n_combos, n_agg)])
    day = combo // n_vendors
    vendor = combo % n_vendors

    # --- impressions: long tail per site, vendor share, weekend dip.
    vendor_scale = rng.lognormal(0.0, 0.9 if ctv else 0.6, n_vendors)
    site_scale = 800.0 * popularity**0.7 * rng.lognormal(0.0, 0.7, n_sites)
    weekday = (_START_DATE.weekday() + day) % 7
    dow = np.where(weekday >= 5, 0.85, 1.0)
    noise = rng.lognormal(0.0, 0.5, n_rows)
    expected = np.concatenate(
        [site_scale[site[:n_site_rows]], rng.lognormal(np.log(30_000.0), 0.8, n_agg)]
    )
    imps = np.maximum(1, np.rint(expected * vendor_scale[vendor] * dow * noise)).astype(np.int64)

    def per_site(values: FloatArray, aggregate: float) -> FloatArray:
        """Site-level parameters, plus the aggregate pseudo-site's value, gathered per row."""
        return np.append(values, aggregate)[site]

    def jitter(values: FloatArray, sigma: float, lo: float, hi: float) -> FloatArray:
        return np.clip(values * rng.lognormal(0.0, sigma, n_rows), lo, hi)

    def binom(n: IntArray, p: FloatArray) -> IntArray:
        return rng.binomial(n, p).astype(np.int64)

    def missing_codes(share: float) -> IntArray:
        """0 = present; 1, 2, 3 = ``-``, ``N/A``, empty, each ``share / 3`` of rows."""
        draw = rng.random(n_rows)
        return np.where(draw < share, 1 + (draw * 3 / share).astype(np.int64), 0)

    # --- money, clicks, conversions.
    if ctv:
        cpm_site = np.clip(rng.lognormal(np.log(24.0), 0.25, n_vendors), 10.0, 45.0)[vendor]
        ctr_mid = 0.0002
    elif channel == "video":
        cpm_site = per_site(np.clip(rng.lognormal(np.log(12.0), 0.4, n_sites), 4, 25), 11.0)
        ctr_mid = 0.0012
    elif channel == "audio":
        cpm_site = per_site(np.clip(rng.lognormal(np.log(7.0), 0.4, n_sites), 2, 25), 6.5)
        ctr_mid = 0.0006
    else:
        cpm_site = per_site(np.clip(rng.lognormal(np.log(4.5), 0.55, n_sites), 1, 25), 3.8)
        ctr_mid = 0.0016
    cpm = jitter(cpm_site, 0.1, 0.5, 60.0) * (0.85 + 0.3 * rng.random(n_vendors))[vendor]
    cents = np.rint(imps * cpm / 10.0).astype(np.int64)
    ctr_site = np.clip(rng.lognormal(np.log(ctr_mid), 0.6, n_sites), ctr_mid / 5, ctr_mid * 4)
    clicks = binom(imps, jitter(per_site(ctr_site, ctr_mid), 0.15, 0.0, 0.05))
    conv_site = np.clip(rng.lognormal(np.log(1.5e-4), 1.0, n_sites), 0.0, 5e-3)
    conversions = binom(imps, jitter(per_site(conv_site, 1.5e-4), 0.2, 0.0, 0.01))

    # --- channel columns: numeric values first, formatted below.
    counts_by_header: dict[str, IntArray] = {
        "Impressions": imps,
        "Clicks": clicks,
        "All Last Click + View Conversions": conversions,
        "Conversions": conversions,
    }
    rate_bp: dict[str, IntArray] = {}  # rate columns, in basis points
    rate_missing: dict[str, IntArray] = {}
    total_rates: dict[str, float] = {}
    if ttd and channel == "display":
        view_site = 0.30 + 0.60 * rng.beta(3.0, 3.0, n_sites)
        spread = 0.03 + 0.25 / np.sqrt(imps)
        view = np.clip(per_site(view_site, 0.6) + rng.normal(0.0, 1.0, n_rows) * spread, 0, 1)
        header = "IAS Display Fully In View 1 Second Rate"
        rate_bp[header] = np.rint(view * 10_000).astype(np.int64)
        rate_missing[header] = missing_codes(0.03)
        present = rate_missing[header] == 0
        total_rates[header] = _weighted_mean(view, imps, present)
        bad = rng.random(n_sites) < 0.06
        xl_site = np.where(bad, rng.uniform(0.2, 0.6, n_sites), rng.beta(0.6, 25.0, n_sites))
        rf_site = np.where(bad, rng.uniform(0.3, 0.8, n_sites), rng.beta(0.5, 12.0, n_sites))
        counts_by_header["Ad Load - XL (Excessive) - Impressions"] = binom(
            imps, jitter(per_site(xl_site, 0.03), 0.2, 0.0, 1.0)
        )
        counts_by_header["Ad Refresh - Below 15s - Impressions"] = binom(
            imps, jitter(per_site(rf_site, 0.05), 0.2, 0.0, 1.0)
        )
    elif ttd and channel in ("video", "audio"):
        audio = channel == "audio"
        tracked = binom(imps, per_site(rng.uniform(0.6, 0.95, n_sites), 0.8))
        view_lo, view_hi = (0.2, 0.7) if audio else (0.35, 0.9)
        viewed = binom(tracked, per_site(rng.uniform(view_lo, view_hi, n_sites), 0.6))
        player_starts = binom(
            imps, jitter(per_site(rng.uniform(0.9, 0.99, n_sites), 0.95), 0.02, 0, 1)
        )
        comp_lo, comp_hi = (0.7, 0.97) if audio else (0.45, 0.92)
        comp_site = per_site(rng.uniform(comp_lo, comp_hi, n_sites), 0.75)
        completed = binom(player_starts, jitter(comp_site, 0.05, 0.0, 1.0))
        err_site = np.clip(rng.lognormal(np.log(0.01), 0.8, n_sites), 0.0, 0.15)
        errors = binom(imps, jitter(per_site(err_site, 0.01), 0.2, 0.0, 0.3))
        mute_lo, mute_hi = (0.0, 0.05) if audio else (0.05, 0.4)
        mutes = binom(player_starts, per_site(rng.uniform(mute_lo, mute_hi, n_sites), 0.1))
        counts_by_header.update(
            {
                "Sampled Tracked Impressions": tracked,
                "Sampled Viewed Impressions": viewed,
                "Player Starts": player_starts,
                "Player Completed Views": completed,
                "Player Errors": errors,
                "Player Mute": mutes,
            }
        )
    elif ctv:
        measured_share = rng.uniform(0.4, 0.95, n_vendors)[vendor]
        measured = binom(imps, jitter(measured_share, 0.05, 0.0, 1.0))
        quality_vendor = (0.35 + 0.6 * rng.beta(2.0, 2.0, n_vendors))[vendor]
        quality = jitter(
            quality_vendor * per_site(rng.lognormal(0, 0.08, n_sites), 1.0), 0.05, 0, 1
        )
        frequency = np.clip(rng.lognormal(np.log(2.2), 0.35, n_vendors), 1.05, 8.0)[vendor]
        unique = np.rint(imps / (frequency * rng.lognormal(0.0, 0.15, n_rows)))
        counts_by_header.update(
            {
                "TV Quality Index Raw": np.rint(measured * quality).astype(np.int64),
                "TV Quality Index Measured Impressions": measured,
                "Unique IDs": np.clip(unique, 1, imps).astype(np.int64),
            }
        )
    else:  # pulsepoint
        safe = np.maximum(imps, 1)
        rate_bp["CTR"] = np.rint(clicks / safe * 10_000).astype(np.int64)
        rate_missing["CTR"] = missing_codes(0.02)
        total_rates["CTR"] = float(clicks.sum() / max(int(imps.sum()), 1))
        if channel == "video":
            comp_site = per_site(rng.uniform(0.45, 0.92, n_sites), 0.75)
            completion = np.clip(comp_site + rng.normal(0.0, 0.04, n_rows), 0.0, 1.0)
            rate_bp["Completion Rate"] = np.rint(completion * 10_000).astype(np.int64)
            rate_missing["Completion Rate"] = missing_codes(0.03)
            present = rate_missing["Completion Rate"] == 0
            total_rates["Completion Rate"] = _weighted_mean(completion, imps, present)

    del rank, combo, noise, expected, weekday, dow, cpm_site, cpm

    # --- spellings of the dimension values.
    if ctv:
        site_code = np.where(rng.random(n_rows) < 0.04, 1, 0)  # 1 = blank app
        vendor_code = rng.choice(4, n_rows, p=[0.94, 0.02, 0.02, 0.02])
    else:
        site_code = rng.choice(8, n_rows, p=[0.45, 0.45, 0.02, 0.02, 0.02, 0.02, 0.01, 0.01])
        vendor_code = np.zeros(n_rows, dtype=np.int64)
    site_names = _site_names(n_sites, ctv, in_app=ttd)
    if not ctv:  # app bundles are not spelled with www.
        is_bundle = np.array([name.startswith("com.") for name in site_names] + [False])
        site_code[is_bundle[site]] = 0
    site_code[n_site_rows:] = 0

    # --- the Total row: summed counts, overall rates.
    total_imps = int(imps.sum())
    total_cents = int(cents.sum())
    total: dict[str, str | None] = {}
    for header in headers:
        if header == "Date":
            total[header] = "Total"
        elif header in ("Site", "Domain", "Supply Vendor"):
            total[header] = None
        elif header in ("Advertiser Cost (Adv Currency)", "Total Spend"):
            total[header] = _fmt_money(total_cents)
        elif header == "eCPM":
            total[header] = _fmt_money(round(total_cents * 1000 / max(total_imps, 1)))
        elif header in total_rates:
            total[header] = _fmt_rate(total_rates[header])
        else:
            total[header] = _fmt_count(int(counts_by_header[header].sum()))
    total_row = pl.DataFrame([total], schema=dict.fromkeys(headers, pl.String)) if n_total else None

    # --- order like an export: by date, biggest rows first.
    order = np.lexsort((-imps, day))
    names = pl.Series("name", [*site_names, _TAIL_AGGREGATE], dtype=pl.String)
    dates = [_START_DATE + dt.timedelta(days=d) for d in range(n_days)]
    date_fmt = "%Y-%m-%d" if ttd else "%m/%d/%Y"
    date_strings = pl.Series("date", [d.strftime(date_fmt) for d in dates], dtype=pl.String)

    columns: dict[str, pl.Series | IntArray] = {
        "_date": date_strings.gather(day[order]),
        "_site": names.gather(site[order]),
        "_site_code": site_code[order],
        "_vendor": pl.Series("vendor", vendors, dtype=pl.String).gather(vendor[order]),
        "_vendor_code": vendor_code[order],
        "_cents": cents[order],
        "_imps": imps[order],
    }
    del day, vendor, site_code, vendor_code, cents, imps
    rate_headers = set(rate_bp)
    for header in headers:
        if header in counts_by_header:
            columns[header] = counts_by_header.pop(header)[order]
        elif header in rate_bp:
            columns[header] = rate_bp.pop(header)[order]
            columns[f"_missing {header}"] = rate_missing.pop(header)[order]
    counts_by_header.clear()
    raw = pl.DataFrame(columns)
    del columns, order

    exprs: list[pl.Expr] = []
    for header in headers:
        if header == "Date":
            expr = pl.col("_date")
        elif header in ("Site", "Domain"):
            if ctv:
                expr = (
                    pl.when(pl.col("_site_code") == 1)
                    .then(pl.lit(None, dtype=pl.String))  # a blank app name
                    .otherwise(pl.col("_site"))
                )
            else:
                expr = _domain_variant(pl.col("_site"), pl.col("_site_code"))
        elif header == "Supply Vendor":
            expr = _vendor_variant(pl.col("_vendor"), pl.col("_vendor_code"))
        elif header in ("Advertiser Cost (Adv Currency)", "Total Spend"):
            expr = _money(pl.col("_cents"))
        elif header == "eCPM":
            ecpm_cents = (pl.col("_cents") * 1000 / pl.col("_imps")).round(0).cast(pl.Int64)
            expr = _money(ecpm_cents)
        elif header in rate_headers:
            expr = _with_missing(_percent(pl.col(header)), pl.col(f"_missing {header}"))
        else:
            expr = _grouped(pl.col(header))
        exprs.append(expr.alias(header))

    return raw, exprs, total_row
