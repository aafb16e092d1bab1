"""Notifications: stored messages a user reads in the app (no email service needed)."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from caliber.campaigns.repository import get_campaign
from caliber.core.errors import NotFound
from caliber.db.base import utcnow
from caliber.db.models import CampaignStatus, Notification
from caliber.orgs import policy
from caliber.orgs.policy import Member

SCORING_FINISHED = "scoring_finished"


def notify_scoring_finished(
    session: Session, org_id: uuid.UUID, campaign_id: uuid.UUID
) -> Notification | None:
    """One notification for the campaign's latest run once it completed or failed; None
    while it runs. Idempotent: the same run never gets two (unique run key)."""
    campaign = get_campaign(session, org_id, campaign_id)
    if campaign.status not in (CampaignStatus.COMPLETED, CampaignStatus.FAILED):
        return None
    run_key = campaign.started_at.isoformat() if campaign.started_at else ""
    if campaign.status == CampaignStatus.COMPLETED:
        summary = campaign.summary or {}
        lists = summary.get("lists", {})
        title = f"{campaign.name}: scoring finished"
        message = (
            f"{summary.get('row_count', 0):,} {summary.get('analysis_level', 'domain')}s scored; "
            f"campaign score {campaign.campaign_level_score}; "
            f"{lists.get('whitelist_count', 0)} on the whitelist, "
            f"{lists.get('blacklist_count', 0)} on the blacklist."
        )
    else:
        title = f"{campaign.name}: scoring failed"
        message = campaign.error_message or "scoring failed"
    notification = Notification(
        owner_id=campaign.owner_id,
        organization_id=campaign.organization_id,
        campaign_id=campaign_id,
        kind=SCORING_FINISHED,
        run_key=run_key,
        title=title,
        message=message,
    )
    return add_once(session, notification)


def add_once(session: Session, notification: Notification) -> Notification | None:
    """Store ``notification`` unless one of its kind was already sent for its run (the
    unique kind and run key: a redelivered job sends nothing twice); None then."""
    try:
        with session.begin_nested():
            session.add(notification)
    except IntegrityError:
        return None  # already sent for this run
    return notification


def list_notifications(
    session: Session, org_id: uuid.UUID, *, unread_only: bool, offset: int, limit: int
) -> tuple[list[Notification], int]:
    where = [Notification.organization_id == org_id]
    if unread_only:
        where.append(Notification.read_at.is_(None))
    total = session.scalar(select(func.count()).select_from(Notification).where(*where)) or 0
    rows = session.scalars(
        select(Notification)
        .where(*where)
        .order_by(Notification.created_at.desc(), Notification.id)
        .offset(offset)
        .limit(limit)
    )
    return list(rows), total


def mark_read(session: Session, member: Member, notification_id: uuid.UUID) -> Notification:
    """Mark the organization's notification read (for every member: the inbox is the
    organization's, and viewers change nothing of it)."""
    notification = session.scalar(
        select(Notification).where(
            Notification.id == notification_id,
            Notification.organization_id == member.organization_id,
        )
    )
    if notification is None:
        raise NotFound("notification not found", notification_id=str(notification_id))
    policy.require(member, policy.Action.WORK)
    if notification.read_at is None:
        notification.read_at = utcnow()
    return notification
