"""Uploaded files: intake (size, type and name checks while streaming to storage),
listing, deletion and campaign assignment. The name and content checks are in
:mod:`caliber.files.checks`; preview and validation through the engine in
:mod:`caliber.files.reading`.

Every lookup is scoped by owner: another user's file or campaign is "not found". Functions
that change rows flush but do not commit; the route commits (``commit_upload`` commits an
upload and removes its stored bytes if the commit fails).
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from datetime import timedelta
from typing import Any, BinaryIO, cast

from sqlalchemy.orm import Session

from caliber.campaigns.repository import get_campaign
from caliber.core.errors import Conflict, InvalidInput, PayloadTooLarge
from caliber.db.base import utcnow
from caliber.db.models import Campaign, CampaignStatus, FileUpload
from caliber.files import repository
from caliber.files.checks import (
    CONTENT_TYPES,
    TEXT_FORMATS,
    check_content,
    extension_of,
    safe_filename,
)
from caliber.storage.base import Storage

logger = logging.getLogger(__name__)

_HEAD_BYTES = 64 * 1024
_CHUNK = 1024 * 1024


# --------------------------------------------------------------------------- intake


class _MeteredStream:
    """The head already read, then the rest of the upload: hashed, counted, and refused
    (``PayloadTooLarge``) as soon as more than ``limit`` bytes went through."""

    def __init__(self, head: bytes, rest: BinaryIO, limit: int) -> None:
        self._pending = head
        self._rest = rest
        self._limit = limit
        self.count = 0
        self._hash = hashlib.sha256()

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            parts = []
            while chunk := self._read_some(_CHUNK):
                parts.append(chunk)
            return b"".join(parts)
        return self._read_some(size)

    def _read_some(self, size: int) -> bytes:
        if size == 0:
            return b""
        if self._pending:
            chunk, self._pending = self._pending[:size], self._pending[size:]
        else:
            chunk = self._rest.read(size)
        self.count += len(chunk)
        if self.count > self._limit:
            raise too_large(self._limit)
        self._hash.update(chunk)
        return chunk


def too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"the file is larger than the {limit:,}-byte upload limit ({limit / 1024 / 1024:g} MiB)",
        limit_bytes=limit,
    )


def _read_head(stream: BinaryIO) -> bytes:
    parts: list[bytes] = []
    have = 0
    while have < _HEAD_BYTES and (chunk := stream.read(_HEAD_BYTES - have)):
        parts.append(chunk)
        have += len(chunk)
    return b"".join(parts)


def _check_assignable(campaign: Campaign) -> Campaign:
    if campaign.status == CampaignStatus.PROCESSING:
        raise Conflict(
            "the campaign is processing; wait until it finishes before changing its file",
            campaign_id=str(campaign.id),
            status=str(campaign.status),
        )
    return campaign


def _assignable_campaign(session: Session, org_id: uuid.UUID, campaign_id: uuid.UUID) -> Campaign:
    """The owner's campaign, locked and re-read (PostgreSQL), if its file may change now."""
    campaign = get_campaign(session, org_id, campaign_id)
    # re-read under the lock: the session may hold an older copy of the row
    session.refresh(campaign, with_for_update=True)
    return _check_assignable(campaign)


def upload_file(
    session: Session,
    storage: Storage,
    *,
    org_id: uuid.UUID,
    created_by: uuid.UUID,
    stream: BinaryIO,
    filename: str | None,
    limit: int,
    size_hint: int | None = None,
    campaign_id: uuid.UUID | None = None,
    read_options: dict[str, Any] | None = None,
) -> tuple[FileUpload, Campaign | None]:
    """Check and store an upload with its reading choices (``read_options``, stored as
    :func:`caliber.campaigns.choices.stored` gives them: each one given wins over the
    campaign's for this file), add its row (flushed, not committed), and
    assign it to ``campaign_id`` when given. Nothing stays in storage when a check fails."""
    name = safe_filename(filename)
    ext = extension_of(name)
    if size_hint is not None and size_hint > limit:
        raise too_large(limit)
    if campaign_id is not None:  # fail fast, before any byte is stored; re-checked below
        _check_assignable(get_campaign(session, org_id, campaign_id))
    head = _read_head(stream)
    if not head:
        raise InvalidInput("the file is empty", filename=name)
    if len(head) > limit:
        raise too_large(limit)
    check_content(ext, head)
    if ext in TEXT_FORMATS and not head.strip() and len(head) < _HEAD_BYTES:
        raise InvalidInput("the file holds only blank space", filename=name)

    file_id = uuid.uuid4()
    key = f"uploads/{file_id.hex}.{ext}"
    metered = _MeteredStream(head, stream, limit)
    try:
        storage.save(key, cast(BinaryIO, metered))  # read() is all a backend calls
        record = FileUpload(
            id=file_id,
            owner_id=created_by,
            organization_id=org_id,
            original_filename=name,
            storage_key=key,
            content_type=CONTENT_TYPES[ext],
            file_format=ext,
            size_bytes=metered.count,
            sha256=metered.sha256,
            read_options=read_options,
        )
        session.add(record)
        session.flush()
        campaign: Campaign | None = None
        if campaign_id is not None:
            campaign = _assignable_campaign(session, org_id, campaign_id)
            campaign.file_upload_id = record.id
            session.flush()
    except BaseException:
        _discard(storage, key)
        raise
    return record, campaign


def commit_upload(session: Session, storage: Storage, record: FileUpload) -> None:
    """Commit the upload's row; if that fails, remove its stored bytes."""
    try:
        session.commit()
    except BaseException:
        session.rollback()
        _discard(storage, record.storage_key)
        raise


def _discard(storage: Storage, key: str) -> None:
    try:
        storage.delete(key)
    except Exception:  # the original error matters more; log the leftover
        logger.exception("could not remove stored upload %s", key)


# --------------------------------------------------------------------------- queries


def list_files(
    session: Session, org_id: uuid.UUID, *, page: int, per_page: int
) -> tuple[list[FileUpload], int]:
    return repository.list_files(session, org_id, offset=(page - 1) * per_page, limit=per_page)


def get_file(session: Session, org_id: uuid.UUID, file_id: uuid.UUID) -> FileUpload:
    return repository.get_file(session, org_id, file_id)


# --------------------------------------------------------------------------- changes


def delete_file(session: Session, org_id: uuid.UUID, file_id: uuid.UUID) -> str:
    """Delete the file's row (flushed); return its storage key for the caller to remove
    after committing. A file used by a processing campaign is a conflict."""
    record = repository.get_file(session, org_id, file_id)
    using = repository.campaigns_using(session, record.id, lock=True)
    busy = [c for c in using if c.status == CampaignStatus.PROCESSING]
    if busy:
        raise Conflict(
            "the file is being scored by a processing campaign; wait until it finishes",
            file_id=str(file_id),
            campaign_ids=[str(c.id) for c in busy],
        )
    for campaign in using:
        campaign.file_upload_id = None  # the database would too (SET NULL); keep the ORM in step
    key = record.storage_key
    session.delete(record)
    session.flush()
    return key


def remove_stored(storage: Storage, key: str) -> None:
    """Remove stored bytes after their row is gone (a failure leaves an orphan, logged)."""
    _discard(storage, key)


def assign_to_campaign(
    session: Session, org_id: uuid.UUID, file_id: uuid.UUID, campaign_id: uuid.UUID
) -> Campaign:
    """Make the file the campaign's input (flushed). 404 for another user's file or
    campaign; 409 while the campaign is processing."""
    record = repository.get_file(session, org_id, file_id)
    campaign = _assignable_campaign(session, org_id, campaign_id)
    campaign.file_upload_id = record.id
    session.flush()
    return campaign


def cleanup_unused_files(session: Session, *, older_than_days: int) -> list[str]:
    """Delete the rows of uploads older than ``older_than_days`` that no campaign uses;
    return their storage keys for the caller to remove after committing."""
    cutoff = utcnow() - timedelta(days=older_than_days)
    stale = repository.unused_files_before(session, cutoff)
    keys = [record.storage_key for record in stale]
    for record in stale:
        session.delete(record)
    session.flush()
    return keys
