"""The input every analysis reads: a campaign's results frame and the weights that
produced it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import polars as pl

from caliber.engine.errors import InvalidParameterError
from caliber.engine.score import SCORE, STATUS, contribution_column

if TYPE_CHECKING:
    from caliber.engine.pipeline import ScoringResult

MIN_ROWS = 10  # below this no analysis is meaningful


@dataclass(frozen=True)
class ScoredFrame:
    """``frame``: the engine's results frame (one row per domain or supply vendor, best
    first): the ``dimension`` column, each metric's raw value (column named as the
    metric), ``<metric>_normalized`` (0-100, direction-aware: 100 is best),
    ``<metric>_contribution`` (weight x normalized), ``score`` (their sum, rounded to 2
    decimals), ``percentile_rank``, ``quality_status``, ``impressions`` and the other
    volume columns (``spend``, ``cpm``, ``ctr``, ``conversions``, ``conversion_rate`` where
    the file had them)."""

    frame: pl.DataFrame
    dimension: str
    weights: dict[str, float]  # metric -> weight, summing to 1, in the setup's order
    higher_is_better: dict[str, bool]

    @property
    def metrics(self) -> list[str]:
        return list(self.weights)

    @classmethod
    def from_result(cls, result: ScoringResult) -> ScoredFrame:
        metrics = result.resolved.metrics
        total = sum(m.weight for m in metrics)
        return cls(
            frame=result.results,
            dimension=result.dimension,
            weights={m.name: m.weight / total for m in metrics},
            higher_is_better={m.name: m.higher_is_better for m in metrics},
        )

    def require_rows(self, minimum: int = MIN_ROWS) -> None:
        if self.frame.height < minimum:
            raise InvalidParameterError(
                f"this analysis needs at least {minimum} scored rows; the campaign has "
                f"{self.frame.height}",
                field="rows",
            )

    def normalized(self, metric: str) -> str:
        return f"{metric}_normalized"

    def contribution(self, metric: str) -> str:
        return contribution_column(metric)

    score_column = SCORE
    status_column = STATUS
