"""File-upload queries, always scoped by owner: another user's file is "not found"."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from caliber.core.errors import NotFound
from caliber.db.models import Campaign, FileUpload


def get_file(session: Session, org_id: uuid.UUID, file_id: uuid.UUID) -> FileUpload:
    record = session.scalar(
        select(FileUpload).where(FileUpload.id == file_id, FileUpload.organization_id == org_id)
    )
    if record is None:
        raise NotFound("file not found", file_id=str(file_id))
    return record


def list_files(
    session: Session, org_id: uuid.UUID, *, offset: int, limit: int
) -> tuple[list[FileUpload], int]:
    """One page of the owner's files, newest first, and the owner's total."""
    total = session.scalar(
        select(func.count()).select_from(FileUpload).where(FileUpload.organization_id == org_id)
    )
    rows = session.scalars(
        select(FileUpload)
        .where(FileUpload.organization_id == org_id)
        .order_by(FileUpload.created_at.desc(), FileUpload.id.desc())
        .offset(offset)
        .limit(limit)
    ).all()
    return list(rows), int(total or 0)


def campaigns_using(session: Session, file_id: uuid.UUID, *, lock: bool = False) -> list[Campaign]:
    """Campaigns whose file is ``file_id``, newest first; with ``lock``, locked for update
    (PostgreSQL) and re-read, so their status is current."""
    query = (
        select(Campaign)
        .where(Campaign.file_upload_id == file_id)
        .order_by(Campaign.created_at.desc(), Campaign.id.desc())
    )
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return list(session.scalars(query).all())


def unused_files_before(session: Session, cutoff: datetime) -> list[FileUpload]:
    """Every user's uploads older than ``cutoff`` that no campaign points at (maintenance
    only: this query is deliberately not scoped by owner)."""
    used = select(Campaign.file_upload_id).where(Campaign.file_upload_id.is_not(None))
    return list(
        session.scalars(
            select(FileUpload).where(FileUpload.created_at < cutoff, FileUpload.id.not_in(used))
        )
    )
