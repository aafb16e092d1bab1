"""The notification job body: tell the user a scoring run finished (or failed)."""

from __future__ import annotations

import uuid
from typing import Protocol

from sqlalchemy.orm import Session, sessionmaker

from caliber.core.errors import NotFound
from caliber.db.session import session_scope
from caliber.notifications import service
from caliber.orgs import service as org_service


class JobServices(Protocol):
    sessions: sessionmaker[Session]


def send_completion_notification(services: JobServices, *, campaign_id: str, user_id: str) -> bool:
    """Store the notification for the campaign's finished run (for its organization);
    False when there is nothing to send (running, ``user_id`` no longer a member of its
    organization, or already sent)."""
    try:
        with session_scope(services.sessions) as session:
            cid = uuid.UUID(campaign_id)
            org_id = org_service.campaign_scope(session, uuid.UUID(user_id), cid)
            sent = service.notify_scoring_finished(session, org_id, cid)
    except NotFound:
        return False
    return sent is not None
