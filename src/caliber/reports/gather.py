"""Gather a run's report data (the campaign's latest completed run unless one is
named; owner-checked): the run's facts from the database, its rows from its stored frame."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

import numpy as np
import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from caliber.db.base import utcnow
from caliber.db.models import AIInsight, Campaign
from caliber.engine.lists import OptimizationLists
from caliber.reports.data import (
    CampaignFacts,
    Insight,
    ListSnapshot,
    MetricStats,
    ReportData,
    ResultLine,
)
from caliber.scoring import pages
from caliber.scoring.frames import StoredRun
from caliber.scoring.lists import run_lists
from caliber.scoring.repository import ResultFilters
from caliber.scoring.runs import ResultsView, results_view

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
_STATS = (
    ("score", "Score", "points", "The 0-100 quality score of each row"),
    ("ctr", "CTR", "fraction", "Clicks per impression"),
    ("cpm", "CPM", "currency", "Cost per thousand impressions"),
    ("impressions", "Impressions", "count", "Volume delivered per row"),
)


def campaign_facts(view: ResultsView) -> CampaignFacts:
    """The campaign's identity and the setup, file and completion of the run read."""
    campaign = view.campaign
    setup = view.setup
    snapshot = view.run.snapshot or {}
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
        completed_at=view.run.finished_at,
        source_filename=snapshot.get("original_filename"),
        description=campaign.description,
    )


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


def _snapshot(
    kind: str, lists: OptimizationLists, frame: pl.DataFrame, dimension: str
) -> ListSnapshot:
    """The list's entries as report lines: its rows of ``frame`` (the run's lines, keyed by
    ``domain``; a run's names are unique) in the list's order."""
    listed = lists.whitelist if kind == "whitelist" else lists.blacklist
    names = listed.get_column(dimension).alias("domain")
    chosen = (
        names.to_frame()
        .with_row_index("_order")
        .join(frame, on="domain", how="inner")
        .sort("_order")
        .drop("_order")
    )
    scores = chosen["score"]
    return ListSnapshot(
        list_type=kind,
        entries=_lines(chosen),
        criteria=lists.criteria(),
        average_score=round(float(scores.sum()) / chosen.height, 2) if chosen.height else None,
        total_impressions=float(chosen["impressions"].sum()) if chosen.height else 0.0,
    )


def stored_run(session: Session, view: ResultsView) -> StoredRun:
    """The run's stored frame (held by this process's page index when it fits)."""
    return pages.index().run(session, view.run).stored


def report_data(
    session: Session,
    org_id: uuid.UUID,
    campaign_id: uuid.UUID,
    *,
    min_impressions: float | None = None,
    with_insights: bool = True,
    now: datetime | None = None,
    run_id: uuid.UUID | None = None,
    view: ResultsView | None = None,
) -> ReportData:
    """Everything the PDF, the summary CSV and the campaign JSON show (404 if not the
    owner's, or not a run of this campaign; 409 if it has no results)."""
    view = view or results_view(session, org_id, campaign_id, run_id)
    campaign = view.campaign
    setup = view.setup
    stored = stored_run(session, view)
    frame = stored.lines()
    threshold = setup.min_impressions if min_impressions is None else min_impressions
    # the lists in use (confident when the run was scored with list_confidence), the
    # same the list routes answer
    lists = run_lists(session, view, threshold)
    snapshot = view.run.snapshot or {}
    return ReportData(
        campaign=campaign_facts(view),
        generated_at=now or utcnow(),
        summary=view.summary,
        weights={k: float(v) for k, v in (snapshot.get("weights") or {}).items()},
        directions=dict(snapshot.get("directions") or {}),
        metric_stats=_stats(frame),
        score_histogram=_histogram(frame),
        top_rows=_lines(frame.head(TOP_ROWS)),
        total_rows=frame.height,
        whitelist=_snapshot("whitelist", lists, frame, stored.layout.dimension),
        blacklist=_snapshot("blacklist", lists, frame, stored.layout.dimension),
        data_quality=dict(view.run.report or {}),
        insights=campaign_insights(session, org_id, campaign.id) if with_insights else (),
    )


def campaign_insights(
    session: Session, org_id: uuid.UUID, campaign_id: uuid.UUID, limit: int = INSIGHTS_IN_REPORT
) -> tuple[Insight, ...]:
    """The campaign's latest stored AI insights, newest first (whoever of the
    organization asked for them: insights follow the organization)."""
    rows = session.scalars(
        select(AIInsight)
        .join(Campaign, Campaign.id == AIInsight.campaign_id)
        .where(Campaign.organization_id == org_id, AIInsight.campaign_id == campaign_id)
        .order_by(AIInsight.created_at.desc())
        .limit(limit)
    )
    return tuple(Insight(r.insight_type, r.content, r.created_at) for r in rows)


def result_batches(
    stored: StoredRun, filters: ResultFilters, batch: int = 2000, extra: Sequence[str] = ()
) -> Iterator[list[tuple[Any, ...]]]:
    """Every (filtered) result row in rank order as tuples of
    :data:`caliber.scoring.frames.EXPORT_FIELDS`, ``batch`` rows at a time (made from the run's
    frame batch by batch: the rows of a large campaign never sit in memory at once), then
    the values of the ``extra`` columns."""
    mask = None
    if filters != ResultFilters():
        index = pages.RunIndex(stored.index)
        found = index.matching(filters)
        mask = None if found is None else np.asarray(found, dtype=bool)
    yield from stored.export_batches(mask, batch, extra)
