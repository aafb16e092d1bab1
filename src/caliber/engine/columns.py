"""The catalogue of input columns (``scoring.md`` §2): each standard column's name, the
kind of values it holds, the header shown in messages and the header spellings that
mean it, and the cells that mean "no value". Data only: matching a file's headers
against it is :mod:`caliber.engine.headers`, metric recipes are
:mod:`caliber.engine.metrics`."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

# §2: cells that mean "no value" (compared after trimming, ignoring case).
MISSING_MARKERS: tuple[str, ...] = ("", "-", "--", "n/a", "null")
# The exact spellings a CSV parser can turn into nulls without a per-cell string pass.
MISSING_SPELLINGS: tuple[str, ...] = (
    "",
    "-",
    "--",
    "n/a",
    "N/A",
    "N/a",
    "n/A",
    "null",
    "NULL",
    "Null",
)


class Kind(StrEnum):
    DIMENSION = "dimension"
    COUNT = "count"
    MONEY_RATE = "money_rate"  # cpm, ecpm: a currency amount per mille, never a percentage
    RATE = "rate"  # a fraction; a percentage when its cells carry % or exceed 1


@dataclass(frozen=True)
class InputColumn:
    """A standard input column: how it is recognised and what kind of values it holds."""

    name: str
    kind: Kind
    header: str  # the header shown in messages (the real export header)
    aliases: tuple[str, ...]  # raw spellings; compared after fold_header


INPUT_COLUMNS: tuple[InputColumn, ...] = (
    InputColumn(
        "domain",
        Kind.DIMENSION,
        "Site",
        (
            "Site",
            "Domain",
            "Site Domain",
            "Site/App",
            "App Bundle",
            "App",
            "Website",
            "Publisher Domain",
            "Inventory Domain",
        ),
    ),
    InputColumn(
        "supply_vendor",
        Kind.DIMENSION,
        "Supply Vendor",
        ("Supply Vendor", "Supply Vendor Name", "SSP", "Exchange", "Supply Source"),
    ),
    InputColumn("impressions", Kind.COUNT, "Impressions", ("Impressions", "Imps", "Impression")),
    InputColumn("clicks", Kind.COUNT, "Clicks", ("Clicks", "Click")),
    InputColumn(
        "spend",
        Kind.COUNT,
        "Advertiser Cost (Adv Currency)",
        (
            "Advertiser Cost (Adv Currency)",
            "Advertiser Cost (USD)",
            "Advertiser Cost",
            "Total Spend",
            "Spend",
            "Total Cost",
            "Cost",
            "Media Cost",
        ),
    ),
    InputColumn(
        "conversions",
        Kind.COUNT,
        "All Last Click + View Conversions",
        ("All Last Click + View Conversions", "Conversions", "Total Conversions", "Conv"),
    ),
    InputColumn(
        "ad_load_xl_impressions",
        Kind.COUNT,
        "Ad Load - XL (Excessive) - Impressions",
        ("Ad Load - XL (Excessive) - Impressions", "Ad Load XL Impressions"),
    ),
    InputColumn(
        "ad_refresh_below_15s_impressions",
        Kind.COUNT,
        "Ad Refresh - Below 15s - Impressions",
        ("Ad Refresh - Below 15s - Impressions", "Ad Refresh Below 15s Impressions"),
    ),
    InputColumn(
        "sampled_tracked_impressions",
        Kind.COUNT,
        "Sampled Tracked Impressions",
        ("Sampled Tracked Impressions",),
    ),
    InputColumn(
        "sampled_viewed_impressions",
        Kind.COUNT,
        "Sampled Viewed Impressions",
        ("Sampled Viewed Impressions", "Sampled In-View Impressions"),
    ),
    InputColumn(
        "player_starts", Kind.COUNT, "Player Starts", ("Player Starts", "Video Starts", "Starts")
    ),
    InputColumn(
        "player_completed_views",
        Kind.COUNT,
        "Player Completed Views",
        ("Player Completed Views", "Completed Views", "Video Completions", "Completions"),
    ),
    InputColumn("player_errors", Kind.COUNT, "Player Errors", ("Player Errors",)),
    InputColumn("player_mutes", Kind.COUNT, "Player Mute", ("Player Mute", "Player Mutes")),
    InputColumn(
        "tv_quality_index_raw",
        Kind.COUNT,
        "TV Quality Index Raw",
        ("TV Quality Index Raw", "TVQI Raw"),
    ),
    InputColumn(
        "tv_quality_index_measured_impressions",
        Kind.COUNT,
        "TV Quality Index Measured Impressions",
        ("TV Quality Index Measured Impressions", "TVQI Measured Impressions"),
    ),
    InputColumn("unique_ids", Kind.COUNT, "Unique IDs", ("Unique IDs", "Unique ID", "Uniques")),
    InputColumn(
        "cpm",
        Kind.MONEY_RATE,
        "CPM",
        ("CPM", "Avg CPM", "Average CPM", "CPM (USD)", "CPM (Adv Currency)", "Advertiser Cost CPM"),
    ),
    InputColumn("ecpm", Kind.MONEY_RATE, "eCPM", ("eCPM", "Effective CPM")),
    InputColumn("ctr", Kind.RATE, "CTR", ("CTR", "CTR %", "Click Through Rate", "Click Rate")),
    InputColumn(
        "conversion_rate",
        Kind.RATE,
        "Conversion Rate",
        ("Conversion Rate", "Conv Rate", "CVR", "Conversion Rate %"),
    ),
    InputColumn(
        "ias_display_fully_in_view_1s_rate",
        Kind.RATE,
        "IAS Display Fully In View 1 Second Rate",
        (
            "IAS Display Fully In View 1 Second Rate",
            "IAS Display Fully In View 1s Rate",
            "Fully In View 1 Second Rate",
        ),
    ),
    InputColumn(
        "ad_load_xl_rate",
        Kind.RATE,
        "Ad Load - XL (Excessive) - Rate",
        ("Ad Load - XL (Excessive) - Rate", "Ad Load XL Rate"),
    ),
    InputColumn(
        "ad_refresh_below_15s_rate",
        Kind.RATE,
        "Ad Refresh - Below 15s - Rate",
        ("Ad Refresh - Below 15s - Rate", "Ad Refresh Below 15s Rate"),
    ),
    InputColumn(
        "tv_quality_index",
        Kind.RATE,
        "TV Quality Index",
        ("TV Quality Index", "TV Quality Index Rate", "TVQI"),
    ),
    InputColumn(
        "sampled_in_view_rate",
        Kind.RATE,
        "Sampled In-View Rate",
        ("Sampled In-View Rate", "Sampled Viewability Rate", "In-View Rate"),
    ),
    InputColumn(
        "player_completion_rate",
        Kind.RATE,
        "Player Completion Rate",
        ("Player Completion Rate", "Video Completion Rate", "VCR"),
    ),
    InputColumn("completion_rate", Kind.RATE, "Completion Rate", ("Completion Rate",)),
    InputColumn(
        "player_errors_rate",
        Kind.RATE,
        "Player Errors Rate",
        ("Player Errors Rate", "Player Error Rate"),
    ),
    InputColumn(
        "player_mute_rate", Kind.RATE, "Player Mute Rate", ("Player Mute Rate", "Mute Rate")
    ),
)

INPUTS: dict[str, InputColumn] = {c.name: c for c in INPUT_COLUMNS}

# The headers each platform's own exports use, per input: a subset of that input's
# aliases (a unit test holds it to that). Messages for a setup on a platform name these
# (a PulsePoint user is told about 'Domain', not the Trade Desk's 'Site'); an input the
# platform has no header for is named by its generic header, and the other aliases stay
# accepted spellings (listed in the errors' details and by `caliber configs --json`).
PLATFORM_HEADERS: dict[str, dict[str, tuple[str, ...]]] = {
    "trade_desk": {
        "domain": ("Site",),
        "supply_vendor": ("Supply Vendor",),
        "impressions": ("Impressions",),
        "clicks": ("Clicks",),
        "spend": ("Advertiser Cost (Adv Currency)", "Advertiser Cost (USD)", "Advertiser Cost"),
        "conversions": ("All Last Click + View Conversions",),
        "ad_load_xl_impressions": ("Ad Load - XL (Excessive) - Impressions",),
        "ad_refresh_below_15s_impressions": ("Ad Refresh - Below 15s - Impressions",),
        "sampled_tracked_impressions": ("Sampled Tracked Impressions",),
        "sampled_viewed_impressions": ("Sampled Viewed Impressions",),
        "player_starts": ("Player Starts",),
        "player_completed_views": ("Player Completed Views",),
        "player_errors": ("Player Errors",),
        "player_mutes": ("Player Mute",),
        "tv_quality_index_raw": ("TV Quality Index Raw",),
        "tv_quality_index_measured_impressions": ("TV Quality Index Measured Impressions",),
        "unique_ids": ("Unique IDs",),
        "cpm": ("CPM",),
        "ctr": ("CTR",),
        "ias_display_fully_in_view_1s_rate": ("IAS Display Fully In View 1 Second Rate",),
    },
    "pulsepoint": {
        "domain": ("Domain",),
        "impressions": ("Impressions",),
        "spend": ("Total Spend",),
        "clicks": ("Clicks",),
        "ctr": ("CTR",),
        "conversions": ("Conversions",),
        "ecpm": ("eCPM",),
        "completion_rate": ("Completion Rate",),
    },
}
