"""What applying a run's lists would do (issue 18 §3): ``GET /scoring/impact/{campaign_id}``
and the PDF's section. Never commits.

The run's frame comes from the page index (:mod:`caliber.scoring.pages`) and its lists
in use from :func:`caliber.scoring.lists.run_lists` (confident when the run was scored
with ``list_confidence``, else classic), so the impact is of the very lists the list
routes and exports answer; the figures are the engine's (:mod:`caliber.engine.impact`).
A run's rows never change, so each run and floor is computed once per process.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal, cast

from pydantic import BaseModel
from sqlalchemy.orm import Session

from caliber.engine.impact import impact
from caliber.scoring import answers, pages
from caliber.scoring.lists import run_lists
from caliber.scoring.runs import ResultsView, results_view


class Removed(BaseModel):
    """How much of a volume the blacklist removes: the amount and its share of the run's
    total (null where the file lacks it: ``unavailable`` says why)."""

    value: float | None
    share: float | None


class RemovedOut(BaseModel):
    domains: int
    impressions: Removed
    spend: Removed
    clicks: Removed
    conversions: Removed


class ImpactOut(BaseModel):
    """``before``, ``after_block`` and ``after_move`` hold cpm, ctr, conversion_rate, the
    setup's quality rates by name and campaign_score (null where the file lacks what a
    figure needs); ``totals`` the impressions, spend, clicks and conversions of each
    state; ``move`` whether the removed spend could be moved and how; ``assumptions``
    the sentences the figures rest on."""

    run_id: uuid.UUID
    lists: Literal["classic", "confident"]
    list_confidence: float | None
    min_impressions: float
    removed: RemovedOut
    before: dict[str, float | None]
    after_block: dict[str, float | None]
    after_move: dict[str, float | None]
    totals: dict[str, dict[str, float | None]]
    move: dict[str, Any]
    unavailable: dict[str, str]
    assumptions: list[str]


def run_impact(
    session: Session,
    org_id: uuid.UUID,
    campaign_id: uuid.UUID,
    run_id: uuid.UUID | None = None,
    min_impressions: float | None = None,
) -> tuple[dict[str, Any], ResultsView]:
    """The impact of the owner's run (default: the campaign's latest completed run; 404
    for another user's campaign or run, 409 for a run without results) and its view."""
    view = results_view(session, org_id, campaign_id, run_id)
    return impact_of(session, view, min_impressions), view


def impact_of(
    session: Session, view: ResultsView, min_impressions: float | None = None
) -> dict[str, Any]:
    """The impact of the run of ``view`` with its lists at ``min_impressions`` (default:
    the floor the run was scored with), as :class:`ImpactOut` fields."""
    floor = view.setup.min_impressions if min_impressions is None else min_impressions

    def compute() -> dict[str, Any]:
        stored = pages.index().run(session, view.run).stored
        lists = run_lists(session, view, floor)
        metrics = [m.name for m in stored.layout.metrics]
        found = impact(stored.frame, stored.layout.dimension, lists, metrics)
        return {"run_id": str(view.run.id), "min_impressions": floor, **found.to_dict()}

    made = answers.run_values.get_or_make(("impact", view.run.id, floor), compute)
    return cast(dict[str, Any], made)
