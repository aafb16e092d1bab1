"""Scoring queries: the result pages' query types, and the SQL of runs
(``scoring_runs``).

Callers scope by owner first (the campaign is fetched through the owner-scoped campaign
repository, or :func:`get_run` joins it); a run is then addressed by its id, never by
the campaign alone.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, cast

from sqlalchemy import CursorResult, bindparam, func, select, update
from sqlalchemy.orm import Session

from caliber.db.base import utcnow
from caliber.db.models import Campaign, CampaignStatus, RunStatus, ScoringRun

SortColumn = Literal[
    "score",
    "impressions",
    "spend",
    "cpm",
    "ctr",
    "conversion_rate",
    "percentile_rank",
    "domain",
]
SortDirection = Literal["asc", "desc"]
QualityStatus = Literal["good", "moderate", "poor"]
# a confident run's decision per row (issue 17; engine/decisions.py DECISIONS)
Decision = Literal["whitelist", "blacklist", "undecided"]


@dataclass(frozen=True)
class ResultFilters:
    quality_status: QualityStatus | None = None
    min_score: float | None = None
    max_score: float | None = None
    min_impressions: float | None = None
    decision: Decision | None = None  # only a run scored with list_confidence has them


# --- runs ------------------------------------------------------------------------------


def add_run(
    session: Session,
    campaign_id: uuid.UUID,
    snapshot: dict[str, Any],
    file_upload_id: uuid.UUID | None,
    started_at: datetime,
) -> ScoringRun:
    run = ScoringRun(
        campaign_id=campaign_id,
        status=RunStatus.PROCESSING,
        started_at=started_at,
        file_upload_id=file_upload_id,
        snapshot=snapshot,
    )
    session.add(run)
    session.flush()
    return run


# built once, its ids bound per call: every read of results asks it, and composing the
# statement again on each request cost about as much as running it (issue 19)
_CAMPAIGN_AND_RESULTS_RUN = (
    select(Campaign, ScoringRun)
    .outerjoin(ScoringRun, ScoringRun.id == Campaign.results_run_id)
    .where(
        Campaign.id == bindparam("campaign_id"),
        Campaign.organization_id == bindparam("org_id"),
    )
)


def campaign_and_results_run(
    session: Session, org_id: uuid.UUID, campaign_id: uuid.UUID
) -> tuple[Campaign, ScoringRun | None] | None:
    """The organization's campaign ``campaign_id`` and the run its results are (None when
    it has none), in one statement: every read of results asks for both (issue 19); None
    when the campaign is not the organization's."""
    row = session.execute(
        _CAMPAIGN_AND_RESULTS_RUN, {"campaign_id": campaign_id, "org_id": org_id}
    ).first()
    return None if row is None else (row[0], row[1])


def get_run(
    session: Session, org_id: uuid.UUID, campaign_id: uuid.UUID, run_id: uuid.UUID
) -> ScoringRun | None:
    """Run ``run_id`` of the owner's campaign ``campaign_id`` (None otherwise: another
    user's, or another campaign's)."""
    return session.scalar(
        select(ScoringRun)
        .join(Campaign, Campaign.id == ScoringRun.campaign_id)
        .where(
            ScoringRun.id == run_id,
            ScoringRun.campaign_id == campaign_id,
            Campaign.organization_id == org_id,
        )
    )


def current_run(session: Session, campaign_id: uuid.UUID) -> ScoringRun | None:
    """The campaign's newest run still marked processing (the one a job scores)."""
    return session.scalar(
        select(ScoringRun)
        .where(ScoringRun.campaign_id == campaign_id, ScoringRun.status == RunStatus.PROCESSING)
        .order_by(ScoringRun.started_at.desc(), ScoringRun.id)
        .limit(1)
    )


def runs_page(
    session: Session, campaign_id: uuid.UUID, *, offset: int, limit: int
) -> tuple[list[ScoringRun], int]:
    """The campaign's runs, newest first, and how many it has."""
    where = ScoringRun.campaign_id == campaign_id
    total = session.scalar(select(func.count()).select_from(ScoringRun).where(where)) or 0
    found = session.scalars(
        select(ScoringRun)
        .where(where)
        .order_by(ScoringRun.started_at.desc(), ScoringRun.id)
        .offset(offset)
        .limit(limit)
    )
    return list(found), total


def newest_run_id(session: Session, campaign_id: uuid.UUID) -> uuid.UUID | None:
    return session.scalar(
        select(ScoringRun.id)
        .where(ScoringRun.campaign_id == campaign_id)
        .order_by(ScoringRun.started_at.desc(), ScoringRun.id)
        .limit(1)
    )


def update_run(session: Session, run_id: uuid.UUID, *, when: str, **values: Any) -> bool:
    """Update run ``run_id`` if its status is ``when`` (atomic on both backends)."""
    result = cast(
        CursorResult[Any],
        session.execute(
            update(ScoringRun)
            .where(ScoringRun.id == run_id, ScoringRun.status == when)
            .values(**values, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        ),
    )
    return result.rowcount == 1


def fail_processing_runs(
    session: Session, campaign_ids: Sequence[uuid.UUID], message: str | None
) -> int:
    """Mark the runs of ``campaign_ids`` still processing failed with ``message``."""
    if not campaign_ids:
        return 0
    result = cast(
        CursorResult[Any],
        session.execute(
            update(ScoringRun)
            .where(
                ScoringRun.campaign_id.in_(list(campaign_ids)),
                ScoringRun.status == RunStatus.PROCESSING,
            )
            .values(
                status=RunStatus.FAILED,
                error_message=message,
                finished_at=utcnow(),
                updated_at=utcnow(),
            )
            .execution_options(synchronize_session=False)
        ),
    )
    return int(result.rowcount or 0)


# --- retention ---------------------------------------------------------------------------


def campaigns_over(session: Session, keep: int, limit: int = 500) -> list[uuid.UUID]:
    """Campaigns with more than ``keep`` runs."""
    return list(
        session.scalars(
            select(ScoringRun.campaign_id)
            .where(ScoringRun.campaign_id.is_not(None))
            .group_by(ScoringRun.campaign_id)
            .having(func.count() > keep)
            .limit(limit)
        )
    )


def expired_runs(session: Session, campaign_id: uuid.UUID, keep: int) -> list[ScoringRun]:
    """The campaign's runs beyond its ``keep`` newest, but never its latest completed
    run (the results routes read by default) nor a run in progress."""
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        return []
    runs = session.scalars(
        select(ScoringRun)
        .where(ScoringRun.campaign_id == campaign_id)
        .order_by(ScoringRun.started_at.desc(), ScoringRun.id)
        .offset(keep)
    )
    in_progress = campaign.status == CampaignStatus.PROCESSING
    return [
        run
        for run in runs
        if run.id != campaign.results_run_id
        and not (in_progress and run.status == RunStatus.PROCESSING)
    ]


def orphan_runs(session: Session, limit: int = 500) -> list[ScoringRun]:
    """Runs whose campaign was deleted."""
    return list(
        session.scalars(select(ScoringRun).where(ScoringRun.campaign_id.is_(None)).limit(limit))
    )


def runs_in_sql(session: Session, limit: int) -> list[ScoringRun]:
    """Completed runs whose rows are still in ``scoring_results``."""
    return list(
        session.scalars(
            select(ScoringRun)
            .where(
                ScoringRun.storage_key.is_(None),
                ScoringRun.status == RunStatus.COMPLETED,
                ScoringRun.campaign_id.is_not(None),
            )
            .order_by(ScoringRun.started_at)
            .limit(limit)
        )
    )


def run_ids_in_sql(session: Session) -> list[uuid.UUID]:
    """Every run (any status) that has no file: its rows, if any, are in SQL."""
    return list(session.scalars(select(ScoringRun.id).where(ScoringRun.storage_key.is_(None))))
