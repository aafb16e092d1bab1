"""What a file's columns mean: header folding and aliases, metric recipes, missing
markers, and the mapping of one file's headers to standard names and metric sources
(``scoring.md`` §2-3)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from caliber.engine.errors import MissingColumnError, MissingMetricError

if TYPE_CHECKING:
    from caliber.engine.config import ResolvedSetup

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


# ---------------------------------------------------------------------------
# Input columns: standard names, the header shown in messages, and aliases.
# ---------------------------------------------------------------------------

_PREFIX = re.compile(r"^\s*(?:ttd|pulsepoint|report)_", re.IGNORECASE)
_SEPARATORS = re.compile(r"(?:[^\w%+]|_)+")


def fold_header(header: str) -> str:
    """Fold a header for comparison: drop a TTD_/PulsePoint_/Report_ prefix, lower-case,
    and turn every run of characters other than letters, digits, ``%`` and ``+`` into one
    space (trimmed)."""
    text = _PREFIX.sub("", str(header), count=1).lower()
    return _SEPARATORS.sub(" ", text).strip()


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


def _build_alias_index() -> dict[str, str]:
    index: dict[str, str] = {}
    for column in INPUT_COLUMNS:
        for alias in (column.name, *column.aliases):
            folded = fold_header(alias)
            owner = index.setdefault(folded, column.name)
            if owner != column.name:  # pragma: no cover - guarded by a unit test
                msg = f"alias {alias!r} maps to both {owner!r} and {column.name!r}"
                raise RuntimeError(msg)
    return index


ALIAS_INDEX: dict[str, str] = _build_alias_index()


def alias_rank(name: str, header: str) -> int:
    """Position of ``header`` among the aliases of ``name`` (lower is preferred)."""
    folded = fold_header(header)
    column = INPUTS[name]
    for position, alias in enumerate((*column.aliases, column.name)):
        if fold_header(alias) == folded:
            return position
    return len(column.aliases) + 1


# ---------------------------------------------------------------------------
# Metrics: how each one is derived (§3).
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class MetricRecipe:
    """A metric from counts (numerator / denominator × scale), else from rate columns."""

    name: str
    numerator: str | None
    denominator: str | None
    scale: float
    rate_columns: tuple[str, ...]
    is_fraction: bool  # a share in [0, 1] (everything but cpm/ecpm)
    description: str


METRICS: dict[str, MetricRecipe] = {
    r.name: r
    for r in (
        MetricRecipe(
            "cpm", "spend", "impressions", 1000.0, ("cpm", "ecpm"), False, "cost per mille"
        ),
        MetricRecipe(
            "ecpm", "spend", "impressions", 1000.0, ("ecpm", "cpm"), False, "effective CPM"
        ),
        MetricRecipe("ctr", "clicks", "impressions", 1.0, ("ctr",), True, "click-through rate"),
        MetricRecipe(
            "conversion_rate",
            "conversions",
            "impressions",
            1.0,
            ("conversion_rate",),
            True,
            "conversions per impression",
        ),
        MetricRecipe(
            "ias_display_fully_in_view_1s_rate",
            None,
            None,
            1.0,
            ("ias_display_fully_in_view_1s_rate",),
            True,
            "IAS display fully-in-view for 1 second",
        ),
        MetricRecipe(
            "ad_load_xl_rate",
            "ad_load_xl_impressions",
            "impressions",
            1.0,
            ("ad_load_xl_rate",),
            True,
            "share of impressions on pages with excessive ad load",
        ),
        MetricRecipe(
            "ad_refresh_below_15s_rate",
            "ad_refresh_below_15s_impressions",
            "impressions",
            1.0,
            ("ad_refresh_below_15s_rate",),
            True,
            "share of impressions refreshed in under 15 seconds",
        ),
        MetricRecipe(
            "tv_quality_index_rate",
            "tv_quality_index_raw",
            "tv_quality_index_measured_impressions",
            1.0,
            ("tv_quality_index",),
            True,
            "TV quality index",
        ),
        MetricRecipe(
            "unique_id_ratio",
            "unique_ids",
            "impressions",
            1.0,
            (),
            True,
            "unique IDs per impression",
        ),
        MetricRecipe(
            "sampled_in_view_rate",
            "sampled_viewed_impressions",
            "sampled_tracked_impressions",
            1.0,
            ("sampled_in_view_rate",),
            True,
            "sampled in-view rate",
        ),
        MetricRecipe(
            "player_completion_rate",
            "player_completed_views",
            "player_starts",
            1.0,
            ("player_completion_rate", "completion_rate"),
            True,
            "completed views per player start",
        ),
        MetricRecipe(
            "completion_rate",
            "player_completed_views",
            "player_starts",
            1.0,
            ("completion_rate", "player_completion_rate"),
            True,
            "completed views per start",
        ),
        MetricRecipe(
            "player_errors_rate",
            "player_errors",
            "impressions",
            1.0,
            ("player_errors_rate",),
            True,
            "player errors per impression",
        ),
        MetricRecipe(
            "player_mute_rate",
            "player_mutes",
            "impressions",
            1.0,
            ("player_mute_rate",),
            True,
            "player mutes per impression",
        ),
    )
}

# Columns every result carries when the file can give them (§6).
STANDARD_OUTPUT_METRICS: tuple[str, ...] = ("cpm", "ctr", "conversion_rate")


def metric_requirement(name: str) -> str:
    """Human sentence naming the headers that would give metric ``name``."""
    recipe = METRICS[name]
    options = []
    if recipe.numerator is not None and recipe.denominator is not None:
        options.append(
            f"'{INPUTS[recipe.numerator].header}' and '{INPUTS[recipe.denominator].header}'"
        )
    options.extend(f"'{INPUTS[c].header}'" for c in recipe.rate_columns)
    return " or ".join(options)


# ---------------------------------------------------------------------------
# One file's headers: the mapping and where each metric comes from.
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ColumnMapping:
    """Which header became which standard column, and what was left alone."""

    positions: dict[str, int]  # standard name -> header position
    mapped: dict[str, str]  # header -> standard name
    unmapped: list[str]
    ignored_duplicates: dict[str, list[str]]  # standard name -> headers not used


@dataclass(frozen=True)
class MetricSource:
    metric: str
    kind: str  # "counts" or "rate"
    columns: tuple[str, ...]  # standard input names used

    def describe(self, headers: dict[str, str]) -> str:
        names = [headers.get(c, c) for c in self.columns]
        if self.kind == "counts":
            recipe = METRICS[self.metric]
            scale = f" × {recipe.scale:g}" if recipe.scale != 1 else ""
            return f"{names[0]} / {names[1]}{scale} (summed per row)"
        return f"impression-weighted mean of {names[0]}"


def map_headers(headers: Sequence[str]) -> ColumnMapping:
    """Map headers to standard names by exact folded alias; prefer the earlier alias."""
    candidates: dict[str, list[tuple[int, int, str]]] = {}
    unmapped: list[str] = []
    for position, header in enumerate(headers):
        standard = ALIAS_INDEX.get(fold_header(header))
        if standard is None:
            unmapped.append(header)
            continue
        candidates.setdefault(standard, []).append((alias_rank(standard, header), position, header))
    positions: dict[str, int] = {}
    mapped: dict[str, str] = {}
    ignored: dict[str, list[str]] = {}
    for standard, options in candidates.items():
        options.sort()
        _, position, header = options[0]
        positions[standard] = position
        mapped[header] = standard
        if len(options) > 1:
            ignored[standard] = [h for _, _, h in options[1:]]
    return ColumnMapping(positions, mapped, unmapped, ignored)


def plan_sources(mapping: ColumnMapping, resolved: ResolvedSetup) -> dict[str, MetricSource]:
    """Where each metric (of the setup, plus the standard output ones) comes from.

    Raises before any parsing when the dimension, impressions or a setup metric is missing.
    """
    level = str(resolved.level)
    if level not in mapping.positions:
        accepted = ", ".join(f"'{a}'" for a in INPUTS[level].aliases)
        raise MissingColumnError(
            f"no {level.replace('_', ' ')} column: this setup scores by {level}; "
            f"add one of these headers: {accepted}",
            column=level,
            accepted_headers=list(INPUTS[level].aliases),
        )
    if "impressions" not in mapping.positions:
        accepted = ", ".join(f"'{a}'" for a in INPUTS["impressions"].aliases)
        raise MissingColumnError(
            f"no impressions column; add one of these headers: {accepted}",
            column="impressions",
            accepted_headers=list(INPUTS["impressions"].aliases),
        )
    sources: dict[str, MetricSource] = {}
    missing: list[str] = []
    wanted = [m.name for m in resolved.metrics]
    wanted += [m for m in STANDARD_OUTPUT_METRICS if m not in wanted]
    for name in wanted:
        source = _source_for(name, mapping)
        if source is not None:
            sources[name] = source
        elif name in {m.name for m in resolved.metrics}:
            missing.append(name)
    if missing:
        needs = "; ".join(f"{m} needs {metric_requirement(m)}" for m in missing)
        raise MissingMetricError(
            f"the file lacks what this setup needs: {needs}",
            missing_metrics=missing,
            requirements={m: metric_requirement(m) for m in missing},
        )
    return sources


def _source_for(metric: str, mapping: ColumnMapping) -> MetricSource | None:
    recipe = METRICS[metric]
    have = mapping.positions
    numerator, denominator = recipe.numerator, recipe.denominator
    if numerator is not None and denominator is not None and {numerator, denominator} <= set(have):
        return MetricSource(metric, "counts", (numerator, denominator))
    for rate in recipe.rate_columns:
        if rate in have:
            return MetricSource(metric, "rate", (rate,))
    return None
