"""Lists of what the data can decide (issue 17): each row's score bounds at the
setup's ``list_confidence`` against the list thresholds, and what an undecided row
would need to be decided.

At level L, with T_w and T_b the linear quantiles (``whitelist_quantile``,
``blacklist_quantile``) of the eligible rows' shrunk scores (eligible: impressions >=
``min_impressions``, as the classic lists), and ``score_low`` / ``score_high`` the
(1 − L) / L quantiles of the row's posterior score (``confidence.py``):

- ``whitelist`` when ``score_low`` >= T_w (the posterior probability that the score is
  at or above T_w is at least L), ``blacklist`` when ``score_high`` <= T_b (at least L
  that it is at or below T_b), else ``undecided``; a row with huge volume has a point
  interval at its (barely) shrunk score, and is decided by the classic rule on it;
- ``impressions_needed``: for an undecided row whose shrunk score is on the list's side
  of a threshold, the further impressions after which its bound on that side would
  clear it by the same one-sided rule at L, at its current (shrunk) rates: every trial
  count grows with the impressions, and the posterior variance shrinks about as 1/n.
  Null for a decided row, and for one that no amount decides (its shrunk score between
  the thresholds, or a metric it has no trials for keeping the interval wide).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from caliber.engine.confidence import (
    SHRUNK_METRICS,
    BetaPrior,
    Floats,
    ScoreModel,
    fit_model,
    shrunk_column,
)
from caliber.engine.config import MetricSpec, Setup
from caliber.engine.errors import InvalidParameterError
from caliber.engine.headers import MetricSource
from caliber.engine.lists import OptimizationLists, build_lists
from caliber.engine.normalize import NormalizationStat

SHRUNK_SCORE = "shrunk_score"
SCORE_LOW = "score_low"
SCORE_HIGH = "score_high"
DECISION = "decision"
IMPRESSIONS_NEEDED = "impressions_needed"
DECISIONS = ("whitelist", "blacklist", "undecided")
# a row not decided with a million times its impressions never will be, for a buyer
MAX_GROWTH = 1e6
_BISECTIONS = 48


def result_columns(metrics: Sequence[MetricSpec]) -> list[str]:
    """The columns confidence adds to the results, in order (``shrunk_<metric>`` for the
    setup's rate metrics)."""
    shrunk = [shrunk_column(m.name) for m in metrics if m.name in SHRUNK_METRICS]
    return [SHRUNK_SCORE, SCORE_LOW, SCORE_HIGH, DECISION, IMPRESSIONS_NEEDED, *shrunk]


@dataclass(frozen=True)
class Assessed:
    """What :func:`assess` fitted: the priors, the shrunk score's bounds, the thresholds."""

    level: float
    priors: dict[str, BetaPrior]
    normalization: dict[str, NormalizationStat]
    whitelist_threshold: float | None
    blacklist_threshold: float | None


def assess(
    frame: pl.DataFrame,
    metrics: Sequence[MetricSpec],
    stats: Mapping[str, NormalizationStat],
    sources: Mapping[str, MetricSource],
    setup: Setup,
) -> tuple[pl.DataFrame, Assessed]:
    """``frame`` (the classic scored rows, with their counts) with the columns of
    :func:`result_columns`, at ``setup.list_confidence``."""
    level = setup.list_confidence
    if level is None:
        msg = "assess needs a setup with list_confidence"
        raise ValueError(msg)
    impressions = frame.get_column("impressions").cast(pl.Float64).to_numpy()
    eligible = impressions >= setup.min_impressions
    fit = fit_model(frame, metrics, stats, sources, eligible)
    low, high = fit.model.interval(level)
    frame = frame.with_columns(
        pl.Series(SHRUNK_SCORE, fit.model.center).round(2),
        pl.Series(SCORE_LOW, low).round(2),
        pl.Series(SCORE_HIGH, high).round(2),
    )
    top, bottom = thresholds(frame, setup)
    frame = frame.with_columns(decision_expr(top, bottom, setup.min_impressions))
    undecided = frame.get_column(DECISION).to_numpy() == "undecided"
    needed = impressions_needed(fit.model, impressions, eligible & undecided, top, bottom, level)
    frame = frame.with_columns(
        pl.Series(IMPRESSIONS_NEEDED, needed, nan_to_null=True).cast(pl.Int64),
        *(pl.Series(shrunk_column(m), values) for m, values in fit.shrunk.items()),
    )
    assessed = Assessed(level, fit.priors, fit.stats, top, bottom)
    return frame, assessed


def thresholds(frame: pl.DataFrame, setup: Setup) -> tuple[float | None, float | None]:
    """T_w and T_b: the linear quantiles of the eligible rows' shrunk scores (None when
    no row is eligible)."""
    eligible = frame.filter(pl.col("impressions") >= setup.min_impressions)
    if eligible.height == 0:
        return None, None
    top, bottom = eligible.select(
        pl.col(SHRUNK_SCORE).quantile(setup.whitelist_quantile, interpolation="linear"),
        pl.col(SHRUNK_SCORE)
        .quantile(setup.blacklist_quantile, interpolation="linear")
        .alias("bottom"),
    ).row(0)
    return float(top), float(bottom)


def decision_expr(top: float | None, bottom: float | None, min_impressions: float) -> pl.Expr:
    """whitelist: eligible and score_low >= T_w; blacklist: eligible and score_high <=
    T_b; else undecided."""
    if top is None or bottom is None:
        return pl.lit("undecided").alias(DECISION)
    eligible = pl.col("impressions") >= min_impressions
    return (
        pl.when(eligible & (pl.col(SCORE_LOW) >= top))
        .then(pl.lit("whitelist"))
        .when(eligible & (pl.col(SCORE_HIGH) <= bottom))
        .then(pl.lit("blacklist"))
        .otherwise(pl.lit("undecided"))
        .alias(DECISION)
    )


def impressions_needed(
    model: ScoreModel,
    impressions: Floats,
    undecided: npt.NDArray[np.bool_],
    top: float | None,
    bottom: float | None,
    level: float,
) -> Floats:
    """For each undecided row whose shrunk score is at or above T_w (below or at T_b),
    the further impressions g·n − n for the smallest growth g (found by bisection on
    log g, in [1, MAX_GROWTH]) at which score_low >= T_w (score_high <= T_b), with its
    rates kept and every trial count × g; NaN where none is found."""
    needed = np.full(impressions.shape, np.nan)
    if top is None or bottom is None:
        return needed
    up = undecided & (model.center >= top)
    down = undecided & ~up & (model.center <= bottom)
    rows = up | down
    if not rows.any():
        return needed
    sub = model.take(rows)
    rising = up[rows]

    def decided(growth: Floats) -> npt.NDArray[np.bool_]:
        low, high = sub.interval(level, growth)
        return np.where(rising, low >= top, high <= bottom)

    lower = np.ones(int(rows.sum()))
    upper = np.full(lower.shape, MAX_GROWTH)
    reachable = decided(upper)
    for _ in range(_BISECTIONS):
        middle = np.sqrt(lower * upper)
        done = decided(middle)
        upper = np.where(done, middle, upper)
        lower = np.where(done, lower, middle)
    more = np.ceil(impressions[rows] * (upper - 1.0))
    needed[rows] = np.where(reachable, np.maximum(more, 1.0), np.nan)
    return needed


def confident_lists(results: pl.DataFrame, dimension: str, setup: Setup) -> OptimizationLists:
    """The whitelist and blacklist of ``results`` (rows with ``shrunk_score``,
    ``score_low`` and ``score_high``) by the rule of the module docstring: the whitelist
    by score_low desc, the blacklist by score_high asc (ties: impressions desc, then
    name). The same function rebuilds them from stored rows."""
    level = setup.list_confidence
    top, bottom = thresholds(results, setup)
    decided = results.with_columns(decision_expr(top, bottom, setup.min_impressions))
    eligible = int((results.get_column("impressions") >= setup.min_impressions).sum())
    whitelist = decided.filter(pl.col(DECISION) == "whitelist").sort(
        [SCORE_LOW, "impressions", dimension], descending=[True, True, False]
    )
    blacklist = decided.filter(pl.col(DECISION) == "blacklist").sort(
        [SCORE_HIGH, "impressions", dimension], descending=[False, True, False]
    )
    return OptimizationLists(
        whitelist, blacklist, setup.min_impressions, eligible, top, bottom, confidence=level
    )


@dataclass(frozen=True)
class Confidence:
    """What confidence adds to a run: the model fitted, the decisions and the classic
    lists beside the confident ones (``ScoringResult.lists``)."""

    level: float
    priors: dict[str, BetaPrior]
    normalization: dict[str, NormalizationStat]  # the shrunk score's bounds
    classic_lists: OptimizationLists
    decisions: dict[str, dict[str, Any]]  # decision -> count, impressions, spend
    changes: dict[str, dict[str, int]]  # list -> kept, dropped, added (vs classic)

    def to_dict(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "interval": interval_quantiles(self.level),
            "priors": {name: prior.to_dict() for name, prior in self.priors.items()},
            "normalization_stats": {k: v.to_dict() for k, v in self.normalization.items()},
            "decisions": {k: dict(v) for k, v in self.decisions.items()},
            "classic_lists": self.classic_lists.criteria(),
            "changes": {k: dict(v) for k, v in self.changes.items()},
        }


def interval_quantiles(level: float) -> dict[str, float]:
    """Which quantiles of a row's posterior score ``score_low`` and ``score_high`` are at
    ``level``: one-sided bounds, each sure at ``level`` (rounded: 1 − 0.8 is 0.2, not
    0.19999999999999996)."""
    return {"low_quantile": round(1.0 - level, 12), "high_quantile": level}


def summarize(
    assessed: Assessed,
    results: pl.DataFrame,
    dimension: str,
    lists: OptimizationLists,
    classic: OptimizationLists,
) -> Confidence:
    """The :class:`Confidence` of a run: counts, impressions and spend per decision, and
    how the confident lists differ from the classic ones."""
    has_spend = results.get_column("spend").null_count() < results.height
    totals = {
        row[DECISION]: row
        for row in results.group_by(DECISION)
        .agg(
            pl.len().alias("count"),
            pl.col("impressions").sum().alias("impressions"),
            pl.col("spend").sum().alias("spend"),
        )
        .iter_rows(named=True)
    }
    empty = {"count": 0, "impressions": 0, "spend": 0.0}
    decisions = {}
    for name in DECISIONS:
        found = totals.get(name, empty)
        decisions[name] = {
            "count": int(found["count"]),
            "impressions": _whole(found["impressions"]),
            "spend": round(float(found["spend"] or 0.0), 6) if has_spend else None,
        }
    changes = {
        "whitelist": _changes(classic.whitelist, lists.whitelist, dimension),
        "blacklist": _changes(classic.blacklist, lists.blacklist, dimension),
    }
    return Confidence(
        assessed.level, assessed.priors, assessed.normalization, classic, decisions, changes
    )


def _changes(classic: pl.DataFrame, confident: pl.DataFrame, dimension: str) -> dict[str, int]:
    before = set(classic.get_column(dimension).to_list())
    after = set(confident.get_column(dimension).to_list())
    return {
        "kept": len(before & after),
        "dropped": len(before - after),
        "added": len(after - before),
    }


def _whole(value: Any) -> float | int:
    number = float(value or 0)
    return int(number) if number.is_integer() and math.isfinite(number) else number


def lists_in_use(
    results: pl.DataFrame, dimension: str, setup: Setup, min_impressions: float | None = None
) -> OptimizationLists:
    """The lists a run puts to use: the confident ones when the setup has a
    ``list_confidence`` (``results`` then carries ``score_low``, ``score_high`` and
    ``shrunk_score``), else the classic contract's. ``min_impressions`` overrides the
    setup's eligibility floor. Every consumer (the list routes, the DSP exports, reports,
    the diff and the impact of a run) reads lists through here, so they all agree."""
    floor = setup.min_impressions if min_impressions is None else min_impressions
    if setup.list_confidence is None:
        return build_lists(
            results, dimension, floor, setup.whitelist_quantile, setup.blacklist_quantile
        )
    if not (math.isfinite(floor) and floor >= 0):
        raise InvalidParameterError(
            f"min_impressions must be a number >= 0, got {floor!r}", field="min_impressions"
        )
    return confident_lists(results, dimension, replace(setup, min_impressions=floor))
