"""Min-max normalization to 0-100, direction-aware (``scoring.md`` §4).

``fit`` learns each metric's range from the scored rows; ``transform`` applies it, so
the same fitted stats can normalize other data (what-if checks, new uploads).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from caliber.engine.config import MetricSpec

NEUTRAL = 50.0
_TINY_SPAN = 1e-280
_BOOST = 1e280


@dataclass(frozen=True)
class NormalizationStat:
    """The fitted range of one metric over the scored rows."""

    metric: str
    lo: float | None
    hi: float | None
    count: int  # finite values the range was fitted on
    higher_is_better: bool
    weight: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "min": self.lo,
            "max": self.hi,
            "count": self.count,
            "higher_is_better": self.higher_is_better,
            "weight": self.weight,
        }


def fit(frame: pl.DataFrame, metrics: Sequence[MetricSpec]) -> dict[str, NormalizationStat]:
    """lo, hi = min and max of the finite values of each metric."""
    exprs: list[pl.Expr] = []
    for m in metrics:
        finite = pl.col(m.name).filter(pl.col(m.name).is_finite())
        exprs += [
            finite.min().alias(f"{m.name}|lo"),
            finite.max().alias(f"{m.name}|hi"),
            finite.count().alias(f"{m.name}|n"),
        ]
    row = frame.select(exprs).row(0, named=True)
    return {
        m.name: NormalizationStat(
            m.name,
            None if row[f"{m.name}|lo"] is None else float(row[f"{m.name}|lo"]),
            None if row[f"{m.name}|hi"] is None else float(row[f"{m.name}|hi"]),
            int(row[f"{m.name}|n"]),
            m.higher_is_better,
            m.weight,
        )
        for m in metrics
    }


def normalized_expr(stat: NormalizationStat) -> pl.Expr:
    """n = (v - lo)/(hi - lo)·100 (or (hi - v)/(hi - lo)·100); 50 when hi == lo;
    0 for a missing value; clipped to [0, 100]."""
    value = pl.col(stat.metric)
    if stat.lo is None or stat.hi is None:
        scaled = pl.lit(0.0)
    elif stat.hi > stat.lo:
        span = stat.hi - stat.lo
        raw = (value - stat.lo) if stat.higher_is_better else (stat.hi - value)
        # polars may divide by multiplying with 1/span, which overflows for subnormal spans
        boost = _BOOST if span < _TINY_SPAN else 1.0
        scaled = (raw * boost) / (span * boost) * 100.0
    else:
        scaled = pl.lit(NEUTRAL)
    present = value.is_not_null() & value.is_finite() & scaled.is_not_nan()
    return (
        pl.when(present)
        .then(scaled.clip(0.0, 100.0))
        .otherwise(0.0)
        .cast(pl.Float64)
        .alias(f"{stat.metric}_normalized")
    )


def transform(frame: pl.DataFrame, stats: dict[str, NormalizationStat]) -> pl.DataFrame:
    """Add ``<metric>_normalized`` for every fitted metric."""
    return frame.with_columns([normalized_expr(s) for s in stats.values()])
