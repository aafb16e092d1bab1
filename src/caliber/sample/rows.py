"""The numbers every sample export shares, before any platform column or quirk: which
site, day and supply vendor each row is, its impressions, spend, clicks and conversions.

A site never repeats a (day, vendor) pair, volume is long-tailed per site with a weekend
dip, and the counts agree with each other (clicks <= impressions, ...). The draws from
the seeded generator happen in a fixed order: the same seed gives the same rows.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeAlias

from caliber.sample.names import AGGREGATE_LOOKALIKES

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    IntArray: TypeAlias = npt.NDArray[np.int64]
    FloatArray: TypeAlias = npt.NDArray[np.float64]
    BoolArray: TypeAlias = npt.NDArray[np.bool_]

# the first day of every sample (a Saturday)
START_DATE = dt.date(2025, 3, 1)


@dataclass(frozen=True)
class Draws:
    """The seeded generator and the helpers that draw one value per row (the site rows,
    then the tail-aggregate rows). The shared columns draw from it first, then the
    platform's columns, then the spellings: that order keeps a seed's rows the same."""

    rng: np.random.Generator
    site: IntArray  # index into the site names; n_sites is the tail-aggregate pseudo-site

    @property
    def n_rows(self) -> int:
        """Every row but the Total row."""
        return len(self.site)

    def per_site(self, values: FloatArray, aggregate: float) -> FloatArray:
        """Site-level parameters, plus the aggregate pseudo-site's value, gathered per row."""
        import numpy as np

        return np.append(values, aggregate)[self.site]

    def jitter(self, values: FloatArray, sigma: float, lo: float, hi: float) -> FloatArray:
        """``values`` times lognormal noise per row, clipped to [lo, hi]."""
        import numpy as np

        return np.clip(values * self.rng.lognormal(0.0, sigma, self.n_rows), lo, hi)

    def binom(self, n: IntArray, p: FloatArray) -> IntArray:
        """A count out of ``n`` per row, each with probability ``p``."""
        import numpy as np

        return self.rng.binomial(n, p).astype(np.int64)

    def missing_codes(self, share: float) -> IntArray:
        """0 = present; 1, 2, 3 = ``-``, ``N/A``, empty, each ``share / 3`` of rows."""
        import numpy as np

        draw = self.rng.random(self.n_rows)
        return np.where(draw < share, 1 + (draw * 3 / share).astype(np.int64), 0)


@dataclass(frozen=True)
class Rows:
    """One sample's shared columns, a value per row (the tail-aggregate rows last)."""

    draws: Draws
    with_total: bool  # a Total row follows the rows (every sample of 2 rows or more)
    n_sites: int
    n_site_rows: int  # rows of real sites; the tail-aggregate rows follow them
    day: IntArray  # days after START_DATE
    vendor: IntArray  # index into the platform's vendors for the channel
    imps: IntArray
    cents: IntArray  # spend
    clicks: IntArray
    conversions: IntArray


@dataclass
class ChannelColumns:
    """A platform's own columns for one channel, numeric, by export header."""

    counts: dict[str, IntArray] = field(default_factory=dict)
    rates_bp: dict[str, IntArray] = field(default_factory=dict)  # in basis points
    rate_missing: dict[str, IntArray] = field(default_factory=dict)  # missing_codes()
    total_rates: dict[str, float] = field(default_factory=dict)  # the Total row's rates


@dataclass(frozen=True)
class Platform:
    """What one platform's exports look like (trade_desk.py and pulsepoint.py)."""

    name: str
    headers: Mapping[str, tuple[str, ...]]  # by channel, in the order errors list them
    vendors: Mapping[str, tuple[str, ...]]  # by channel; ("",) when there is no vendor
    days: int
    date_format: str
    in_app: bool  # one site in eight is a mobile app bundle
    columns: Callable[[Rows, str], ChannelColumns]


def weighted_mean(rate: FloatArray, weights: IntArray, present: BoolArray) -> float:
    """The ``weights``-weighted mean of ``rate`` over the ``present`` rows (NaN if none)."""
    kept = weights[present]
    total = int(kept.sum())
    return float(rate[present] @ kept / total) if total else math.nan


def draw_rows(
    platform: Platform, channel: str, rows: int, seed: int, sites: int | None = None
) -> Rows:
    """The shared columns of ``rows`` rows: one Total row (from 2 rows), up to 50
    tail-aggregate rows (from 10 rows), the rest sites (``sites`` of them when given, at
    most one a row and at least enough for each to fit its days and vendors; else one in
    40 rows)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    ctv = channel == "ctv"

    n_total = 1 if rows >= 2 else 0
    n_agg = 0 if rows < 10 else min(50, max(2, rows // 20_000))
    n_site_rows = rows - n_total - n_agg
    n_rows = n_site_rows + n_agg  # every row but the Total row

    n_vendors = len(platform.vendors[channel])
    n_combos = platform.days * n_vendors
    wanted = max(30, rows // 40) if sites is None else sites
    n_sites = min(n_site_rows, max(wanted, -(-n_site_rows // n_combos)))

    # --- which site, day and vendor each row is: a site never repeats (day, vendor).
    popularity = rng.lognormal(0.0, 1.3, n_sites)
    if n_sites > len(AGGREGATE_LOOKALIKES):
        popularity[: len(AGGREGATE_LOOKALIKES)] = np.quantile(popularity, 0.9)
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
    del rank, combo

    # --- impressions: long tail per site, vendor share, weekend dip.
    vendor_scale = rng.lognormal(0.0, 0.9 if ctv else 0.6, n_vendors)
    site_scale = 800.0 * popularity**0.7 * rng.lognormal(0.0, 0.7, n_sites)
    weekday = (START_DATE.weekday() + day) % 7
    dow = np.where(weekday >= 5, 0.85, 1.0)
    noise = rng.lognormal(0.0, 0.5, n_rows)
    expected = np.concatenate(
        [site_scale[site[:n_site_rows]], rng.lognormal(np.log(30_000.0), 0.8, n_agg)]
    )
    imps = np.maximum(1, np.rint(expected * vendor_scale[vendor] * dow * noise)).astype(np.int64)
    del noise, expected, weekday, dow

    draws = Draws(rng, site)
    per_site, jitter, binom = draws.per_site, draws.jitter, draws.binom

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
    return Rows(
        draws, n_total == 1, n_sites, n_site_rows, day, vendor, imps, cents, clicks, conversions
    )
