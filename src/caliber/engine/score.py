"""Weighted score, percentile rank and quality status (``scoring.md`` §4)."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from caliber.engine.config import GOOD_PERCENTILE, MODERATE_PERCENTILE, MetricSpec

SCORE = "score"
PERCENTILE = "percentile_rank"
STATUS = "quality_status"
STATUSES = ("good", "moderate", "poor")


def contribution_column(metric: str) -> str:
    return f"{metric}_contribution"


def add_scores(frame: pl.DataFrame, metrics: Sequence[MetricSpec]) -> pl.DataFrame:
    """contribution_m = w_m·n_m / Σw; score = round(Σ contribution, 2);
    percentile_rank = round_half_even(100·r/N) with r the average rank (1 = lowest);
    quality_status = good (>= 75), moderate (>= 25) or poor."""
    weight_sum = sum(m.weight for m in metrics)
    contributions = [
        (pl.col(f"{m.name}_normalized") * (m.weight / weight_sum)).alias(
            contribution_column(m.name)
        )
        for m in metrics
    ]
    scored = frame.with_columns(contributions).with_columns(
        pl.sum_horizontal([contribution_column(m.name) for m in metrics]).round(2).alias(SCORE)
    )
    n = scored.height
    rank = pl.col(SCORE).rank(method="average")
    percentile = (rank * 100.0 / n).round(0, mode="half_to_even").cast(pl.Int64)
    scored = scored.with_columns(percentile.alias(PERCENTILE))
    status = (
        pl.when(pl.col(PERCENTILE) >= GOOD_PERCENTILE)
        .then(pl.lit("good"))
        .when(pl.col(PERCENTILE) >= MODERATE_PERCENTILE)
        .then(pl.lit("moderate"))
        .otherwise(pl.lit("poor"))
    )
    return scored.with_columns(status.alias(STATUS))
