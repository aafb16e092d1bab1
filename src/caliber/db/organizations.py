"""Organizations and who belongs to them (issue 21): the tables ``db.models`` re-exports."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from caliber.db.base import Base, Timestamps, UTCDateTime, UUIDPrimaryKey, utcnow


class Organization(UUIDPrimaryKey, Timestamps, Base):
    """A team that owns campaigns, templates, uploads and exports (issue 21). Every user
    has a personal one (``personal_user_id``), made on first sign-in."""

    __tablename__ = "organizations"
    # a unique index, not a constraint: SQLite adds an index in place
    __table_args__ = (Index("uq_organizations_personal_user_id", "personal_user_id", unique=True),)

    name: Mapped[str] = mapped_column(String(200))
    # no ON DELETE action: see OrganizationOwned (users are never deleted); use_alter:
    # users.organization_id points back here, and the cycle would leave both unsorted
    personal_user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", use_alter=True)
    )


class Role(StrEnum):
    """A member's role, strongest first (``caliber.orgs.policy`` says what each may do)."""

    OWNER = "owner"
    ADMIN = "admin"
    ANALYST = "analyst"
    VIEWER = "viewer"


class Membership(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("organization_id", "user_id"),)

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE")
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(16))


class Invitation(UUIDPrimaryKey, Timestamps, Base):
    """An invitation to join with a role, accepted by whoever signs in with ``email``
    (verified); its id is the token the invitee is sent."""

    __tablename__ = "invitations"
    __table_args__ = (
        Index("ix_invitations_organization_created", "organization_id", "created_at"),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE")
    )
    email: Mapped[str] = mapped_column(String(320), index=True)
    role: Mapped[str] = mapped_column(String(16))
    invited_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    accepted_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )


class AuditEntry(UUIDPrimaryKey, Base):
    """Who did what to which object of an organization, and when."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_organization_created", "organization_id", "created_at"),)

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE")
    )
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OrganizationOwned:
    """The organization an object belongs to. NULL is never written: the column is
    nullable, and has no ON DELETE action, only because SQLite adds a column to a table
    other tables reference in place alone (copying the table would cascade its deletion
    to them), and reads back no action of a reference added so (migration 0009)."""

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id"), nullable=True, index=True
    )


class OrganizationStatistics(Base):
    """Dashboard figures per organization, recomputed hourly and after each run (a cache
    that every process shares, with or without Redis)."""

    __tablename__ = "organization_statistics"

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    figures: Mapped[dict[str, Any]] = mapped_column(JSON)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
