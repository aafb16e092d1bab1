"""Every query of organizations, memberships, invitations and the audit log, and the
one the policy asks: whether an object is an organization's."""

from __future__ import annotations

import uuid

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from caliber.db.models import (
    AuditEntry,
    Campaign,
    CampaignTemplate,
    Export,
    FileUpload,
    Invitation,
    Membership,
    Organization,
    Role,
    User,
)

Owned = type[Campaign] | type[CampaignTemplate] | type[FileUpload] | type[Export]


def belongs(session: Session, model: Owned, object_id: uuid.UUID, org_id: uuid.UUID) -> bool:
    """Whether ``object_id`` is a row of ``model`` in the organization ``org_id``."""
    found = session.scalar(
        select(model.id).where(model.id == object_id, model.organization_id == org_id)
    )
    return found is not None


def organization_of(session: Session, model: Owned, object_id: uuid.UUID) -> uuid.UUID | None:
    found: uuid.UUID | None = session.scalar(
        select(model.organization_id).where(model.id == object_id)
    )
    return found


# --- organizations and memberships


def personal_of(session: Session, user_id: uuid.UUID) -> Organization | None:
    return session.scalar(select(Organization).where(Organization.personal_user_id == user_id))


def add_organization(
    session: Session, name: str, owner_id: uuid.UUID, *, personal: bool = False
) -> Organization:
    """A new organization and its owner's membership (flushed)."""
    organization = Organization(name=name, personal_user_id=owner_id if personal else None)
    session.add(organization)
    session.flush()
    session.add(Membership(organization_id=organization.id, user_id=owner_id, role=Role.OWNER))
    session.flush()
    return organization


def personal_role(session: Session, user_id: uuid.UUID) -> tuple[uuid.UUID, str | None] | None:
    """The user's personal organization and their role in it (None: not a member), in
    one statement (it is read on every request: issue 19); None when they have none."""
    row = session.execute(
        select(Organization.id, Membership.role)
        .outerjoin(
            Membership,
            (Membership.organization_id == Organization.id) & (Membership.user_id == user_id),
        )
        .where(Organization.personal_user_id == user_id)
    ).first()
    return None if row is None else (row[0], row[1])


# built once: composing the statement's expressions cost more CPU than running it, and
# every request asks it (issue 19); the user's uid is its one parameter
_USER_WITH_PERSONAL_ROLE = (
    select(User, Organization.id, Membership.role)
    .outerjoin(Organization, Organization.personal_user_id == User.id)
    .outerjoin(
        Membership,
        (Membership.organization_id == Organization.id) & (Membership.user_id == User.id),
    )
    .where(User.firebase_uid == bindparam("firebase_uid"))
)


def user_with_personal_role(
    session: Session, firebase_uid: str
) -> tuple[User, uuid.UUID | None, str | None] | None:
    """The user signed in as ``firebase_uid``, their personal organization (None: they
    have none yet) and their role in it (None: not a member), in one statement: every
    request reads the user (a disabled account is refused at once) and, by default, the
    organization it acts in (a removed member is refused at once). None: no such user."""
    row = session.execute(_USER_WITH_PERSONAL_ROLE, {"firebase_uid": firebase_uid}).first()
    return None if row is None else (row[0], row[1], row[2])


def role_of(session: Session, org_id: uuid.UUID, user_id: uuid.UUID) -> str | None:
    found: str | None = session.scalar(
        select(Membership.role).where(
            Membership.organization_id == org_id, Membership.user_id == user_id
        )
    )
    return found


def with_roles(session: Session, user_id: uuid.UUID) -> list[tuple[Organization, str]]:
    """The user's organizations and their role in each, the personal one first."""
    rows = session.execute(
        select(Organization, Membership.role)
        .join(Membership, Membership.organization_id == Organization.id)
        .where(Membership.user_id == user_id)
        .order_by(Organization.personal_user_id.is_(None), Organization.created_at, Organization.id)
    ).all()
    return [(organization, role) for organization, role in rows]


def with_role(
    session: Session, user_id: uuid.UUID, org_id: uuid.UUID
) -> tuple[Organization, str] | None:
    row = session.execute(
        select(Organization, Membership.role)
        .join(Membership, Membership.organization_id == Organization.id)
        .where(Organization.id == org_id, Membership.user_id == user_id)
    ).first()
    return None if row is None else (row[0], row[1])


def members(session: Session, org_id: uuid.UUID) -> list[tuple[Membership, User]]:
    rows = session.execute(
        select(Membership, User)
        .join(User, User.id == Membership.user_id)
        .where(Membership.organization_id == org_id)
        .order_by(Membership.created_at, Membership.id)
    ).all()
    return [(membership, user) for membership, user in rows]


def membership(
    session: Session, org_id: uuid.UUID, user_id: uuid.UUID, *, for_update: bool = False
) -> Membership | None:
    query = select(Membership).where(
        Membership.organization_id == org_id, Membership.user_id == user_id
    )
    return session.scalar(query.with_for_update() if for_update else query)


def owners(session: Session, org_id: uuid.UUID) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(Membership)
            .where(Membership.organization_id == org_id, Membership.role == Role.OWNER)
        )
        or 0
    )


def has_member_with_email(session: Session, org_id: uuid.UUID, email: str) -> bool:
    """Whether a member's address is ``email`` (lower case; tokens carry it as typed)."""
    found = session.scalar(
        select(Membership.id)
        .join(User, User.id == Membership.user_id)
        .where(Membership.organization_id == org_id, func.lower(User.email) == email)
    )
    return found is not None


# --- invitations


def invitations(session: Session, org_id: uuid.UUID) -> list[Invitation]:
    return list(
        session.scalars(
            select(Invitation)
            .where(Invitation.organization_id == org_id)
            .order_by(Invitation.created_at.desc(), Invitation.id)
        ).all()
    )


def invitation_in(
    session: Session, org_id: uuid.UUID, invitation_id: uuid.UUID
) -> Invitation | None:
    return session.scalar(
        select(Invitation).where(
            Invitation.id == invitation_id, Invitation.organization_id == org_id
        )
    )


def invitation_for_update(session: Session, invitation_id: uuid.UUID) -> Invitation | None:
    return session.scalar(
        select(Invitation).where(Invitation.id == invitation_id).with_for_update()
    )


def newest_invitation(session: Session, org_id: uuid.UUID, email: str) -> uuid.UUID | None:
    found: uuid.UUID | None = session.scalar(
        select(Invitation.id)
        .where(Invitation.organization_id == org_id, Invitation.email == email)
        .order_by(Invitation.created_at.desc())
        .limit(1)
    )
    return found


# --- the audit log


def audit_page(
    session: Session, org_id: uuid.UUID, *, offset: int, limit: int
) -> tuple[list[AuditEntry], int]:
    where = AuditEntry.organization_id == org_id
    total = int(session.scalar(select(func.count()).select_from(AuditEntry).where(where)) or 0)
    rows = session.scalars(
        select(AuditEntry)
        .where(where)
        .order_by(AuditEntry.created_at.desc(), AuditEntry.id)
        .offset(offset)
        .limit(limit)
    ).all()
    return list(rows), total
