"""The frozen :class:`Setup` a caller passes in, its resolution against the setups of
``scoring.md`` §1 (:mod:`caliber.engine.setups`, whose names are re-exported here), and
every scoring default, so that ``caliber configs --json`` can show all of it. The input
columns and their header aliases live in :mod:`caliber.engine.columns`, the metric
recipes in :mod:`caliber.engine.metrics`.
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
from caliber.engine.setups import (
    SETUPS,
    Channel,
    Goal,
    Level,
    MetricSpec,
    Platform,
    supported_channels,
)

_E = TypeVar("_E", bound=StrEnum)

DEFAULT_MIN_IMPRESSIONS = 250
DEFAULT_PULSEPOINT_MIN_SHARE = 0.0005
DEFAULT_WHITELIST_QUANTILE = 0.75
DEFAULT_BLACKLIST_QUANTILE = 0.25
GOOD_PERCENTILE = 75
MODERATE_PERCENTILE = 25
WEIGHT_SUM_TOLERANCE = 1e-6
CPM_WARNING_THRESHOLD = 1000.0
OUTLIER_IQR_FACTOR = 1.5
MIN_LIST_CONFIDENCE = 0.5
MAX_LIST_CONFIDENCE = 0.99


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
    # None: the classic lists (scoring.md); a level in [0.5, 0.99]: lists of what the
    # data can decide at that level (engine/confidence.py, engine/decisions.py)
    list_confidence: float | None = None

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
        list_confidence: float | None = None,
    ) -> Setup:
        """Build a setup from plain strings, with errors that list the accepted values."""
        setup = cls(
            platform=_enum(Platform, platform, "platform"),
            goal=_enum(Goal, goal, "goal"),
            channel=_enum(Channel, channel, "channel"),
            ctr_sensitivity=ctr_sensitivity,
            min_impressions=min_impressions,
            weights=None if weights is None else tuple(sorted(weights.items())),
            list_confidence=list_confidence,
        )
        setup.resolve()  # fail early on unsupported combinations or bad weights
        return setup

    def resolve(self) -> ResolvedSetup:
        """The analysis level and the weighted metrics this setup scores with."""
        key = (self.platform, self.goal, self.channel, self.ctr_sensitivity)
        found = SETUPS.get(key)
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
        """JSON-able description (enum values as strings); ``list_confidence`` only when
        set, so a classic setup describes itself as before."""
        described = {
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
        if self.list_confidence is not None:
            described["list_confidence"] = self.list_confidence
        return described


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
    level = setup.list_confidence
    if level is not None and not (
        isinstance(level, int | float)
        and not isinstance(level, bool)
        and MIN_LIST_CONFIDENCE <= level <= MAX_LIST_CONFIDENCE
    ):
        raise InvalidParameterError(
            f"list_confidence must be a level between {MIN_LIST_CONFIDENCE} and "
            f"{MAX_LIST_CONFIDENCE} (e.g. 0.8), or null for the classic lists; got {level!r}",
            field="list_confidence",
            minimum=MIN_LIST_CONFIDENCE,
            maximum=MAX_LIST_CONFIDENCE,
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
    for (platform, goal, channel, sensitive), (level, metrics) in SETUPS.items():
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


__all__ = [
    "CPM_WARNING_THRESHOLD",
    "DEFAULT_BLACKLIST_QUANTILE",
    "DEFAULT_MIN_IMPRESSIONS",
    "DEFAULT_PULSEPOINT_MIN_SHARE",
    "DEFAULT_WHITELIST_QUANTILE",
    "GOOD_PERCENTILE",
    "MAX_LIST_CONFIDENCE",
    "MIN_LIST_CONFIDENCE",
    "MODERATE_PERCENTILE",
    "OUTLIER_IQR_FACTOR",
    "WEIGHT_SUM_TOLERANCE",
    "Channel",
    "Goal",
    "Level",
    "MetricSpec",
    "Platform",
    "ResolvedSetup",
    "Setup",
    "describe_setups",
    "supported_channels",
]
