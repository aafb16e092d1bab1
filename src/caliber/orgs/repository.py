"""The queries the policy asks: whether an object is an organization's."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from caliber.db.models import Campaign, CampaignTemplate, Export, FileUpload

Owned = type[Campaign] | type[CampaignTemplate] | type[FileUpload] | type[Export]


def belongs(session: Session, model: Owned, object_id: uuid.UUID, org_id: uuid.UUID) -> bool:
    """Whether ``object_id`` is a row of ``model`` in the organization ``org_id``."""
    found = session.scalar(
        select(model.id).where(model.id == object_id, model.organization_id == org_id)
    )
    return found is not None
