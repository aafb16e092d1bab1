"""Routes: the signed-in user's notifications."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict

from caliber.api.deps import CurrentMember, SessionDep
from caliber.core.envelope import Envelope, Page, ok, page
from caliber.notifications import service

router = APIRouter()


class NotificationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    campaign_id: uuid.UUID | None
    kind: str
    title: str
    message: str
    read_at: datetime | None
    created_at: datetime


@router.get("", response_model=Page[NotificationOut])
def list_notifications(
    member: CurrentMember,
    session: SessionDep,
    page_number: Annotated[int, Query(alias="page", ge=1, le=100_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=100)] = 20,
    unread: bool = False,
) -> Any:
    """Newest first; ``unread=true`` for the unread ones only."""
    rows, total = service.list_notifications(
        session,
        member.organization_id,
        unread_only=unread,
        offset=(page_number - 1) * per_page,
        limit=per_page,
    )
    items = [NotificationOut.model_validate(r) for r in rows]
    return page(items, total=total, page=page_number, per_page=per_page)


@router.post("/{notification_id}/read", response_model=Envelope[NotificationOut])
def mark_read(notification_id: uuid.UUID, member: CurrentMember, session: SessionDep) -> Any:
    notification = service.mark_read(session, member, notification_id)
    session.commit()
    return ok(NotificationOut.model_validate(notification), "marked as read")
