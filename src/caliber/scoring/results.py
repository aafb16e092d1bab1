"""Reads of a campaign's results, by run (its latest completed run unless one is named):
result pages, the summary and the results frame. Never commits.

A page is served from the run held in memory by :mod:`caliber.scoring.pages`, in the
response envelope of :mod:`caliber.core.envelope`, encoded once per run, query and page
(:mod:`caliber.scoring.answers`); the optimization lists are :mod:`caliber.scoring.lists`.

Each answer says which run it comes from (``run`` beside ``data``, and the headers of
:meth:`~caliber.scoring.runs.ResultsRun.headers`): while a newer run is in progress, or
after one failed, or when an earlier run is asked for, it is marked ``stale``.
"""

from __future__ import annotations

import uuid
from typing import Any

import polars as pl
from sqlalchemy.orm import Session

from caliber.core import envelope
from caliber.core.errors import InvalidInput
from caliber.scoring import answers, pages
from caliber.scoring.frames import Record
from caliber.scoring.repository import ResultFilters, SortColumn, SortDirection
from caliber.scoring.runs import ResultsRun, ResultsView, results_view


def results_page_json(
    session: Session,
    org_id: uuid.UUID,
    campaign_id: uuid.UUID,
    *,
    filters: ResultFilters,
    sort_by: SortColumn = "score",
    direction: SortDirection = "desc",
    page: int = 1,
    per_page: int = 50,
    run_id: uuid.UUID | None = None,
) -> answers.Answer:
    """The page in its response envelope (``Page[ResultRow]``), encoded once per run,
    query and page: a run's pages never change, and the first pages of a campaign are
    read over and over."""
    if (
        filters.min_score is not None
        and filters.max_score is not None
        and filters.min_score > filters.max_score
    ):
        raise InvalidInput("min_score must not exceed max_score", field="min_score")
    view = results_view(session, org_id, campaign_id, run_id)
    if filters.decision is not None and view.setup.list_confidence is None:
        raise InvalidInput(
            "this run was scored without list_confidence, so its rows have no decision; "
            "set list_confidence on the campaign (PUT /campaigns/{id}/confidence) and score "
            "it again, or leave out the decision filter",
            field="decision",
            run_id=str(view.run.id),
        )
    key = (view.run.id, filters, sort_by, direction, page, per_page)

    def encode() -> bytes:
        rows, total = _read_page(session, view, filters, sort_by, direction, page, per_page)
        return answers.dumps(envelope.page(rows, total=total, page=page, per_page=per_page))

    return answers.with_run(answers.page_bodies.get_or_make(key, encode), view.marker)


def _read_page(
    session: Session,
    view: ResultsView,
    filters: ResultFilters,
    sort_by: SortColumn,
    direction: SortDirection,
    page: int,
    per_page: int,
) -> tuple[list[dict[str, Any]], int]:
    offset = (page - 1) * per_page
    held = pages.index().run(session, view.run)
    ranks = pages.index().ranks(held, filters, sort_by, direction)
    found = held.stored.records(ranks[offset : offset + per_page] - 1)
    return [result_row(r) for r in found], int(ranks.size)


def result_row(row: Record | Any) -> dict[str, Any]:
    """A stored row (a :class:`Record`, or a row of the SQL layout's table) as a
    :class:`ResultRow` dict. Plain dicts, not models: a page is encoded straight to
    JSON, and this runs 50 times per page."""
    metrics = row.metrics or {}
    return {
        "rank": row.rank,
        "domain": row.domain,
        "impressions": answers.whole(row.impressions),
        "spend": row.spend,
        "cpm": row.cpm,
        "ctr": row.ctr,
        "conversions": None if row.conversions is None else answers.whole(row.conversions),
        "conversion_rate": row.conversion_rate,
        "score": row.score,
        "percentile_rank": row.percentile_rank,
        "quality_status": row.quality_status,
        "is_outlier": row.is_outlier,
        "outlier_flags": list(row.outlier_flags or []),
        "raw_metrics": metrics.get("values", {}),
        "normalized_metrics": metrics.get("normalized", {}),
        "score_breakdown": row.score_breakdown or {},
        "source_rows": metrics.get("source_rows"),
        # a run scored with confidence (issue 17): its bounds, decision and shrunk rates
        **(getattr(row, "confidence", None) or {}),
    }


def get_summary(
    session: Session, org_id: uuid.UUID, campaign_id: uuid.UUID, run_id: uuid.UUID | None = None
) -> tuple[dict[str, Any], ResultsRun]:
    """The engine's summary of the run's results, and the run it comes from."""
    view = results_view(session, org_id, campaign_id, run_id)
    return {"campaign_id": str(view.campaign.id), **view.summary}, view.marker


def results_frame(
    session: Session, org_id: uuid.UUID, campaign_id: uuid.UUID, run_id: uuid.UUID | None = None
) -> pl.DataFrame:
    """The run's stored results as the engine's ``results`` frame: same columns, order
    and values (``caliber score``'s results.csv, with outlier_flags as a list)."""
    view = results_view(session, org_id, campaign_id, run_id)
    return pages.index().run(session, view.run).stored.frame
