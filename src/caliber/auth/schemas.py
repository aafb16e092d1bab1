"""Request and response shapes of the auth routes (``api.md``)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

MAX_TOKEN_LENGTH = 16_384  # Firebase ID tokens are ~1 KB; anything far larger is not one


class LoginRequest(BaseModel):
    """``POST /auth/login``: a Firebase ID token, obtained by the client from Firebase."""

    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=1, max_length=MAX_TOKEN_LENGTH)


DisplayName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class ProfileUpdate(BaseModel):
    """``PUT /auth/profile``: the display name, trimmed, 1–200 characters."""

    model_config = ConfigDict(extra="forbid")

    name: DisplayName


class UserCreate(BaseModel):
    """``POST /auth/register`` (the seed's UserCreate): who the token says the caller is,
    and optionally an organization to join through an invitation to that email."""

    model_config = ConfigDict(extra="forbid")

    firebase_uid: str = Field(min_length=1, max_length=128)
    email: str = Field(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
    name: DisplayName | None = None
    organization_id: uuid.UUID | None = None


class UserOut(BaseModel):
    """A user as the API shows it; timestamps are timezone-aware UTC."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str | None
    name: str | None
    firebase_uid: str
    is_active: bool
    created_at: datetime
    last_login_at: datetime | None

    @field_validator("created_at", "last_login_at")
    @classmethod
    def _as_utc(cls, value: datetime | None) -> datetime | None:
        """SQLite hands timestamps back naive; they were stored as UTC."""
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value
