"""Campaign and template queries, always scoped by owner: another user's id is "not found"."""

from __future__ import annotations

import uuid
from typing import Any, cast

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.orm import Session

from caliber.core.errors import NotFound
from caliber.db.base import utcnow
from caliber.db.models import Campaign, CampaignStatus, CampaignTemplate, FileUpload


def get_campaign(session: Session, org_id: uuid.UUID, campaign_id: uuid.UUID) -> Campaign:
    campaign = session.scalar(
        select(Campaign).where(Campaign.id == campaign_id, Campaign.organization_id == org_id)
    )
    if campaign is None:
        raise NotFound("campaign not found", campaign_id=str(campaign_id))
    return campaign


def get_campaign_for_update(
    session: Session, org_id: uuid.UUID, campaign_id: uuid.UUID
) -> Campaign:
    """As :func:`get_campaign`, locking the row (PostgreSQL) for a status change."""
    campaign = session.scalar(
        select(Campaign)
        .where(Campaign.id == campaign_id, Campaign.organization_id == org_id)
        .with_for_update()
        .execution_options(populate_existing=True)  # re-read even if already loaded
    )
    if campaign is None:
        raise NotFound("campaign not found", campaign_id=str(campaign_id))
    return campaign


def update_if_status(
    session: Session,
    org_id: uuid.UUID,
    campaign_id: uuid.UUID,
    expected: CampaignStatus,
    **values: Any,
) -> bool:
    """Update the campaign only if its status is still ``expected`` (atomic on both
    backends: SQLite has no row lock, so a read status may have changed by the write)."""
    result = cast(
        CursorResult[Any],
        session.execute(
            update(Campaign)
            .where(
                Campaign.id == campaign_id,
                Campaign.organization_id == org_id,
                Campaign.status == expected,
            )
            .values(**values, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        ),
    )
    return result.rowcount == 1


def get_template(session: Session, org_id: uuid.UUID, template_id: uuid.UUID) -> CampaignTemplate:
    template = session.scalar(
        select(CampaignTemplate).where(
            CampaignTemplate.id == template_id, CampaignTemplate.organization_id == org_id
        )
    )
    if template is None:
        raise NotFound("template not found", template_id=str(template_id))
    return template


def list_templates(session: Session, org_id: uuid.UUID) -> list[CampaignTemplate]:
    """The owner's templates, newest first."""
    return list(
        session.scalars(
            select(CampaignTemplate)
            .where(CampaignTemplate.organization_id == org_id)
            .order_by(CampaignTemplate.created_at.desc(), CampaignTemplate.id.desc())
        )
    )


def template_in_use(session: Session, template_id: uuid.UUID) -> bool:
    used = session.scalar(select(Campaign.id).where(Campaign.template_id == template_id).limit(1))
    return used is not None


def list_campaigns(
    session: Session,
    org_id: uuid.UUID,
    *,
    skip: int,
    limit: int,
    status: CampaignStatus | None = None,
) -> tuple[list[Campaign], int]:
    """One page of the owner's campaigns (newest first) and the total matching."""
    where = [Campaign.organization_id == org_id]
    if status is not None:
        where.append(Campaign.status == status)
    total = session.scalar(select(func.count()).select_from(Campaign).where(*where)) or 0
    items = session.scalars(
        select(Campaign)
        .where(*where)
        .order_by(Campaign.created_at.desc(), Campaign.id.desc())
        .offset(skip)
        .limit(limit)
    )
    return list(items), total


def get_file_upload(session: Session, org_id: uuid.UUID, file_id: uuid.UUID) -> FileUpload:
    upload = session.scalar(
        select(FileUpload).where(FileUpload.id == file_id, FileUpload.organization_id == org_id)
    )
    if upload is None:
        raise NotFound("file not found", file_id=str(file_id))
    return upload
