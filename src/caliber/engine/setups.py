"""The setups of ``scoring.md`` §1: platforms, goals, channels and analysis levels, and
for each combination the metrics scored, their weights and directions. The frozen
:class:`~caliber.engine.config.Setup` a caller passes in resolves against this table.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Platform(StrEnum):
    TRADE_DESK = "trade_desk"
    PULSEPOINT = "pulsepoint"


class Goal(StrEnum):
    AWARENESS = "awareness"
    ACTION = "action"


class Channel(StrEnum):
    DISPLAY = "display"
    CTV = "ctv"
    VIDEO = "video"
    AUDIO = "audio"


class Level(StrEnum):
    DOMAIN = "domain"
    SUPPLY_VENDOR = "supply_vendor"


@dataclass(frozen=True)
class MetricSpec:
    """One metric of a setup: its weight and whether higher values are better."""

    name: str
    weight: float
    higher_is_better: bool = True


def _m(name: str, weight: float, lower_is_better: bool = False) -> MetricSpec:
    return MetricSpec(name, weight, not lower_is_better)


_LOWER = True

# §1 of scoring.md. Keys: (platform, goal or None for any, channel, ctr_sensitivity or None).
_TD_VIDEO_AUDIO = (
    _m("cpm", 0.10, _LOWER),
    _m("sampled_in_view_rate", 0.20),
    _m("player_completion_rate", 0.35),
    _m("player_errors_rate", 0.20, _LOWER),
    _m("player_mute_rate", 0.15, _LOWER),
)
_TD_CTV = (_m("tv_quality_index_rate", 0.70), _m("unique_id_ratio", 0.30))
_PP_VIDEO = (
    _m("ecpm", 0.20, _LOWER),
    _m("ctr", 0.10),
    _m("completion_rate", 0.50),
    _m("conversion_rate", 0.20),
)

SETUPS: dict[tuple[Platform, Goal, Channel, bool], tuple[Level, tuple[MetricSpec, ...]]] = {}


def _register(
    platform: Platform,
    goals: tuple[Goal, ...],
    channel: Channel,
    sensitivities: tuple[bool, ...],
    level: Level,
    metrics: tuple[MetricSpec, ...],
) -> None:
    for goal in goals:
        for sensitive in sensitivities:
            SETUPS[(platform, goal, channel, sensitive)] = (level, metrics)


_BOTH_GOALS = (Goal.AWARENESS, Goal.ACTION)
_ANY_SENSITIVITY = (False, True)
_register(
    Platform.TRADE_DESK,
    (Goal.AWARENESS,),
    Channel.DISPLAY,
    (False,),
    Level.DOMAIN,
    (
        _m("cpm", 0.15, _LOWER),
        _m("ias_display_fully_in_view_1s_rate", 0.25),
        _m("ctr", 0.20),
        _m("ad_load_xl_rate", 0.20, _LOWER),
        _m("ad_refresh_below_15s_rate", 0.20, _LOWER),
    ),
)
_register(
    Platform.TRADE_DESK,
    (Goal.AWARENESS,),
    Channel.DISPLAY,
    (True,),
    Level.DOMAIN,
    (
        _m("cpm", 0.10, _LOWER),
        _m("ias_display_fully_in_view_1s_rate", 0.25),
        _m("ctr", 0.30),
        _m("ad_load_xl_rate", 0.15, _LOWER),
        _m("ad_refresh_below_15s_rate", 0.20, _LOWER),
    ),
)
_register(
    Platform.TRADE_DESK,
    (Goal.ACTION,),
    Channel.DISPLAY,
    _ANY_SENSITIVITY,
    Level.DOMAIN,
    (
        _m("cpm", 0.10, _LOWER),
        _m("ias_display_fully_in_view_1s_rate", 0.10),
        _m("conversion_rate", 0.30),
        _m("ctr", 0.15),
        _m("ad_load_xl_rate", 0.15, _LOWER),
        _m("ad_refresh_below_15s_rate", 0.20, _LOWER),
    ),
)
_register(
    Platform.TRADE_DESK, _BOTH_GOALS, Channel.CTV, _ANY_SENSITIVITY, Level.SUPPLY_VENDOR, _TD_CTV
)
for _channel in (Channel.VIDEO, Channel.AUDIO):
    _register(
        Platform.TRADE_DESK, _BOTH_GOALS, _channel, _ANY_SENSITIVITY, Level.DOMAIN, _TD_VIDEO_AUDIO
    )
_register(
    Platform.PULSEPOINT,
    (Goal.AWARENESS,),
    Channel.DISPLAY,
    _ANY_SENSITIVITY,
    Level.DOMAIN,
    (_m("ecpm", 0.35, _LOWER), _m("ctr", 0.40), _m("conversion_rate", 0.25)),
)
_register(
    Platform.PULSEPOINT,
    (Goal.ACTION,),
    Channel.DISPLAY,
    _ANY_SENSITIVITY,
    Level.DOMAIN,
    (_m("ecpm", 0.15, _LOWER), _m("ctr", 0.25), _m("conversion_rate", 0.60)),
)
_register(
    Platform.PULSEPOINT, _BOTH_GOALS, Channel.VIDEO, _ANY_SENSITIVITY, Level.DOMAIN, _PP_VIDEO
)


def supported_channels(platform: Platform) -> tuple[Channel, ...]:
    """The channels that have a setup on ``platform``, in enum order."""
    found = {key[2] for key in SETUPS if key[0] is platform}
    return tuple(c for c in Channel if c in found)
