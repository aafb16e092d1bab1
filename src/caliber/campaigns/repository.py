"""Campaign and template queries, always scoped by owner: another user's id is "not found"."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from caliber.core.errors import NotFound
from caliber.db.models import Campaign, CampaignTemplate


def get_campaign(session: Session, owner_id: uuid.UUID, campaign_id: uuid.UUID) -> Campaign:
    campaign = session.scalar(
        select(Campaign).where(Campaign.id == campaign_id, Campaign.owner_id == owner_id)
    )
    if campaign is None:
        raise NotFound("campaign not found", campaign_id=str(campaign_id))
    return campaign


def get_campaign_for_update(
    session: Session, owner_id: uuid.UUID, campaign_id: uuid.UUID
) -> Campaign:
    """As :func:`get_campaign`, locking the row (PostgreSQL) for a status change."""
    campaign = session.scalar(
        select(Campaign)
        .where(Campaign.id == campaign_id, Campaign.owner_id == owner_id)
        .with_for_update()
    )
    if campaign is None:
        raise NotFound("campaign not found", campaign_id=str(campaign_id))
    return campaign


def get_template(
    session: Session, owner_id: uuid.UUID, template_id: uuid.UUID
) -> CampaignTemplate:
    template = session.scalar(
        select(CampaignTemplate).where(
            CampaignTemplate.id == template_id, CampaignTemplate.owner_id == owner_id
        )
    )
    if template is None:
        raise NotFound("template not found", template_id=str(template_id))
    return template
