"""PulsePoint's domain reports: their headers per channel (no supply vendor), 90 days,
and the rate columns they carry as percent strings (CTR, and completion for video)."""

from __future__ import annotations

from caliber.sample.rows import ChannelColumns, Platform, Rows, weighted_mean

_COMMON: tuple[str, ...] = (
    "Date",
    "Domain",
    "Impressions",
    "Total Spend",
    "Clicks",
    "CTR",
    "Conversions",
    "eCPM",
)


def _columns(rows: Rows, channel: str) -> ChannelColumns:
    """The channel's own columns, drawn after the shared ones."""
    import numpy as np

    draws = rows.draws
    rng, n_rows, n_sites = draws.rng, draws.n_rows, rows.n_sites
    imps, clicks, per_site = rows.imps, rows.clicks, draws.per_site
    found = ChannelColumns()
    safe = np.maximum(imps, 1)
    found.rates_bp["CTR"] = np.rint(clicks / safe * 10_000).astype(np.int64)
    found.rate_missing["CTR"] = draws.missing_codes(0.02)
    found.total_rates["CTR"] = float(clicks.sum() / max(int(imps.sum()), 1))
    if channel == "video":
        comp_site = per_site(rng.uniform(0.45, 0.92, n_sites), 0.75)
        completion = np.clip(comp_site + rng.normal(0.0, 0.04, n_rows), 0.0, 1.0)
        found.rates_bp["Completion Rate"] = np.rint(completion * 10_000).astype(np.int64)
        found.rate_missing["Completion Rate"] = draws.missing_codes(0.03)
        present = found.rate_missing["Completion Rate"] == 0
        found.total_rates["Completion Rate"] = weighted_mean(completion, imps, present)
    return found


PULSEPOINT = Platform(
    name="pulsepoint",
    headers={"display": _COMMON, "video": (*_COMMON, "Completion Rate")},
    vendors={"display": ("",), "video": ("",)},  # one pseudo-vendor: no vendor column
    days=90,
    date_format="%m/%d/%Y",
    in_app=False,
    columns=_columns,
)
