"""What the file routes accept and answer (the storage key is never shown)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

from caliber.campaigns import choices
from caliber.db.models import FileUpload


class FileOut(BaseModel):
    """An uploaded file's metadata."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    original_filename: str
    file_format: str
    size_bytes: int
    sha256: str
    content_type: str | None
    created_at: datetime

    @field_validator("created_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        # SQLite hands back naive datetimes; every timestamp we write is UTC
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def file_json(record: FileUpload, **extra: Any) -> dict[str, Any]:
    """The file as JSON with the reading choices sent with it (``number_format``,
    ``sheet``, ``header_row``, ``column_mapping``), plus ``extra`` keys (e.g. the campaign
    it was assigned to)."""
    reading = choices.fields_of(choices.loaded(record.read_options))
    return {**FileOut.model_validate(record).model_dump(mode="json"), **reading, **extra}


class AssignCampaign(BaseModel):
    """Body of ``POST /reports/files/{id}/assign-campaign``."""

    model_config = ConfigDict(extra="forbid")

    campaign_id: uuid.UUID
