"""The audit log of an organization: who did what to which object, and when. The edge
that acts (a route) records, in the transaction that does the work."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from caliber.db.models import AuditEntry
from caliber.orgs import policy, repository
from caliber.orgs.policy import Member


def record(
    session: Session,
    member: Member,
    action: str,
    object_type: str,
    object_id: uuid.UUID | str | None,
    **details: Any,
) -> None:
    session.add(
        AuditEntry(
            organization_id=member.organization_id,
            actor_id=member.user_id,
            action=action,
            object_type=object_type,
            object_id=None if object_id is None else str(object_id),
            details=details,
        )
    )
    session.flush()


def page(
    session: Session, member: Member, *, page: int, per_page: int
) -> tuple[list[AuditEntry], int]:
    """The organization's entries, newest first (owners and admins)."""
    policy.require(member, policy.Action.READ_AUDIT)
    return repository.audit_page(
        session, member.organization_id, offset=(page - 1) * per_page, limit=per_page
    )
