"""Gather a completed campaign's report data from the database (owner-checked)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

import polars as pl
from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from caliber.db.base import utcnow
from caliber.db.models import AIInsight, Campaign, ScoringResult
from caliber.engine.lists import OptimizationLists, build_lists
from caliber.reports import formats
from caliber.reports.data import (
    CampaignFacts,
    Insight,
    ListSnapshot,
    MetricStats,
    ReportData,
    ResultLine,
)
from caliber.scoring import service as scoring_service
from caliber.scoring.repository import ResultFilters

TOP_ROWS = 50
INSIGHTS_IN_REPORT = 6
_LINE_COLUMNS = (
    "rank",
    "domain",
    "score",
    "quality_status",
    "percentile_rank",
    "impressions",
    "spend",
    "cpm",
    "ctr",
    "conversions",
    "conversion_rate",
)
_SCHEMA: dict[str, Any] = {
    "rank": pl.Int64,
    "domain": pl.String,
    "score": pl.Float64,
    "quality_status": pl.String,
    "percentile_rank": pl.Int64,
    "impressions": pl.Float64,
    "spend": pl.Float64,
    "cpm": pl.Float64,
    "ctr": pl.Float64,
    "conversions": pl.Float64,
    "conversion_rate": pl.Float64,
}
_STATS = (
    ("score", "Score", "points", "The 0-100 quality score of each row"),
    ("ctr", "CTR", "fraction", "Clicks per impression"),
    ("cpm", "CPM", "currency", "Cost per thousand impressions"),
    ("impressions", "Impressions", "count", "Volume delivered per row"),
)


def campaign_facts(campaign: Campaign) -> CampaignFacts:
    setup = scoring_service.campaign_setup(campaign)
    snapshot = campaign.config_snapshot or {}
    return CampaignFacts(
        id=str(campaign.id),
        name=campaign.name,
        platform=str(setup.platform),
        goal=str(setup.goal),
        channel=str(setup.channel),
        ctr_sensitivity=setup.ctr_sensitivity,
        analysis_level=str(snapshot.get("analysis_level") or setup.resolve().level),
        status=campaign.status,
        created_at=campaign.created_at,
        completed_at=campaign.completed_at,
        source_filename=snapshot.get("original_filename"),
        description=campaign.description,
    )


def _frame(session: Session, run_id: uuid.UUID) -> pl.DataFrame:
    columns = [getattr(ScoringResult, name) for name in _LINE_COLUMNS]
    rows = session.execute(
        select(*columns).where(ScoringResult.run_id == run_id).order_by(ScoringResult.rank)
    ).all()
    return pl.DataFrame([tuple(r) for r in rows], schema=_SCHEMA, orient="row")


def _lines(frame: pl.DataFrame) -> tuple[ResultLine, ...]:
    return tuple(ResultLine(**row) for row in frame.select(_LINE_COLUMNS).iter_rows(named=True))


def _stats(frame: pl.DataFrame) -> tuple[MetricStats, ...]:
    found = []
    for column, label, unit, description in _STATS:
        values = frame[column].drop_nulls()
        numbers: list[float | None] = (
            [values.mean(), values.median(), values.min(), values.max()]  # type: ignore[list-item]
            if values.len()
            else [None] * 4
        )
        mean, median, low, high = (None if v is None else float(v) for v in numbers)
        found.append(MetricStats(label, mean, median, low, high, unit, description))
    return tuple(found)


def _histogram(frame: pl.DataFrame) -> tuple[int, ...]:
    bins = [0] * 10
    for score in frame["score"].to_list():
        bins[min(9, max(0, int(score // 10)))] += 1
    return tuple(bins)


def _snapshot(kind: str, lists: OptimizationLists) -> ListSnapshot:
    chosen = lists.whitelist if kind == "whitelist" else lists.blacklist
    scores = chosen["score"]
    return ListSnapshot(
        list_type=kind,
        entries=_lines(chosen),
        criteria=lists.criteria(),
        average_score=round(float(scores.sum()) / chosen.height, 2) if chosen.height else None,
        total_impressions=float(chosen["impressions"].sum()) if chosen.height else 0.0,
    )


def report_data(
    session: Session,
    owner_id: uuid.UUID,
    campaign_id: uuid.UUID,
    *,
    min_impressions: float | None = None,
    with_insights: bool = True,
    now: datetime | None = None,
) -> ReportData:
    """Everything the PDF, the summary CSV and the campaign JSON show (404 if not the
    owner's, 409 if not completed)."""
    campaign = scoring_service.completed_campaign(session, owner_id, campaign_id)
    setup = scoring_service.campaign_setup(campaign)
    frame = _frame(session, results_run_id(campaign))
    threshold = setup.min_impressions if min_impressions is None else min_impressions
    lists = build_lists(
        frame, "domain", threshold, setup.whitelist_quantile, setup.blacklist_quantile
    )
    snapshot = campaign.config_snapshot or {}
    return ReportData(
        campaign=campaign_facts(campaign),
        generated_at=now or utcnow(),
        summary=dict(campaign.summary or {}),
        weights={k: float(v) for k, v in (snapshot.get("weights") or {}).items()},
        directions=dict(snapshot.get("directions") or {}),
        metric_stats=_stats(frame),
        score_histogram=_histogram(frame),
        top_rows=_lines(frame.head(TOP_ROWS)),
        total_rows=frame.height,
        whitelist=_snapshot("whitelist", lists),
        blacklist=_snapshot("blacklist", lists),
        data_quality=dict(campaign.data_quality_report or {}),
        insights=campaign_insights(session, owner_id, campaign.id) if with_insights else (),
    )


def campaign_insights(
    session: Session, owner_id: uuid.UUID, campaign_id: uuid.UUID, limit: int = INSIGHTS_IN_REPORT
) -> tuple[Insight, ...]:
    """The campaign's latest stored AI insights, newest first."""
    rows = session.scalars(
        select(AIInsight)
        .where(AIInsight.owner_id == owner_id, AIInsight.campaign_id == campaign_id)
        .order_by(AIInsight.created_at.desc())
        .limit(limit)
    )
    return tuple(Insight(r.insight_type, r.content, r.created_at) for r in rows)


def results_run_id(campaign: Campaign) -> uuid.UUID:
    """The run whose rows are the campaign's results (``completed_campaign`` checked it
    has one): reads go by it, never by the campaign, which may also have rows of a run
    being written or removed."""
    assert campaign.results_run_id is not None
    return campaign.results_run_id


def result_batches(
    session: Session, run_id: uuid.UUID, filters: ResultFilters, batch: int = 2000
) -> Iterator[Sequence[Row[Any]]]:
    """Every (filtered) result row in rank order as tuples of
    :data:`formats.STORED_RESULT_FIELDS`, ``batch`` rows at a time (streamed from the
    database: a large campaign never sits in memory at once). Plain rows, not ORM
    objects: on a 300,000-row campaign those cost more than writing the file."""
    query = (
        select(*(getattr(ScoringResult, name) for name in formats.STORED_RESULT_FIELDS))
        .where(ScoringResult.run_id == run_id, *filters.clauses())
        .order_by(ScoringResult.rank)
        .execution_options(yield_per=batch)
    )
    yield from session.execute(query).partitions()
