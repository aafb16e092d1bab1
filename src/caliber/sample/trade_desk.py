"""The Trade Desk's site reports: their headers per channel, supply vendors, 31 days,
and the channel columns (viewability and ad load for display, player events for video
and audio, TV quality and unique IDs for CTV)."""

from __future__ import annotations

from caliber.sample.rows import ChannelColumns, Platform, Rows, weighted_mean

_COMMON: tuple[str, ...] = (
    "Date",
    "Site",
    "Supply Vendor",
    "Impressions",
    "Clicks",
    "Advertiser Cost (Adv Currency)",
    "All Last Click + View Conversions",
)
_DISPLAY: tuple[str, ...] = (
    "IAS Display Fully In View 1 Second Rate",
    "Ad Load - XL (Excessive) - Impressions",
    "Ad Refresh - Below 15s - Impressions",
)
_PLAYER: tuple[str, ...] = (
    "Sampled Tracked Impressions",
    "Sampled Viewed Impressions",
    "Player Starts",
    "Player Completed Views",
    "Player Errors",
    "Player Mute",
)
_CTV: tuple[str, ...] = (
    "TV Quality Index Raw",
    "TV Quality Index Measured Impressions",
    "Unique IDs",
)
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


def _columns(rows: Rows, channel: str) -> ChannelColumns:
    """The channel's own columns, drawn after the shared ones."""
    import numpy as np

    draws = rows.draws
    rng, n_rows, n_sites, imps = draws.rng, draws.n_rows, rows.n_sites, rows.imps
    per_site, jitter, binom = draws.per_site, draws.jitter, draws.binom
    found = ChannelColumns()
    if channel == "display":
        view_site = 0.30 + 0.60 * rng.beta(3.0, 3.0, n_sites)
        spread = 0.03 + 0.25 / np.sqrt(imps)
        view = np.clip(per_site(view_site, 0.6) + rng.normal(0.0, 1.0, n_rows) * spread, 0, 1)
        header = "IAS Display Fully In View 1 Second Rate"
        found.rates_bp[header] = np.rint(view * 10_000).astype(np.int64)
        found.rate_missing[header] = draws.missing_codes(0.03)
        present = found.rate_missing[header] == 0
        found.total_rates[header] = weighted_mean(view, imps, present)
        bad = rng.random(n_sites) < 0.06
        xl_site = np.where(bad, rng.uniform(0.2, 0.6, n_sites), rng.beta(0.6, 25.0, n_sites))
        rf_site = np.where(bad, rng.uniform(0.3, 0.8, n_sites), rng.beta(0.5, 12.0, n_sites))
        found.counts["Ad Load - XL (Excessive) - Impressions"] = binom(
            imps, jitter(per_site(xl_site, 0.03), 0.2, 0.0, 1.0)
        )
        found.counts["Ad Refresh - Below 15s - Impressions"] = binom(
            imps, jitter(per_site(rf_site, 0.05), 0.2, 0.0, 1.0)
        )
    elif channel in ("video", "audio"):
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
        found.counts.update(
            {
                "Sampled Tracked Impressions": tracked,
                "Sampled Viewed Impressions": viewed,
                "Player Starts": player_starts,
                "Player Completed Views": completed,
                "Player Errors": errors,
                "Player Mute": mutes,
            }
        )
    else:  # ctv: measurement, quality and frequency vary by supply vendor
        vendor, n_vendors = rows.vendor, len(_CTV_VENDORS)
        measured_share = rng.uniform(0.4, 0.95, n_vendors)[vendor]
        measured = binom(imps, jitter(measured_share, 0.05, 0.0, 1.0))
        quality_vendor = (0.35 + 0.6 * rng.beta(2.0, 2.0, n_vendors))[vendor]
        quality = jitter(
            quality_vendor * per_site(rng.lognormal(0, 0.08, n_sites), 1.0), 0.05, 0, 1
        )
        frequency = np.clip(rng.lognormal(np.log(2.2), 0.35, n_vendors), 1.05, 8.0)[vendor]
        unique = np.rint(imps / (frequency * rng.lognormal(0.0, 0.15, n_rows)))
        found.counts.update(
            {
                "TV Quality Index Raw": np.rint(measured * quality).astype(np.int64),
                "TV Quality Index Measured Impressions": measured,
                "Unique IDs": np.clip(unique, 1, imps).astype(np.int64),
            }
        )
    return found


TRADE_DESK = Platform(
    name="trade_desk",
    headers={
        "display": _COMMON + _DISPLAY,
        "ctv": _COMMON + _CTV,
        "video": _COMMON + _PLAYER,
        "audio": _COMMON + _PLAYER,
    },
    vendors={"display": _VENDORS, "ctv": _CTV_VENDORS, "video": _VENDORS, "audio": _VENDORS},
    days=31,
    date_format="%Y-%m-%d",
    in_app=True,
    columns=_columns,
)
