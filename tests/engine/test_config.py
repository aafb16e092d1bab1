"""Setups, weights and header folding exactly as scoring.md §1-2 state them."""

from __future__ import annotations

import math

import pytest

from caliber.engine.columns import INPUT_COLUMNS
from caliber.engine.config import Channel, Goal, Platform, Setup, describe_setups
from caliber.engine.errors import (
    InvalidParameterError,
    InvalidWeightsError,
    UnsupportedSetupError,
)
from caliber.engine.headers import fold_header, map_headers

DOWN = False
UP = True
# scoring.md §1, transcribed: (platform, goal, channel, sensitivity) -> level, metrics
TABLE: dict[tuple[str, str, str, bool], tuple[str, list[tuple[str, float, bool]]]] = {
    ("trade_desk", "awareness", "display", False): (
        "domain",
        [
            ("cpm", 0.15, DOWN),
            ("ias_display_fully_in_view_1s_rate", 0.25, UP),
            ("ctr", 0.20, UP),
            ("ad_load_xl_rate", 0.20, DOWN),
            ("ad_refresh_below_15s_rate", 0.20, DOWN),
        ],
    ),
    ("trade_desk", "awareness", "display", True): (
        "domain",
        [
            ("cpm", 0.10, DOWN),
            ("ias_display_fully_in_view_1s_rate", 0.25, UP),
            ("ctr", 0.30, UP),
            ("ad_load_xl_rate", 0.15, DOWN),
            ("ad_refresh_below_15s_rate", 0.20, DOWN),
        ],
    ),
    ("trade_desk", "action", "display", False): (
        "domain",
        [
            ("cpm", 0.10, DOWN),
            ("ias_display_fully_in_view_1s_rate", 0.10, UP),
            ("conversion_rate", 0.30, UP),
            ("ctr", 0.15, UP),
            ("ad_load_xl_rate", 0.15, DOWN),
            ("ad_refresh_below_15s_rate", 0.20, DOWN),
        ],
    ),
    ("trade_desk", "awareness", "ctv", False): (
        "supply_vendor",
        [("tv_quality_index_rate", 0.70, UP), ("unique_id_ratio", 0.30, UP)],
    ),
    ("trade_desk", "awareness", "video", False): (
        "domain",
        [
            ("cpm", 0.10, DOWN),
            ("sampled_in_view_rate", 0.20, UP),
            ("player_completion_rate", 0.35, UP),
            ("player_errors_rate", 0.20, DOWN),
            ("player_mute_rate", 0.15, DOWN),
        ],
    ),
    ("pulsepoint", "awareness", "display", False): (
        "domain",
        [("ecpm", 0.35, DOWN), ("ctr", 0.40, UP), ("conversion_rate", 0.25, UP)],
    ),
    ("pulsepoint", "action", "display", False): (
        "domain",
        [("ecpm", 0.15, DOWN), ("ctr", 0.25, UP), ("conversion_rate", 0.60, UP)],
    ),
    ("pulsepoint", "awareness", "video", False): (
        "domain",
        [
            ("ecpm", 0.20, DOWN),
            ("ctr", 0.10, UP),
            ("completion_rate", 0.50, UP),
            ("conversion_rate", 0.20, UP),
        ],
    ),
}


@pytest.mark.parametrize("key", list(TABLE))
def test_setups_match_the_contract(key: tuple[str, str, str, bool]) -> None:
    platform, goal, channel, sensitive = key
    resolved = Setup.create(platform, goal, channel, ctr_sensitivity=sensitive).resolve()
    level, metrics = TABLE[key]
    assert str(resolved.level) == level
    assert [(m.name, m.weight, m.higher_is_better) for m in resolved.metrics] == metrics
    assert math.isclose(resolved.weight_sum, 1.0)


@pytest.mark.parametrize("goal", ["awareness", "action"])
@pytest.mark.parametrize("channel", ["ctv", "video", "audio"])
def test_any_goal_setups_do_not_depend_on_goal(goal: str, channel: str) -> None:
    mapped = "video" if channel == "audio" else channel
    expected = TABLE[("trade_desk", "awareness", mapped, False)]
    resolved = Setup.create("trade_desk", goal, channel).resolve()
    assert [(m.name, m.weight, m.higher_is_better) for m in resolved.metrics] == expected[1]


def test_ctr_sensitivity_changes_only_trade_desk_display_awareness() -> None:
    for platform in Platform:
        for goal in Goal:
            for channel in Channel:
                try:
                    off = Setup.create(platform, goal, channel).resolve()
                except UnsupportedSetupError:
                    continue
                on = Setup.create(platform, goal, channel, ctr_sensitivity=True).resolve()
                special = (platform, goal, channel) == ("trade_desk", "awareness", "display")
                assert (off.metrics != on.metrics) is special


@pytest.mark.parametrize("channel", ["ctv", "audio"])
def test_unsupported_pulsepoint_channels_name_the_supported_ones(channel: str) -> None:
    with pytest.raises(UnsupportedSetupError) as info:
        Setup.create("pulsepoint", "awareness", channel)
    assert "display" in info.value.message
    assert "video" in info.value.message
    assert info.value.details["supported_channels"] == ["display", "video"]


def test_unknown_values_list_the_accepted_ones() -> None:
    with pytest.raises(InvalidParameterError, match="trade_desk, pulsepoint"):
        Setup.create("dv360", "awareness", "display")
    with pytest.raises(InvalidParameterError, match="awareness, action"):
        Setup.create("trade_desk", "reach", "display")


def test_custom_weights_replace_the_defaults() -> None:
    weights = {"ecpm": 0.5, "ctr": 0.25, "conversion_rate": 0.25}
    resolved = Setup.create("pulsepoint", "action", "display", weights=weights).resolve()
    assert resolved.weights == weights
    assert resolved.custom_weights
    # directions stay those of the setup
    assert [m.higher_is_better for m in resolved.metrics] == [False, True, True]


@pytest.mark.parametrize(
    ("weights", "words"),
    [
        ({"ecpm": 0.5, "ctr": 0.5}, "missing metric(s) conversion_rate"),
        ({"ecpm": 0.5, "ctr": 0.25, "conversion_rate": 0.25, "cpm": 0}, "unknown metric(s) cpm"),
        ({"ecpm": 0.5, "ctr": 0.25, "conversion_rate": 0.5}, "sum to 1"),
        ({"ecpm": 1.25, "ctr": -0.25, "conversion_rate": 0.0}, "invalid: ctr"),
        ({"ecpm": math.nan, "ctr": 0.5, "conversion_rate": 0.5}, "invalid: ecpm"),
    ],
)
def test_bad_custom_weights_are_named(weights: dict[str, float], words: str) -> None:
    with pytest.raises(InvalidWeightsError) as info:
        Setup.create("pulsepoint", "action", "display", weights=weights)
    assert words in info.value.message


def test_weights_within_tolerance_are_accepted() -> None:
    weights = {"ecpm": 0.3333333, "ctr": 0.3333333, "conversion_rate": 0.3333334}
    Setup.create("pulsepoint", "action", "display", weights=weights)


def test_negative_min_impressions_is_refused() -> None:
    with pytest.raises(InvalidParameterError, match="min_impressions"):
        Setup.create("trade_desk", "awareness", "display", min_impressions=-1)


@pytest.mark.parametrize(
    ("header", "folded"),
    [
        ("TTD_Advertiser Cost (Adv Currency)", "advertiser cost adv currency"),
        ("PulsePoint_eCPM", "ecpm"),
        ("Report_Impressions", "impressions"),
        ("  Ad Load - XL (Excessive) - Impressions ", "ad load xl excessive impressions"),
        ("All Last Click + View Conversions", "all last click + view conversions"),
        ("CTR %", "ctr %"),
        ("supply_vendor", "supply vendor"),
    ],
)
def test_fold_header(header: str, folded: str) -> None:
    assert fold_header(header) == folded


def test_every_alias_belongs_to_one_standard_name() -> None:
    owners: dict[str, str] = {}
    for column in INPUT_COLUMNS:
        for alias in column.aliases:
            folded = fold_header(alias)
            assert owners.setdefault(folded, column.name) == column.name, alias


def test_real_export_headers_are_recognised() -> None:
    trade_desk = [
        ("Site", "domain"),
        ("Supply Vendor", "supply_vendor"),
        ("Impressions", "impressions"),
        ("Clicks", "clicks"),
        ("Advertiser Cost (Adv Currency)", "spend"),
        ("CPM", "cpm"),
        ("Sampled Tracked Impressions", "sampled_tracked_impressions"),
        ("Sampled Viewed Impressions", "sampled_viewed_impressions"),
        ("Player Starts", "player_starts"),
        ("Player Completed Views", "player_completed_views"),
        ("Player Errors", "player_errors"),
        ("Player Mute", "player_mutes"),
        ("TV Quality Index Raw", "tv_quality_index_raw"),
        ("TV Quality Index Measured Impressions", "tv_quality_index_measured_impressions"),
        ("Unique IDs", "unique_ids"),
        ("All Last Click + View Conversions", "conversions"),
        ("IAS Display Fully In View 1 Second Rate", "ias_display_fully_in_view_1s_rate"),
        ("Ad Load - XL (Excessive) - Impressions", "ad_load_xl_impressions"),
        ("Ad Refresh - Below 15s - Impressions", "ad_refresh_below_15s_impressions"),
    ]
    pulsepoint = [
        ("Domain", "domain"),
        ("Total Spend", "spend"),
        ("CTR", "ctr"),
        ("Conversions", "conversions"),
        ("eCPM", "ecpm"),
        ("Completion Rate", "completion_rate"),
    ]
    alternatives = [
        ("Advertiser Cost (USD)", "spend"),
        ("Advertiser Cost", "spend"),
        ("Spend", "spend"),
        ("Total Cost", "spend"),
        ("Conversion Rate", "conversion_rate"),
        ("Sampled In-View Rate", "sampled_in_view_rate"),
        ("Player Completion Rate", "player_completion_rate"),
        ("TV Quality Index", "tv_quality_index"),
        ("App Bundle", "domain"),
        ("SSP", "supply_vendor"),
    ]
    for header, standard in trade_desk + pulsepoint + alternatives:
        assert map_headers([header]).mapped == {header: standard}, header


def test_no_fuzzy_matching() -> None:
    mapping = map_headers(["CPM Bid", "Impressions Won", "Site Category", "Clicks (All)"])
    assert mapping.mapped == {}
    assert mapping.unmapped == ["CPM Bid", "Impressions Won", "Site Category", "Clicks (All)"]


def test_one_header_per_standard_name_by_alias_priority() -> None:
    mapping = map_headers(["Advertiser Cost (USD)", "Advertiser Cost (Adv Currency)", "CPM"])
    assert mapping.mapped == {"Advertiser Cost (Adv Currency)": "spend", "CPM": "cpm"}
    assert mapping.ignored_duplicates == {"spend": ["Advertiser Cost (USD)"]}


def test_describe_setups_shows_every_default() -> None:
    described = describe_setups()
    keys = [(d["platform"], d["goal"], d["channel"], d["ctr_sensitivity"]) for d in described]
    assert keys == [
        ("trade_desk", "awareness", "display", False),
        ("trade_desk", "awareness", "display", True),
        ("trade_desk", "action", "display", "any"),
        ("trade_desk", "any", "ctv", "any"),
        ("trade_desk", "any", "video", "any"),
        ("trade_desk", "any", "audio", "any"),
        ("pulsepoint", "awareness", "display", "any"),
        ("pulsepoint", "action", "display", "any"),
        ("pulsepoint", "any", "video", "any"),
    ]
    first = described[0]
    assert set(first) >= {"platform", "goal", "channel", "analysis_level", "metrics", "defaults"}
    assert first["defaults"]["min_impressions"] == 250
    assert first["defaults"]["whitelist_quantile"] == 0.75
    for setup in described:
        total = sum(m["weight"] for m in setup["metrics"])
        assert math.isclose(total, 1.0)
        assert setup["dimension_headers"]
