"""A scored campaign as numpy arrays, what the explanations and the comparison compute
on: each metric's raw value, normalized value and contribution, and the score."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl

from caliber.engine.analytics.base import ScoredFrame
from caliber.engine.errors import InvalidParameterError
from caliber.engine.score import SCORE

Array = npt.NDArray[np.float64]

EPS = 1e-9


@dataclass(frozen=True)
class CampaignArrays:
    """The campaign's rows (n) by the metrics analysed (k)."""

    metrics: list[str]
    weights: Array  # (k,)
    normalized: Array  # (n, k), missing -> 0
    contributions: Array  # (n, k)
    score: Array  # (n,) the score column
    raw: Array  # (n, k) raw values, NaN when missing
    missing: npt.NDArray[np.bool_]  # (n, k) raw value absent or not finite


def matrix(frame: pl.DataFrame, columns: Sequence[str]) -> Array:
    """``columns`` as an (n, len(columns)) float matrix; null, NaN and infinities are 0."""
    values = frame.select(pl.col(c).cast(pl.Float64).fill_null(0.0) for c in columns)
    out = values.to_numpy().astype(np.float64).reshape(frame.height, len(columns))
    return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)


def campaign_arrays(data: ScoredFrame, metrics: Sequence[str] | None = None) -> CampaignArrays:
    """The arrays of ``metrics`` (default: the setup's), from the results frame's
    normalized and contribution columns (contributions and score recomputed when absent)."""
    data.require_rows()
    names, frame = list(metrics or data.metrics), data.frame
    absent = [data.normalized(m) for m in names if data.normalized(m) not in frame.columns]
    if not names or absent:
        msg = f"the results frame lacks normalized metric columns: {', '.join(absent) or 'all'}"
        raise InvalidParameterError(msg, field="metrics")
    weights = np.array([float(data.weights[m]) for m in names], dtype=np.float64)
    normalized = matrix(frame, [data.normalized(m) for m in names])
    parts = [data.contribution(m) for m in names]
    has_parts = all(c in frame.columns for c in parts)
    contributions = matrix(frame, parts) if has_parts else normalized * weights
    has_score = SCORE in frame.columns
    score = matrix(frame, [SCORE])[:, 0] if has_score else contributions.sum(axis=1).round(2)
    raw = frame.select(
        (pl.col(m) if m in frame.columns else pl.lit(None)).cast(pl.Float64).alias(m) for m in names
    )
    values = raw.to_numpy().astype(np.float64).reshape(frame.height, len(names))
    missing = ~np.isfinite(values)
    raw_values = np.where(missing, np.nan, values)
    return CampaignArrays(names, weights, normalized, contributions, score, raw_values, missing)


def row_key(name: str) -> str:
    """A name as rows are matched by: trimmed, lower-case, without ``www.``."""
    return name.strip().lower().removeprefix("www.")
