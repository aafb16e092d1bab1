"""Whitelist, blacklist and the campaign-level figures (``scoring.md`` §5)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import polars as pl

from caliber.engine.config import (
    DEFAULT_BLACKLIST_QUANTILE,
    DEFAULT_MIN_IMPRESSIONS,
    DEFAULT_WHITELIST_QUANTILE,
)
from caliber.engine.errors import InvalidParameterError
from caliber.engine.score import SCORE, STATUS, STATUSES

TOP_N = 5


@dataclass(frozen=True)
class OptimizationLists:
    """Both lists with the thresholds that produced them."""

    whitelist: pl.DataFrame
    blacklist: pl.DataFrame
    min_impressions: float
    eligible: int
    whitelist_threshold: float | None
    blacklist_threshold: float | None
    # None: the classic lists; a level: the confident lists (engine/decisions.py), whose
    # thresholds are on the shrunk scores, reached by score_low and score_high
    confidence: float | None = None

    def criteria(self) -> dict[str, Any]:
        criteria: dict[str, Any] = {
            "min_impressions": self.min_impressions,
            "eligible_rows": self.eligible,
            "whitelist_min_score": self.whitelist_threshold,
            "blacklist_max_score": self.blacklist_threshold,
            "whitelist_count": self.whitelist.height,
            "blacklist_count": self.blacklist.height,
        }
        if self.confidence is not None:
            criteria["list_confidence"] = self.confidence
            criteria["undecided_count"] = (
                self.eligible - self.whitelist.height - self.blacklist.height
            )
        return criteria


def build_lists(
    results: pl.DataFrame,
    dimension: str,
    min_impressions: float = DEFAULT_MIN_IMPRESSIONS,
    whitelist_quantile: float = DEFAULT_WHITELIST_QUANTILE,
    blacklist_quantile: float = DEFAULT_BLACKLIST_QUANTILE,
) -> OptimizationLists:
    """whitelist = eligible rows with score >= q(0.75), by score desc; blacklist = score
    <= q(0.25), by score asc; ties by impressions desc then name asc; q is the linear
    quantile of the eligible scores (eligible: impressions >= min_impressions)."""
    if not (math.isfinite(min_impressions) and min_impressions >= 0):
        raise InvalidParameterError(
            f"min_impressions must be a number >= 0, got {min_impressions!r}",
            field="min_impressions",
        )
    eligible = results.filter(pl.col("impressions") >= min_impressions)
    if eligible.height == 0:
        empty = results.head(0)
        return OptimizationLists(empty, empty, min_impressions, 0, None, None)
    high, low = eligible.select(
        pl.col(SCORE).quantile(whitelist_quantile, interpolation="linear").alias("hi"),
        pl.col(SCORE).quantile(blacklist_quantile, interpolation="linear").alias("lo"),
    ).row(0)
    whitelist = eligible.filter(pl.col(SCORE) >= high).sort(
        [SCORE, "impressions", dimension], descending=[True, True, False]
    )
    blacklist = eligible.filter(pl.col(SCORE) <= low).sort(
        [SCORE, "impressions", dimension], descending=[False, True, False]
    )
    return OptimizationLists(
        whitelist, blacklist, min_impressions, eligible.height, float(high), float(low)
    )


def rank_order(results: pl.DataFrame, dimension: str) -> pl.DataFrame:
    """Best first: score desc, impressions desc, name asc."""
    return results.sort([SCORE, "impressions", dimension], descending=[True, True, False])


def campaign_summary(results: pl.DataFrame, dimension: str) -> dict[str, Any]:
    """Impression-weighted campaign score, totals, distribution, top and bottom rows."""
    imps = pl.col("impressions")
    has_spend = "spend" in results.columns and results["spend"].null_count() < results.height
    row = results.select(
        ((pl.col(SCORE) * imps).sum() / imps.sum()).alias("campaign"),
        imps.sum().alias("impressions"),
        (pl.col("spend").sum() if has_spend else pl.lit(None, pl.Float64)).alias("spend"),
        pl.col(SCORE).mean().alias("mean"),
        pl.col(SCORE).median().alias("median"),
        pl.col(SCORE).std().alias("std"),
        pl.col(SCORE).min().alias("min"),
        pl.col(SCORE).max().alias("max"),
        pl.col(SCORE).quantile(0.25, interpolation="linear").alias("q25"),
        pl.col(SCORE).quantile(0.75, interpolation="linear").alias("q75"),
    ).row(0, named=True)
    counts = dict(results.group_by(STATUS).len().iter_rows())
    total_impressions = float(row["impressions"])
    if total_impressions.is_integer():
        total_impressions = int(total_impressions)
    spend = None if row["spend"] is None else round(float(row["spend"]), 6)
    ordered = rank_order(results, dimension)
    bottom = results.sort([SCORE, "impressions", dimension], descending=[False, True, False])
    keep = [dimension, SCORE, "impressions", "percentile_rank", STATUS]
    return {
        "campaign_level_score": _round(row["campaign"]),
        "total_impressions": total_impressions,
        "total_spend": spend,
        "average_cpm": (
            None
            if spend is None or total_impressions <= 0
            else round(spend / total_impressions * 1000.0, 4)
        ),
        "row_count": results.height,
        "score_distribution": {
            key: _round(row[key]) for key in ("mean", "median", "std", "min", "max", "q25", "q75")
        },
        "status_counts": {status: int(counts.get(status, 0)) for status in STATUSES},
        "top_performers": ordered.head(TOP_N).select(keep).to_dicts(),
        "bottom_performers": bottom.head(TOP_N).select(keep).to_dicts(),
    }


def _round(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return round(number, 2) if math.isfinite(number) else None
