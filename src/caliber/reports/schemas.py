"""Request and response shapes of the export routes."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from caliber.campaigns.schemas import UTCDateTime
from caliber.reports.service import ExportFormat, ExportOptions


class ExportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    campaign_id: uuid.UUID
    format: ExportFormat
    options: ExportOptions = Field(default_factory=ExportOptions)


class ExportOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    campaign_id: uuid.UUID | None
    format: str
    options: dict[str, Any]
    status: str
    filename: str | None
    content_type: str | None
    size_bytes: int | None
    error_message: str | None
    created_at: UTCDateTime
    completed_at: UTCDateTime | None
