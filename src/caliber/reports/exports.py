"""Background exports: created by the API, rendered and stored by ``generate_export``,
downloaded by their owner, removed by ``cleanup_old_exports``."""

from __future__ import annotations

import io
import logging
import uuid
from datetime import timedelta
from typing import Any, Protocol, cast

from sqlalchemy import CursorResult, delete, or_, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from caliber.core.errors import CaliberError, Conflict, NotFound, UpstreamUnavailable
from caliber.db.base import utcnow
from caliber.db.models import Export, ExportStatus
from caliber.db.session import session_scope
from caliber.orgs import service as org_service
from caliber.orgs.policy import Member
from caliber.reports.service import ExportOptions, render
from caliber.scoring.runs import results_view
from caliber.storage.base import Storage

logger = logging.getLogger(__name__)

GENERIC_FAILURE = "the export could not be produced; try again"


class ExportServices(Protocol):
    sessions: sessionmaker[Session]
    storage: Storage


def create_export(
    session: Session,
    member: Member,
    campaign_id: uuid.UUID,
    fmt: str,
    options: ExportOptions,
) -> Export:
    """A pending export of a run of the owner's campaign (``options.run_id``, default its
    latest completed run; 404 / 409 first). The caller commits, then enqueues
    ``generate_export``."""
    results_view(session, member.organization_id, campaign_id, options.run_id)
    export = Export(
        owner_id=member.user_id,
        organization_id=member.organization_id,
        campaign_id=campaign_id,
        format=fmt,
        options=options.model_dump(mode="json", exclude_defaults=True),
        status=ExportStatus.PENDING,
    )
    session.add(export)
    session.flush()
    return export


def get_export(session: Session, org_id: uuid.UUID, export_id: uuid.UUID) -> Export:
    export = session.get(Export, export_id)
    if export is None or export.organization_id != org_id:
        raise NotFound("export not found", export_id=str(export_id))
    return export


def list_exports(session: Session, org_id: uuid.UUID, limit: int = 100) -> list[Export]:
    return list(
        session.scalars(
            select(Export)
            .where(Export.organization_id == org_id)
            .order_by(Export.created_at.desc(), Export.id)
            .limit(limit)
        )
    )


def download(
    session: Session, storage: Storage, org_id: uuid.UUID, export_id: uuid.UUID
) -> tuple[Export, bytes]:
    """The stored file of a completed export (409 while it is not ready)."""
    export = get_export(session, org_id, export_id)
    if export.campaign_id is None:
        raise NotFound("export not found: its campaign was deleted", export_id=str(export_id))
    if export.status != ExportStatus.COMPLETED or export.storage_key is None:
        raise Conflict(
            f"this export is {export.status}"
            + (f": {export.error_message}" if export.error_message else "; try again shortly"),
            export_id=str(export_id),
            status=export.status,
        )
    try:
        return export, storage.read(export.storage_key)
    except NotFound as exc:
        raise NotFound("the export's file is gone; create the export again") from exc


def _set(
    session: Session, export_id: uuid.UUID, org_id: uuid.UUID, when: str, **values: Any
) -> bool:
    result = cast(
        CursorResult[Any],
        session.execute(
            update(Export)
            .where(Export.id == export_id, Export.organization_id == org_id, Export.status == when)
            .values(**values, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        ),
    )
    return result.rowcount == 1


def run_export(
    services: ExportServices, *, export_id: str, user_id: str, transient: bool = False
) -> str:
    """The ``generate_export`` job: render and store the export; returns its status.
    An export of an organization ``user_id`` is no longer a member of, or one already
    done, does nothing (re-delivery safe)."""
    eid, user = uuid.UUID(export_id), uuid.UUID(user_id)
    with session_scope(services.sessions) as session:
        try:
            uid = org_service.export_scope(session, user, eid)  # the organization's id
            export = get_export(session, uid, eid)
        except NotFound:
            return "not_found"
        if export.status == ExportStatus.COMPLETED:
            return export.status
        if export.campaign_id is None:
            _fail(session, eid, uid, "the campaign was deleted")
            return ExportStatus.FAILED
        campaign_id, fmt, options = export.campaign_id, export.format, export.options
        _set(session, eid, uid, export.status, status=ExportStatus.PROCESSING)
    try:
        with services.sessions() as session:
            rendered = render(
                session, services.sessions, uid, campaign_id, fmt, ExportOptions(**options)
            )
            body = rendered.read()
        key = f"exports/{user}/{eid}/{rendered.filename}"
        size = services.storage.save(key, io.BytesIO(body))
    except (OperationalError, UpstreamUnavailable):
        if transient:
            with session_scope(services.sessions) as session:
                _set(session, eid, uid, ExportStatus.PROCESSING, status=ExportStatus.PENDING)
            raise
        logger.exception("export %s hit an outage", eid)
        return _fail_in_new_session(services, eid, uid, GENERIC_FAILURE)
    except CaliberError as exc:  # the campaign changed: re-scored, deleted, ...
        return _fail_in_new_session(services, eid, uid, exc.message)
    except Exception:
        logger.exception("export %s failed", eid)
        return _fail_in_new_session(services, eid, uid, GENERIC_FAILURE)
    with session_scope(services.sessions) as session:
        done = _set(
            session,
            eid,
            uid,
            ExportStatus.PROCESSING,
            status=ExportStatus.COMPLETED,
            storage_key=key,
            filename=rendered.filename,
            content_type=rendered.content_type,
            size_bytes=size,
            completed_at=utcnow(),
            error_message=None,
        )
    if not done:  # deleted meanwhile: do not leave the file behind
        services.storage.delete(key)
    return ExportStatus.COMPLETED if done else "discarded"


def _fail(session: Session, eid: uuid.UUID, uid: uuid.UUID, message: str) -> None:
    for status in (ExportStatus.PENDING, ExportStatus.PROCESSING):
        if _set(session, eid, uid, status, status=ExportStatus.FAILED, error_message=message):
            return


def _fail_in_new_session(
    services: ExportServices, eid: uuid.UUID, uid: uuid.UUID, message: str
) -> str:
    with session_scope(services.sessions) as session:
        _fail(session, eid, uid, message)
    return ExportStatus.FAILED


def delete_export(session: Session, org_id: uuid.UUID, export_id: uuid.UUID) -> str | None:
    """Delete the owner's export row; returns the storage key to remove after commit."""
    export = get_export(session, org_id, export_id)
    key = export.storage_key
    session.delete(export)
    session.flush()
    return key


def cleanup_old_exports(session: Session, *, older_than_hours: int) -> list[str]:
    """Delete exports older than the retention, and those whose campaign is gone; return
    their storage keys for the caller to remove after committing."""
    cutoff = utcnow() - timedelta(hours=older_than_hours)
    stale = or_(Export.created_at < cutoff, Export.campaign_id.is_(None))
    keys = [k for k in session.scalars(select(Export.storage_key).where(stale)) if k]
    session.execute(delete(Export).where(stale).execution_options(synchronize_session=False))
    return keys
