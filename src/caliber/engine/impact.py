"""What applying a run's lists would do (issue 18 §3): what the blacklist removes, the
campaign's figures on what remains, and the figures if the removed spend is moved to
the whitelist.

Three states of the campaign, each a weight per scored row (its impressions in that
state), from which every figure is the same impression-weighted reading of the rows:

- ``before``: every row with its impressions, as the run scored them;
- ``after_block``: the blacklisted rows weigh nothing, every other row is unchanged;
- ``after_move``: the blacklist's spend R goes to the whitelisted rows (not also on the
  blacklist) that have spend, in proportion to each one's spend s_i out of S, their
  sum. Row i receives R·s_i/S and buys impressions at its own CPM (s_i / n_i per
  impression), so it gains R·n_i/S impressions: every such row grows by the same factor
  1 + R/S, in impressions, spend, clicks and conversions, and its rates stay.

A state's CPM, CTR, conversion rate and each quality rate is Σ rate_i·w_i / Σ w_i over
the rows that have the rate (with counts, that is total clicks / total impressions and
so on), its campaign score Σ score_i·w_i / Σ w_i over every row: before blocking, the
summary's ``campaign_level_score`` (``engine/lists.campaign_summary``). Rows keep the
scores they were given: nothing is scored again.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from caliber.engine.lists import OptimizationLists
from caliber.engine.score import SCORE

Floats = npt.NDArray[np.float64]
STATES = ("before", "after_block", "after_move")
VOLUMES = ("impressions", "spend", "clicks", "conversions")
# the campaign figures every setup has; the setup's other metrics are its quality rates
# (ecpm is the CPM under PulsePoint's name)
STANDARD = ("cpm", "ctr", "conversion_rate")
NOT_QUALITY = frozenset({*STANDARD, "ecpm"})
# quality rates whose denominator is not the impressions: averaged over impressions here
OTHER_BASES = {
    "sampled_in_view_rate": "sampled tracked impressions",
    "player_completion_rate": "player starts",
    "completion_rate": "player starts",
    "tv_quality_index_rate": "TV quality index measured impressions",
}
_MISSING = {
    "spend": "the file has no spend (no advertiser cost column)",
    "clicks": "the file has no clicks or CTR",
    "conversions": "the file has no conversions or conversion rate",
    "cpm": "the file has no spend or CPM",
    "ctr": "the file has no clicks or CTR",
    "conversion_rate": "the file has no conversions or conversion rate",
}
_RATE_OF = {"clicks": "ctr", "conversions": "conversion_rate"}
_LABELS = {"cpm": "CPM", "ctr": "CTR", "conversion_rate": "conversion rate"}


@dataclass(frozen=True)
class Impact:
    """The figures of :func:`impact` and the sentences that say what they assume."""

    lists: str  # "classic" | "confident"
    list_confidence: float | None
    removed: dict[str, Any]
    states: dict[str, dict[str, float | None]]  # state -> metric -> value
    totals: dict[str, dict[str, float | None]]  # state -> volume -> value
    move: dict[str, Any]
    unavailable: dict[str, str]  # figure -> why it is null
    assumptions: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "lists": self.lists,
            "list_confidence": self.list_confidence,
            "removed": self.removed,
            **{state: dict(self.states[state]) for state in STATES},
            "totals": {state: dict(self.totals[state]) for state in STATES},
            "move": dict(self.move),
            "unavailable": dict(self.unavailable),
            "assumptions": list(self.assumptions),
        }


def quality_metrics(metrics: Sequence[str]) -> list[str]:
    """The setup's quality rates: its metrics other than CPM (eCPM), CTR and conversion
    rate, in the setup's order."""
    return [m for m in metrics if m not in NOT_QUALITY]


def impact(
    results: pl.DataFrame, dimension: str, lists: OptimizationLists, metrics: Sequence[str]
) -> Impact:
    """The :class:`Impact` of ``lists`` (the run's lists in use) on ``results`` (the run's
    scored rows: impressions, spend, cpm, ctr, conversion_rate, score and the setup's
    ``metrics``)."""
    quality = quality_metrics(metrics)
    names = results.get_column(dimension)
    blocked = names.is_in(lists.blacklist.get_column(dimension).implode()).to_numpy()
    listed = names.is_in(lists.whitelist.get_column(dimension).implode()).to_numpy()
    impressions = _values(results, "impressions")
    spend = _values(results, "spend")
    has_spend = bool(np.isfinite(spend).any())
    rates = {m: _values(results, m) for m in (*STANDARD, *quality)}
    scores = _values(results, SCORE)

    kept = np.where(blocked, 0.0, 1.0)
    movers = listed & ~blocked & (np.nan_to_num(spend) > 0)
    removed_spend = float(np.nansum(spend[blocked])) if has_spend else 0.0
    mover_spend = float(spend[movers].sum()) if has_spend else 0.0
    reason = _no_move(blocked, listed, has_spend, removed_spend, mover_spend)
    growth = 1.0 if reason is not None else 1.0 + removed_spend / mover_spend
    factors = {
        "before": np.ones(results.height),
        "after_block": kept,
        "after_move": np.where(movers, growth, kept),
    }

    unavailable: dict[str, str] = {}
    for name, why in _MISSING.items():
        source = spend if name == "spend" else rates[_RATE_OF.get(name, name)]
        if not np.isfinite(source).any():
            unavailable[name] = why
    for name in quality:
        if not np.isfinite(rates[name]).any():
            unavailable[name] = f"no row has a value for {name}"

    states: dict[str, dict[str, float | None]] = {}
    totals: dict[str, dict[str, float | None]] = {}
    for state, factor in factors.items():
        weights = impressions * factor
        figures: dict[str, float | None] = {
            name: _rate(rates[name], weights, 4 if name == "cpm" else 8)
            for name in (*STANDARD, *quality)
        }
        figures["campaign_score"] = _rate(scores, weights, 2)
        states[state] = figures
        totals[state] = {
            "impressions": _round(float(weights.sum()), 2),
            "spend": _round(float(np.nansum(spend * factor)), 6) if has_spend else None,
            "clicks": _count(rates["ctr"], weights),
            "conversions": _count(rates["conversion_rate"], weights),
        }
    if not (impressions * kept).sum() > 0:
        unavailable["after_block"] = "the blacklist removes every impression: nothing remains"
    else:  # a rate only blacklisted rows have is gone with them
        for name, value in states["after_block"].items():
            if value is None and states["before"][name] is not None:
                unavailable[f"after_block.{name}"] = (
                    "only blacklisted rows have it: no row left after blocking does"
                )

    removed: dict[str, Any] = {"domains": int(blocked.sum())}
    gone = impressions * blocked
    cut = {
        "impressions": _round(float(gone.sum()), 2),
        "spend": _round(float(np.nansum(spend[blocked])), 6) if has_spend else None,
        "clicks": _count(rates["ctr"], gone),
        "conversions": _count(rates["conversion_rate"], gone),
    }
    for volume in VOLUMES:
        value, whole = cut[volume], totals["before"][volume]
        share = None if value is None or whole is None or whole <= 0 else value / whole
        removed[volume] = {"value": value, "share": None if share is None else _round(share, 6)}
    moved = totals["after_move"]
    move: dict[str, Any] = {
        "possible": reason is None,
        "reason": reason,
        "whitelist_domains": int(listed.sum()),
        "receiving_domains": 0 if reason is not None else int(movers.sum()),
        "growth": _round(growth, 8),
        "spend": 0.0 if reason is not None else _round(removed_spend, 6),
        **{
            f"added_{volume}": _difference(moved[volume], totals["after_block"][volume])
            for volume in ("impressions", "clicks", "conversions")
        },
    }
    level = lists.confidence
    assumptions = _assumptions(
        lists, int(blocked.sum()), int((listed & blocked).sum()), reason, move, quality
    )
    assumptions += [f"No {_label(name)}: {why}." for name, why in unavailable.items()]
    return Impact(
        "classic" if level is None else "confident",
        level,
        removed,
        states,
        totals,
        move,
        unavailable,
        assumptions,
    )


def _no_move(
    blocked: npt.NDArray[np.bool_],
    listed: npt.NDArray[np.bool_],
    has_spend: bool,
    removed_spend: float,
    mover_spend: float,
) -> str | None:
    """Why the removed spend cannot be moved, or None when it can."""
    if not blocked.any():
        return "the blacklist is empty: nothing is removed, so nothing is moved"
    if not (listed & ~blocked).any():
        return "the whitelist is empty: there is nowhere to move the removed spend"
    if not has_spend:
        return "the file has no spend: there is no spend to move"
    if removed_spend <= 0:
        return "the blacklisted rows have no spend: there is nothing to move"
    if mover_spend <= 0:
        return "the whitelisted rows have no spend: no CPM to buy impressions at"
    return None


def _assumptions(
    lists: OptimizationLists,
    blocked: int,
    on_both: int,
    reason: str | None,
    move: dict[str, Any],
    quality: Sequence[str],
) -> list[str]:
    which = (
        "the run's classic lists"
        if lists.confidence is None
        else f"the run's confident lists (listed only when at least {lists.confidence:.0%} sure)"
    )
    sentences = [
        f"The lists are {which}, with at least {lists.min_impressions:g} impressions to be "
        "eligible.",
        f"Blocking removes the blacklist's {blocked:,} rows with all their delivery; every "
        "other row keeps its impressions, spend and rates.",
        "Campaign figures are impression-weighted: CPM, CTR, conversion rate and each "
        "quality rate average the rows' rates over their impressions (with counts, total "
        "clicks / total impressions and so on), and the campaign score is the "
        "impression-weighted mean of the rows' scores, as the summary's campaign score is. "
        "Rows keep the scores the run gave them: nothing is scored again.",
    ]
    if reason is None:
        sentences.append(
            f"Moving: the removed spend ({move['spend']:,.2f}) goes to the "
            f"{move['receiving_domains']:,} whitelisted rows with spend, in proportion to "
            "each one's current spend; each buys impressions at its own CPM, its CTR and "
            "conversion rate turn them into clicks and conversions, and its quality rates "
            f"stay. So each grows by the same factor, x{move['growth']:.4f}."
        )
        sentences.append(
            "The whitelisted inventory is assumed to take the extra volume at the same "
            "price and rates (no saturation, no change in auctions), and what this "
            "file observed holds going forward."
        )
    else:
        sentences.append(f"No move: {reason}; after moving is the same as after blocking.")
    if on_both:
        sentences.append(
            f"{on_both:,} rows are on both lists (their scores tie at both thresholds): they "
            "are blocked and receive nothing."
        )
    others = [f"{m} (per {OTHER_BASES[m]})" for m in quality if m in OTHER_BASES]
    if others:
        sentences.append(
            "Averaged over impressions although the file measures them on another base: "
            + ", ".join(others)
            + "."
        )
    return sentences


def _label(name: str) -> str:
    if name == "after_block":
        return "figures after blocking"
    state, _, figure = name.rpartition(".")
    label = _LABELS.get(figure, figure.replace("_", " "))
    return f"{label} after blocking" if state else label


def _values(frame: pl.DataFrame, column: str) -> Floats:
    """The column as floats, missing (and non-finite) as NaN; absent: all NaN."""
    if column not in frame.columns:
        return np.full(frame.height, np.nan)
    values = frame.get_column(column).cast(pl.Float64).fill_null(np.nan).to_numpy()
    return np.where(np.isfinite(values), values, np.nan)


def _rate(values: Floats, weights: Floats, digits: int) -> float | None:
    """Σ v·w / Σ w over the rows that have a value; None when they weigh nothing."""
    present = np.isfinite(values)
    base = float(weights[present].sum())
    if not present.any() or base <= 0:
        return None
    return _round(float((values[present] * weights[present]).sum()) / base, digits)


def _count(rate: Floats, weights: Floats) -> float | None:
    present = np.isfinite(rate)
    if not present.any():
        return None
    return _round(float((rate[present] * weights[present]).sum()), 4)


def _difference(after: float | None, before: float | None) -> float | None:
    return None if after is None or before is None else _round(after - before, 4)


def _round(value: float, digits: int) -> float | None:
    return round(value, digits) if math.isfinite(value) else None
