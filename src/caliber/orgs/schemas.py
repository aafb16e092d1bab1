"""Request and answer shapes of the organization routes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    computed_field,
    field_validator,
)

from caliber.db.models import Role
from caliber.orgs import policy

OrganizationName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)
]


def _utc(value: datetime | None) -> datetime | None:
    """SQLite hands timestamps back naive; they were stored as UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


class OrganizationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: OrganizationName


class OrganizationOut(BaseModel):
    id: uuid.UUID
    name: str
    personal: bool = Field(description="the personal organization of the caller")
    role: Role = Field(description="the caller's role in it")
    created_at: datetime

    _as_utc = field_validator("created_at")(_utc)

    @computed_field(  # type: ignore[prop-decorator]
        description="what the caller's role may do here: read, work, ask_ai, "
        "manage_members, read_audit (orgs/policy.py)"
    )
    @property
    def permissions(self) -> list[str]:
        return policy.permissions(self.role)


class RoleChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role


class MemberOut(BaseModel):
    user_id: uuid.UUID
    email: str | None
    name: str | None
    role: Role
    joined_at: datetime

    _as_utc = field_validator("joined_at")(_utc)


class InvitationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    role: Role

    @field_validator("email")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.strip().lower()


class InvitationOut(BaseModel):
    """An invitation; its ``id`` is the token sent to the invitee, who accepts it with
    ``POST /organizations/invitations/{id}/accept`` once signed in with ``email``."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    organization_id: uuid.UUID
    email: str
    role: Role
    invited_by: uuid.UUID | None
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    accepted_at: datetime | None
    accepted_by: uuid.UUID | None

    _as_utc = field_validator("created_at", "expires_at", "revoked_at", "accepted_at")(_utc)


class AuditOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    actor_id: uuid.UUID | None
    action: str
    object_type: str
    object_id: str | None
    details: dict[str, Any]
    created_at: datetime

    _as_utc = field_validator("created_at")(_utc)
