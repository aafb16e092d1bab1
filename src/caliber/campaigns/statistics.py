"""Dashboard statistics per organization, cached in ``organization_statistics``.

The cache is keyed by a fingerprint of the organization's campaigns (how many, and the latest
change), so a dashboard never shows figures older than the campaigns themselves; the
hourly task and the end of every run refresh it ahead of the next read.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from caliber.db.base import utcnow
from caliber.db.models import Campaign, CampaignStatus, Organization, OrganizationStatistics
from caliber.db.session import session_scope

RECENT = 5


def _fingerprint(session: Session, org_id: uuid.UUID) -> str:
    count, latest = session.execute(
        select(func.count(Campaign.id), func.max(Campaign.updated_at)).where(
            Campaign.organization_id == org_id
        )
    ).one()
    return f"{count}:{_iso(latest)}"


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def compute(session: Session, org_id: uuid.UUID) -> dict[str, Any]:
    """The figures, from the organization's campaigns and their stored summaries."""
    campaigns = session.scalars(
        select(Campaign)
        .where(Campaign.organization_id == org_id)
        .order_by(Campaign.updated_at.desc(), Campaign.id)
    ).all()
    by_status = {status.value: 0 for status in CampaignStatus}
    mix = {"good": 0, "moderate": 0, "poor": 0}
    scores: list[float] = []
    rows = 0
    impressions = 0.0
    spend = 0.0
    last_completed: datetime | None = None
    for campaign in campaigns:
        by_status[campaign.status] = by_status.get(campaign.status, 0) + 1
        if campaign.status != CampaignStatus.COMPLETED or not campaign.summary:
            continue
        summary = campaign.summary
        if campaign.campaign_level_score is not None:
            scores.append(campaign.campaign_level_score)
        rows += int(summary.get("row_count") or 0)
        impressions += float(summary.get("total_impressions") or 0)
        spend += float(summary.get("total_spend") or 0)
        for status, count in (summary.get("status_counts") or {}).items():
            if status in mix:
                mix[status] += int(count)
        if campaign.completed_at and (
            last_completed is None or campaign.completed_at > last_completed
        ):
            last_completed = campaign.completed_at
    return {
        "campaigns": {"total": len(campaigns), **by_status},
        "average_campaign_score": round(sum(scores) / len(scores), 2) if scores else None,
        "rows_scored": rows,
        "impressions_scored": int(impressions) if impressions.is_integer() else impressions,
        "spend_scored": round(spend, 2),
        "quality_mix": mix,
        "last_completed_at": _iso(last_completed),
        "recent": [
            {
                "id": str(c.id),
                "name": c.name,
                "status": c.status,
                "campaign_level_score": c.campaign_level_score,
                "updated_at": _iso(c.updated_at),
            }
            for c in campaigns[:RECENT]
        ],
    }


def refresh(session: Session, org_id: uuid.UUID) -> dict[str, Any]:
    """Recompute and store the organization's figures (the caller commits)."""
    figures = {**compute(session, org_id), "fingerprint": _fingerprint(session, org_id)}
    now = utcnow()
    figures["computed_at"] = now.isoformat()
    row = session.get(OrganizationStatistics, org_id)
    if row is None:
        try:
            with session.begin_nested():  # a concurrent refresh may insert it first
                session.add(
                    OrganizationStatistics(organization_id=org_id, figures=figures, computed_at=now)
                )
        except IntegrityError:
            return figures
    else:
        row.figures = figures
        row.computed_at = now
        session.flush()
    return figures


def get(session: Session, org_id: uuid.UUID) -> dict[str, Any]:
    """The cached figures when the campaigns have not changed since, else fresh ones."""
    row = session.get(OrganizationStatistics, org_id)
    if row is not None and row.figures.get("fingerprint") == _fingerprint(session, org_id):
        return dict(row.figures)
    return refresh(session, org_id)


def refresh_all(session: Session) -> int:
    """Refresh every organization that has campaigns (the hourly task). Returns how many."""
    organizations = session.scalars(
        select(Campaign.organization_id).where(Campaign.organization_id.is_not(None)).distinct()
    ).all()
    for org_id in organizations:
        refresh(session, org_id)
    return len(organizations)


def organization_of(sessions: sessionmaker[Session], campaign_id: uuid.UUID) -> uuid.UUID | None:
    """The organization whose figures a run of ``campaign_id`` changed (None: deleted)."""
    with sessions() as session:
        return session.scalar(select(Campaign.organization_id).where(Campaign.id == campaign_id))


def update_statistics(sessions: sessionmaker[Session], organization_id: str | None = None) -> int:
    """The ``update_campaign_statistics`` job: one organization's figures, or all."""
    with session_scope(sessions) as session:
        if organization_id is None:
            return refresh_all(session)
        org_id = uuid.UUID(organization_id)
        if session.get(Organization, org_id) is None:
            return 0
        refresh(session, org_id)
        return 1
