"""How sensitive a campaign's labels are to its weights: the engine's score and labels
recomputed under other weights, and for each metric the labels that change when its
weight moves up or down."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from caliber.engine.analytics.base import ScoredFrame
from caliber.engine.analytics.weights import checked_weights, feature_matrix, weights_dict
from caliber.engine.config import GOOD_PERCENTILE, MODERATE_PERCENTILE
from caliber.engine.errors import InvalidParameterError
from caliber.engine.score import SCORE, STATUS

Array = npt.NDArray[np.float64]


@dataclass(frozen=True)
class SensitivityRow:
    metric: str
    weight: float
    labels_changed_up: int  # rows whose label changes when the weight moves +delta
    labels_changed_down: int  # ... when it moves -delta (clipped at 0)
    score_shift_mean_abs_up: float
    score_shift_mean_abs_down: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def weighted_score(data: ScoredFrame, weights: Mapping[str, float]) -> pl.Series:
    """The engine's score under ``weights``: Σ w/Σw · normalized (null counts as 0, as the
    engine's normalization does), rounded to 2 decimals; 0-100."""
    vector = checked_weights(data, weights, "weights")
    pairs = zip(data.metrics, vector / vector.sum(), strict=True)
    feature_matrix(data)  # names any missing normalized column
    terms = [pl.col(data.normalized(m)).fill_null(0.0).fill_nan(0.0) * float(w) for m, w in pairs]
    return data.frame.select(pl.sum_horizontal(terms).round(2)).to_series().alias(SCORE)


def relabel(scores: pl.Series) -> pl.Series:
    """good / moderate / poor by the engine's rule: percentile =
    round_half_even(100 · average rank / N); good >= 75, moderate >= 25, else poor."""
    frame = pl.DataFrame({"s": scores.cast(pl.Float64)})
    percentile = (pl.col("s").rank(method="average") * 100.0 / frame.height).round(
        0, mode="half_to_even"
    )
    status = (
        pl.when(percentile >= GOOD_PERCENTILE)
        .then(pl.lit("good"))
        .when(percentile >= MODERATE_PERCENTILE)
        .then(pl.lit("moderate"))
        .otherwise(pl.lit("poor"))
    )
    return frame.select(status).to_series().alias(STATUS)


def _moved(weights: Array, index: int, delta: float) -> Array:
    """``weights`` with weight ``index`` moved by ``delta`` (clipped to [0, 1]) and the
    others rescaled proportionally (spread equally if they are all 0) to keep the sum 1."""
    moved = weights.copy()
    moved[index] = min(1.0, max(0.0, weights[index] + delta))
    rest = np.arange(weights.shape[0]) != index
    if not rest.any():
        return np.ones(1)
    others = weights[rest].sum()
    left = 1.0 - moved[index]
    moved[rest] = weights[rest] * (left / others) if others > 0 else left / int(rest.sum())
    return moved


def sensitivity(
    data: ScoredFrame, weights: Mapping[str, float] | None = None, delta: float = 0.10
) -> tuple[SensitivityRow, ...]:
    """For each metric: how many labels (and how far scores, on average) change when its
    weight moves by +delta and -delta absolute, the others rescaled to keep the sum 1.
    Labels are compared with those under ``weights`` (default: the setup's weights)."""
    if not 0 <= delta <= 1:
        raise InvalidParameterError(f"delta must be in [0, 1], got {delta!r}", field="delta")
    data.require_rows()
    chosen = dict(data.weights) if weights is None else weights
    vector = checked_weights(data, chosen, "weights")
    vector = vector / vector.sum()
    base_scores = weighted_score(data, weights_dict(data, vector))
    base_labels = relabel(base_scores)
    rows: list[SensitivityRow] = []
    for index, metric in enumerate(data.metrics):
        changed: list[int] = []
        shifts: list[float] = []
        for step in (float(delta), -float(delta)):
            scores = weighted_score(data, weights_dict(data, _moved(vector, index, step)))
            changed.append(int((relabel(scores) != base_labels).sum()))
            shift = (scores - base_scores).abs().mean()
            shifts.append(round(float(shift), 4) if isinstance(shift, int | float) else 0.0)
        weight = round(float(vector[index]), 4)
        rows.append(SensitivityRow(metric, weight, changed[0], changed[1], *shifts))
    return tuple(rows)
