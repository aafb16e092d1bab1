"""Setups and weights (``scoring.md`` §1), the frozen :class:`Setup` a caller passes in,
and every scoring default, so that ``caliber configs --json`` can show all of it.
The input columns and their header aliases live in :mod:`caliber.engine.columns`, the
metric recipes in :mod:`caliber.engine.metrics`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar

from caliber.engine.columns import INPUTS
from caliber.engine.errors import (
    InvalidParameterError,
    InvalidWeightsError,
    UnsupportedSetupError,
)
from caliber.engine.metrics import METRICS

_E = TypeVar("_E", bound=StrEnum)


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


DEFAULT_MIN_IMPRESSIONS = 250
DEFAULT_PULSEPOINT_MIN_SHARE = 0.0005
DEFAULT_WHITELIST_QUANTILE = 0.75
DEFAULT_BLACKLIST_QUANTILE = 0.25
GOOD_PERCENTILE = 75
MODERATE_PERCENTILE = 25
WEIGHT_SUM_TOLERANCE = 1e-6
CPM_WARNING_THRESHOLD = 1000.0
OUTLIER_IQR_FACTOR = 1.5


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

_SETUPS: dict[tuple[Platform, Goal, Channel, bool], tuple[Level, tuple[MetricSpec, ...]]] = {}


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
            _SETUPS[(platform, goal, channel, sensitive)] = (level, metrics)


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
    found = {key[2] for key in _SETUPS if key[0] is platform}
    return tuple(c for c in Channel if c in found)


# ---------------------------------------------------------------------------
# The frozen setup a caller passes in, and its resolution.
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Setup:
    """Everything that decides a scoring run. Immutable; build one per request."""

    platform: Platform
    goal: Goal
    channel: Channel
    ctr_sensitivity: bool = False
    min_impressions: float = DEFAULT_MIN_IMPRESSIONS
    weights: tuple[tuple[str, float], ...] | None = None
    pulsepoint_min_share: float = DEFAULT_PULSEPOINT_MIN_SHARE
    whitelist_quantile: float = DEFAULT_WHITELIST_QUANTILE
    blacklist_quantile: float = DEFAULT_BLACKLIST_QUANTILE

    @classmethod
    def create(
        cls,
        platform: str,
        goal: str,
        channel: str,
        *,
        ctr_sensitivity: bool = False,
        min_impressions: float = DEFAULT_MIN_IMPRESSIONS,
        weights: Mapping[str, float] | None = None,
    ) -> Setup:
        """Build a setup from plain strings, with errors that list the accepted values."""
        setup = cls(
            platform=_enum(Platform, platform, "platform"),
            goal=_enum(Goal, goal, "goal"),
            channel=_enum(Channel, channel, "channel"),
            ctr_sensitivity=ctr_sensitivity,
            min_impressions=min_impressions,
            weights=None if weights is None else tuple(sorted(weights.items())),
        )
        setup.resolve()  # fail early on unsupported combinations or bad weights
        return setup

    def resolve(self) -> ResolvedSetup:
        """The analysis level and the weighted metrics this setup scores with."""
        key = (self.platform, self.goal, self.channel, self.ctr_sensitivity)
        found = _SETUPS.get(key)
        if found is None:
            channels = ", ".join(supported_channels(self.platform))
            raise UnsupportedSetupError(
                f"{self.platform} has no {self.channel} setup; supported channels for "
                f"{self.platform}: {channels}",
                platform=str(self.platform),
                channel=str(self.channel),
                supported_channels=[str(c) for c in supported_channels(self.platform)],
            )
        level, metrics = found
        _check_parameters(self)
        if self.weights is not None:
            metrics = _apply_custom_weights(metrics, dict(self.weights))
        return ResolvedSetup(level=level, metrics=metrics, custom_weights=self.weights is not None)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able description (enum values as strings)."""
        return {
            "platform": str(self.platform),
            "goal": str(self.goal),
            "channel": str(self.channel),
            "ctr_sensitivity": self.ctr_sensitivity,
            "min_impressions": self.min_impressions,
            "pulsepoint_min_share": self.pulsepoint_min_share,
            "whitelist_quantile": self.whitelist_quantile,
            "blacklist_quantile": self.blacklist_quantile,
            "custom_weights": None if self.weights is None else dict(self.weights),
        }


@dataclass(frozen=True)
class ResolvedSetup:
    level: Level
    metrics: tuple[MetricSpec, ...]
    custom_weights: bool = False
    weight_sum: float = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "weight_sum", math.fsum(m.weight for m in self.metrics))

    @property
    def weights(self) -> dict[str, float]:
        return {m.name: m.weight for m in self.metrics}


def _enum(enum: type[_E], value: str, what: str) -> _E:
    try:
        return enum(str(value).strip().lower())
    except ValueError:
        accepted = ", ".join(e.value for e in enum)
        raise InvalidParameterError(
            f"unknown {what} {value!r}; accepted: {accepted}", field=what, accepted=list(enum)
        ) from None


def _check_parameters(setup: Setup) -> None:
    if not (math.isfinite(setup.min_impressions) and setup.min_impressions >= 0):
        raise InvalidParameterError(
            f"min_impressions must be a number >= 0, got {setup.min_impressions!r}",
            field="min_impressions",
        )
    if not 0 <= setup.pulsepoint_min_share < 1:
        raise InvalidParameterError(
            "pulsepoint_min_share must be in [0, 1)", field="pulsepoint_min_share"
        )
    if not 0 <= setup.blacklist_quantile <= setup.whitelist_quantile <= 1:
        raise InvalidParameterError(
            "list quantiles must satisfy 0 <= blacklist <= whitelist <= 1",
            field="whitelist_quantile",
        )


def _apply_custom_weights(
    defaults: tuple[MetricSpec, ...], weights: dict[str, float]
) -> tuple[MetricSpec, ...]:
    expected = [m.name for m in defaults]
    unknown = sorted(set(weights) - set(expected))
    missing = [name for name in expected if name not in weights]
    if unknown or missing:
        parts = []
        if unknown:
            parts.append(f"unknown metric(s) {', '.join(unknown)}")
        if missing:
            parts.append(f"missing metric(s) {', '.join(missing)}")
        raise InvalidWeightsError(
            f"custom weights must name exactly this setup's metrics ({', '.join(expected)}): "
            + "; ".join(parts),
            expected=expected,
            unknown=unknown,
            missing=missing,
        )
    bad = [
        name
        for name, w in weights.items()
        if isinstance(w, bool) or not isinstance(w, int | float) or not math.isfinite(w) or w < 0
    ]
    if bad:
        raise InvalidWeightsError(
            f"weights must be finite numbers >= 0; invalid: {', '.join(sorted(bad))}",
            invalid=sorted(bad),
        )
    total = math.fsum(float(w) for w in weights.values())
    if abs(total - 1.0) > WEIGHT_SUM_TOLERANCE:
        raise InvalidWeightsError(
            f"custom weights must sum to 1 (within {WEIGHT_SUM_TOLERANCE:g}); they sum to "
            f"{total:.6g}",
            total=total,
        )
    return tuple(MetricSpec(m.name, float(weights[m.name]), m.higher_is_better) for m in defaults)


def describe_setups() -> list[dict[str, Any]]:
    """Every distinct setup with its metrics, weights, directions, level, headers and
    defaults; ``goal`` or ``ctr_sensitivity`` is ``"any"`` where it changes nothing."""
    grouped: dict[tuple[Platform, Channel, Level, tuple[MetricSpec, ...]], list[Any]] = {}
    for (platform, goal, channel, sensitive), (level, metrics) in _SETUPS.items():
        grouped.setdefault((platform, channel, level, metrics), []).append((goal, sensitive))
    described: list[dict[str, Any]] = []
    for (platform, channel, level, metrics), keys in grouped.items():
        goals = sorted({str(g) for g, _ in keys})
        sensitivities = sorted({s for _, s in keys})
        described.append(
            {
                "platform": str(platform),
                "goal": goals[0] if len(goals) == 1 else "any",
                "channel": str(channel),
                "ctr_sensitivity": sensitivities[0] if len(sensitivities) == 1 else "any",
                "analysis_level": str(level),
                "dimension_headers": list(INPUTS[str(level)].aliases),
                "metrics": [_describe_metric(m) for m in metrics],
                "defaults": _defaults(platform),
            }
        )
    return described


def _defaults(platform: Platform) -> dict[str, Any]:
    return {
        "min_impressions": DEFAULT_MIN_IMPRESSIONS,
        "pulsepoint_min_share": (
            DEFAULT_PULSEPOINT_MIN_SHARE if platform is Platform.PULSEPOINT else None
        ),
        "whitelist_quantile": DEFAULT_WHITELIST_QUANTILE,
        "blacklist_quantile": DEFAULT_BLACKLIST_QUANTILE,
        "good_percentile": GOOD_PERCENTILE,
        "moderate_percentile": MODERATE_PERCENTILE,
        "outlier_iqr_factor": OUTLIER_IQR_FACTOR,
        "weight_sum_tolerance": WEIGHT_SUM_TOLERANCE,
    }


def _describe_metric(metric: MetricSpec) -> dict[str, Any]:
    recipe = METRICS[metric.name]
    from_counts = None
    if recipe.numerator is not None and recipe.denominator is not None:
        from_counts = {
            "numerator": list(INPUTS[recipe.numerator].aliases),
            "denominator": list(INPUTS[recipe.denominator].aliases),
            "scale": recipe.scale,
        }
    return {
        "name": metric.name,
        "weight": metric.weight,
        "direction": "higher_is_better" if metric.higher_is_better else "lower_is_better",
        "description": recipe.description,
        "from_counts": from_counts,
        "from_rate_columns": [list(INPUTS[c].aliases) for c in recipe.rate_columns],
    }
