"""The score histogram of a run's every row (issue 20): ``GET /scoring/histogram/{id}``.
Never commits.

The web app drew its histogram from the rows it had fetched (the first 1,000, later a
sample spread over the ranks), which misstates a big campaign's shape; this counts the
run's whole frame, held by the page index, in one vectorized pass. A run's rows never
change, so each run is counted once per process.
"""

from __future__ import annotations

import uuid
from typing import Any, cast

import numpy as np
from pydantic import BaseModel
from sqlalchemy.orm import Session

from caliber.engine.score import SCORE, STATUS, STATUSES
from caliber.scoring import answers, pages
from caliber.scoring.runs import ResultsView, results_view

# bins of 10 points from 0 to 100, the last one closed (a score of 100 is in 90-100)
WIDTH = 10
BINS = 10


class Bin(BaseModel):
    """Rows whose score is in [low, high) (the last bin: [90, 100]), and how many of
    them have each quality status."""

    low: float
    high: float
    count: int
    statuses: dict[str, int]


class HistogramOut(BaseModel):
    run_id: uuid.UUID
    row_count: int
    bin_width: float
    bins: list[Bin]


def run_histogram(
    session: Session,
    org_id: uuid.UUID,
    campaign_id: uuid.UUID,
    run_id: uuid.UUID | None = None,
) -> tuple[dict[str, Any], ResultsView]:
    """The histogram of the owner's run (default: the campaign's latest completed run;
    404 for another user's campaign or run, 409 for a run without results)."""
    view = results_view(session, org_id, campaign_id, run_id)

    def compute() -> dict[str, Any]:
        frame = pages.index().run(session, view.run).stored.frame
        scores = frame[SCORE].cast(float).fill_null(0.0).to_numpy()
        slot = np.clip(np.floor(scores / WIDTH), 0, BINS - 1).astype(np.int64)
        statuses = frame[STATUS].to_numpy() if STATUS in frame.columns else None
        bins = []
        for i in range(BINS):
            inside = slot == i
            by_status = {
                s: int(np.count_nonzero(inside & (statuses == s))) if statuses is not None else 0
                for s in STATUSES
            }
            bins.append(
                {
                    "low": float(i * WIDTH),
                    "high": float((i + 1) * WIDTH),
                    "count": int(np.count_nonzero(inside)),
                    "statuses": by_status,
                }
            )
        return {
            "run_id": str(view.run.id),
            "row_count": int(frame.height),
            "bin_width": float(WIDTH),
            "bins": bins,
        }

    made = answers.run_values.get_or_make(("histogram", view.run.id), compute)
    return cast(dict[str, Any], made), view
