"""What is unusual about each flagged row: on each analysed column, how far its value sits
from the campaign's median in robust standard deviations (median removed, divided by
IQR/1.349, or by the standard deviation where the IQR is 0: the scale the outlier models
see), the columns it stands out on most first. A missing value says nothing and is left
out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl

from caliber.engine.analytics.base import ScoredFrame
from caliber.engine.analytics.detectors import usable_matrix
from caliber.engine.score import SCORE

NORMAL_IQR = 1.349  # the IQR of a standard normal: IQR-scaled values read like z


def unusual_rows(
    data: ScoredFrame,
    mask: Sequence[bool],
    columns: Sequence[str],
    limit: int = 100,
    per_row: int = 3,
) -> list[dict[str, Any]]:
    """The first ``limit`` flagged rows (frame order: best first): ``name``, ``score``,
    ``impressions`` and ``unusual``, up to ``per_row`` of ``{column, value, median,
    deviations}`` by |deviations|, largest first (signed: above or below the median)."""
    frame = data.frame
    flagged = np.flatnonzero(np.asarray(mask, dtype=np.bool_))[:limit]
    if not len(flagged):
        return []
    matrix, used, _ = usable_matrix(frame, list(columns))
    if not used:
        return [_row(data, int(i), []) for i in flagged]
    q1, median, q3 = np.quantile(matrix, [0.25, 0.5, 0.75], axis=0)
    scale = (q3 - q1) / NORMAL_IQR
    scale = np.where(scale > 0, scale, matrix.std(axis=0))
    raw = frame.select(pl.col(c).cast(pl.Float64) for c in used).to_numpy()[flagged]
    with np.errstate(all="ignore"):
        deviations = (raw - median) / scale
    rows = []
    for at, index in enumerate(flagged):
        found = [
            (abs(float(deviations[at, j])), j)
            for j in range(len(used))
            if np.isfinite(raw[at, j]) and np.isfinite(deviations[at, j])
        ]
        found.sort(key=lambda item: (-item[0], item[1]))
        unusual = [
            {
                "column": used[j],
                "value": float(raw[at, j]),
                "median": float(median[j]),
                "deviations": round(float(deviations[at, j]), 2),
            }
            for size, j in found[:per_row]
            if size > 0
        ]
        rows.append(_row(data, int(index), unusual))
    return rows


def _row(data: ScoredFrame, index: int, unusual: list[dict[str, Any]]) -> dict[str, Any]:
    row = data.frame.row(index, named=True)
    return {
        "name": str(row[data.dimension]),
        "score": row.get(SCORE),
        "impressions": row.get("impressions"),
        "unusual": unusual,
    }
