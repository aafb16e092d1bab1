"""Reads of a campaign's results (its last successful run's): result pages, the
summary and the results frame. Never commits.

A page is served from the run index of :mod:`caliber.scoring.pages` (or by SQL beyond its
budget), in the response envelope of :mod:`caliber.core.envelope`, encoded once per run,
query and page (:mod:`caliber.scoring.answers`); the optimization lists are
:mod:`caliber.scoring.lists`.

Each answer says which run it comes from (``run`` beside ``data``, and the headers of
:meth:`~caliber.scoring.service.ResultsRun.headers`): while a newer run is in progress,
or after one failed, the results are the previous run's, marked ``stale``.
"""

from __future__ import annotations

import uuid
from typing import Any

import polars as pl
from sqlalchemy.orm import Session

from caliber.core import envelope
from caliber.core.errors import InvalidInput
from caliber.db.models import Campaign
from caliber.engine.score import contribution_column
from caliber.scoring import answers, pages, repository
from caliber.scoring.repository import ResultFilters, SortColumn, SortDirection
from caliber.scoring.service import ResultsRun, campaign_setup, completed_campaign, results_run


def results_page_json(
    session: Session,
    owner_id: uuid.UUID,
    campaign_id: uuid.UUID,
    *,
    filters: ResultFilters,
    sort_by: SortColumn = "score",
    direction: SortDirection = "desc",
    page: int = 1,
    per_page: int = 50,
) -> answers.Answer:
    """The page in its response envelope (``Page[ResultRow]``), encoded once per run,
    query and page: a run's pages never change, and the first pages of a campaign are
    read over and over."""
    campaign = _page_campaign(session, owner_id, campaign_id, filters)
    key = (campaign.results_run_id, filters, sort_by, direction, page, per_page)

    def encode() -> bytes:
        rows, total = _read_page(session, campaign, filters, sort_by, direction, page, per_page)
        return answers.dumps(envelope.page(rows, total=total, page=page, per_page=per_page))

    return answers.with_run(answers.page_bodies.get_or_make(key, encode), results_run(campaign))


def _page_campaign(
    session: Session, owner_id: uuid.UUID, campaign_id: uuid.UUID, filters: ResultFilters
) -> Campaign:
    if (
        filters.min_score is not None
        and filters.max_score is not None
        and filters.min_score > filters.max_score
    ):
        raise InvalidInput("min_score must not exceed max_score", field="min_score")
    return completed_campaign(session, owner_id, campaign_id)


def _read_page(
    session: Session,
    campaign: Campaign,
    filters: ResultFilters,
    sort_by: SortColumn,
    direction: SortDirection,
    page: int,
    per_page: int,
) -> tuple[list[dict[str, Any]], int]:
    offset = (page - 1) * per_page
    row_count = answers.row_count(campaign)
    run_id = answers.run_id(campaign)
    if row_count is not None and pages.index().serves(row_count):
        ranks = pages.index().ranks(session, pages.RunKey(run_id), filters, sort_by, direction)
        found = pages.fetch_rows(session, run_id, ranks[offset : offset + per_page])
        return [result_row(r) for r in found], int(ranks.size)
    rows, total = repository.results_page(
        session,
        run_id,
        filters=filters,
        sort_by=sort_by,
        direction=direction,
        offset=offset,
        limit=per_page,
        total=_known_total(session, campaign, filters),
    )
    return [result_row(r) for r in rows], total


def _known_total(session: Session, campaign: Campaign, filters: ResultFilters) -> int:
    """The number of matching rows without a count per page: every row for no filters
    (the summary's row_count), else counted once per run and filters."""
    row_count = answers.row_count(campaign)
    if filters == ResultFilters() and row_count is not None:
        return row_count
    run_id = answers.run_id(campaign)
    key = ("count", run_id, filters)
    return int(
        answers.run_values.get_or_make(
            key, lambda: repository.count_results(session, run_id, filters)
        )
    )


def result_row(row: Any) -> dict[str, Any]:
    """A stored row (ORM object or selected row) as a :class:`ResultRow` dict. Plain dicts,
    not models: a page is encoded straight to JSON, and this runs 50 times per page."""
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
    }


def get_summary(
    session: Session, owner_id: uuid.UUID, campaign_id: uuid.UUID
) -> tuple[dict[str, Any], ResultsRun]:
    """The engine's summary of the campaign's results, and the run it comes from."""
    campaign = completed_campaign(session, owner_id, campaign_id)
    assert campaign.summary is not None
    return {"campaign_id": str(campaign.id), **campaign.summary}, results_run(campaign)


def results_frame(session: Session, owner_id: uuid.UUID, campaign_id: uuid.UUID) -> pl.DataFrame:
    """The stored results as the engine's ``results`` frame: same columns, order and
    values (``caliber score``'s results.csv, with outlier_flags as a list)."""
    campaign = completed_campaign(session, owner_id, campaign_id)
    resolved = campaign_setup(campaign).resolve()
    dimension = str(resolved.level)
    metrics = [m.name for m in resolved.metrics]
    head = ["impressions", "spend", "cpm", "ctr", "conversions", "conversion_rate"]
    extra = [m for m in metrics if m not in head]
    records: list[dict[str, Any]] = []
    for row in repository.all_results(session, answers.run_id(campaign)):
        stored = row.metrics or {}
        values = stored.get("values", {})
        normalized = stored.get("normalized", {})
        breakdown = row.score_breakdown or {}
        record: dict[str, Any] = {dimension: row.domain}
        record.update({c: getattr(row, c) for c in head})
        record.update({m: values.get(m) for m in extra})
        record.update({f"{m}_normalized": normalized.get(m) for m in metrics})
        record.update(
            score=row.score,
            percentile_rank=row.percentile_rank,
            quality_status=row.quality_status,
            outlier_flags=list(row.outlier_flags or []),
            is_outlier=row.is_outlier,
        )
        record.update(
            {contribution_column(m): breakdown.get(m, {}).get("contribution") for m in metrics}
        )
        record["source_rows"] = stored.get("source_rows")
        records.append(record)
    schema: dict[str, pl.DataType | type[pl.DataType]] = {dimension: pl.String}
    schema.update(dict.fromkeys([*head, *extra], pl.Float64))
    schema.update({f"{m}_normalized": pl.Float64 for m in metrics})
    schema.update(
        score=pl.Float64,
        percentile_rank=pl.Int64,
        quality_status=pl.String,
        outlier_flags=pl.List(pl.String),
        is_outlier=pl.Boolean,
    )
    schema.update({contribution_column(m): pl.Float64 for m in metrics})
    schema["source_rows"] = pl.get_index_type()  # a row count, as the engine counts
    frame = pl.DataFrame(records, schema=schema)
    # as the engine shows them: counts that are whole numbers as integers
    whole = [
        c
        for c in ("impressions", "conversions")
        if frame.height and bool((frame[c].drop_nulls() % 1 == 0).all())
    ]
    return frame.with_columns(pl.col(c).cast(pl.Int64) for c in whole)
