"""The metric recipes (``scoring.md`` §3): how each metric is derived from summed counts
(numerator / denominator x scale) or else from a rate column of the file."""

from __future__ import annotations

from dataclasses import dataclass

from caliber.engine.columns import INPUTS, PLATFORM_HEADERS


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


def input_headers(name: str, platform: str | None = None) -> tuple[str, ...]:
    """The headers that messages name for input ``name``: ``platform``'s own export
    headers for it, else its generic header."""
    own = PLATFORM_HEADERS.get(platform or "", {}).get(name)
    return own or (INPUTS[name].header,)


def _foreign(name: str, platform: str | None) -> bool:
    """Input ``name`` is another platform's: ``platform`` has no header for it and
    another platform has (a PulsePoint file has no 'Player Starts' to add)."""
    if platform is None or name in PLATFORM_HEADERS.get(platform, {}):
        return False
    return any(name in own for p, own in PLATFORM_HEADERS.items() if p != platform)


def metric_options(name: str, platform: str | None = None) -> list[tuple[str, ...]]:
    """The ways a file can give metric ``name``, as input names: the counts (numerator,
    denominator) first, then each rate column; for ``platform``, without the ways that
    need another platform's columns (unless no other way is left)."""
    recipe = METRICS[name]
    options: list[tuple[str, ...]] = []
    if recipe.numerator is not None and recipe.denominator is not None:
        options.append((recipe.numerator, recipe.denominator))
    options.extend((c,) for c in recipe.rate_columns)
    own = [o for o in options if not any(_foreign(c, platform) for c in o)]
    return own or options


def metric_requirement(name: str, platform: str | None = None) -> str:
    """Human sentence naming the headers that would give metric ``name`` (``platform``'s
    own headers where it has them)."""
    return " or ".join(
        " and ".join(f"'{input_headers(c, platform)[0]}'" for c in option)
        for option in metric_options(name, platform)
    )
