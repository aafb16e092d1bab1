"""Request and response shapes of the campaign and template routes.

Setup fields (platform, goal, channel, ...) are plain strings here: the engine's
:meth:`~caliber.engine.config.Setup.create` validates them, so the messages a client
sees are the engine's own (accepted values, supported channels, weight rules).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    Strict,
    StringConstraints,
    computed_field,
    model_validator,
)

from caliber.db.models import CampaignStatus
from caliber.engine.config import Channel, Goal, Platform, Setup
from caliber.engine.errors import EngineError

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Description = Annotated[str, StringConstraints(max_length=2000)]
SetupValue = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)]


def _documented(values: type[StrEnum], what: str) -> Any:
    """A setup value, its accepted values in the OpenAPI document (the engine checks
    them, case-insensitively, so a 422 names every accepted one and the supported
    combinations)."""
    accepted: list[JsonValue] = [v.value for v in values]
    return Field(
        json_schema_extra={"enum": accepted},
        description=f"the {what}: one of {', '.join(v.value for v in values)} (not every "
        "combination exists: `caliber configs` lists them, and a 422 names them)",
    )


PlatformValue = Annotated[SetupValue, _documented(Platform, "platform")]
GoalValue = Annotated[SetupValue, _documented(Goal, "campaign goal")]
ChannelValue = Annotated[SetupValue, _documented(Channel, "channel")]
# documented here, checked by the engine (its message names the value)
MinImpressions = Annotated[
    float,
    Field(
        json_schema_extra={"minimum": 0},
        description="rows with fewer impressions are not scored (>= 0; default 250)",
    ),
]
# Strict: ``true`` or ``"0.5"`` are not weights; the engine checks names, signs and the sum.
Weights = Annotated[
    dict[Annotated[str, StringConstraints(max_length=64)], Annotated[float, Strict()]],
    Field(max_length=32),
]


def _utc(value: datetime) -> datetime:
    """Timestamps in UTC; SQLite hands them back without their zone (they are UTC)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


UTCDateTime = Annotated[datetime, AfterValidator(_utc)]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WeightsUpdate(_Input):
    """Custom weights for the setup's metrics (each >= 0, summing to 1), or null for the
    setup's defaults."""

    weights: Weights | None


class TemplateCreate(_Input):
    """A reusable scoring setup."""

    name: Name
    description: Description | None = None
    platform: PlatformValue
    goal: GoalValue
    channel: ChannelValue
    ctr_sensitivity: bool = False
    min_impressions: MinImpressions = 250
    custom_weights: Weights | None = None


SETUP_FIELDS = (
    "platform",
    "goal",
    "channel",
    "ctr_sensitivity",
    "min_impressions",
    "custom_weights",
)
REQUIRED_WITHOUT_TEMPLATE = ("platform", "goal", "channel")


class CampaignCreate(_Input):
    """A campaign from a template (setup copied; fields given here override it) or from
    an explicit setup (platform, goal and channel then required)."""

    name: Name
    description: Description | None = None
    template_id: uuid.UUID | None = None
    platform: PlatformValue | None = None
    goal: GoalValue | None = None
    channel: ChannelValue | None = None
    ctr_sensitivity: bool | None = None
    min_impressions: MinImpressions | None = None
    custom_weights: Weights | None = None

    @model_validator(mode="after")
    def _setup_or_template(self) -> CampaignCreate:
        if self.template_id is None:
            missing = [f for f in REQUIRED_WITHOUT_TEMPLATE if getattr(self, f) is None]
            if missing:
                msg = "without template_id, the setup is required; missing: " + ", ".join(missing)
                raise ValueError(msg)
        return self

    def overrides(self) -> dict[str, Any]:
        """The setup fields the client sent (an explicit null custom_weights counts:
        it means the setup's default weights)."""
        sent = self.model_fields_set
        return {
            f: getattr(self, f)
            for f in SETUP_FIELDS
            if f in sent and (getattr(self, f) is not None or f == "custom_weights")
        }


class StatusUpdate(_Input):
    """A client's status change: cancel a run in progress (processing → failed) or reset
    a failed campaign (failed → pending). Runs start with ``POST /scoring/start`` and
    only a run completes a campaign; any other change is a 422 naming the allowed ones."""

    status: CampaignStatus
    error_message: Annotated[str, StringConstraints(max_length=2000)] | None = None


class ProgressUpdate(_Input):
    processed_records: int = Field(ge=0)
    total_records: int | None = Field(default=None, ge=0)
    progress_percentage: int | None = Field(default=None, ge=0, le=100)
    current_step: Annotated[str, StringConstraints(min_length=1, max_length=32)] | None = None

    @model_validator(mode="after")
    def _processed_within_total(self) -> ProgressUpdate:
        if self.total_records is not None and self.processed_records > self.total_records:
            msg = "processed_records must not exceed total_records"
            raise ValueError(msg)
        return self


def level_of(platform: str, goal: str, channel: str, ctr_sensitivity: bool) -> str | None:
    """``domain`` or ``supply_vendor``: what the setup scores (None if it has no setup)."""
    try:
        setup = Setup.create(platform, goal, channel, ctr_sensitivity=ctr_sensitivity)
        return str(setup.resolve().level)
    except EngineError:
        return None


class _Output(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class _SetupOut(_Output):
    platform: str
    goal: str
    channel: str
    ctr_sensitivity: bool
    min_impressions: float
    custom_weights: dict[str, float] | None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def analysis_level(self) -> str | None:
        return level_of(self.platform, self.goal, self.channel, self.ctr_sensitivity)


class TemplateOut(_SetupOut):
    id: uuid.UUID
    name: str
    description: str | None
    created_at: UTCDateTime
    updated_at: UTCDateTime


class CampaignOut(_SetupOut):
    id: uuid.UUID
    owner_id: uuid.UUID
    template_id: uuid.UUID | None
    name: str
    description: str | None
    status: CampaignStatus
    progress_percentage: int
    current_step: str | None
    total_records: int | None
    processed_records: int | None
    error_message: str | None
    file_upload_id: uuid.UUID | None
    campaign_level_score: float | None
    started_at: UTCDateTime | None
    completed_at: UTCDateTime | None
    created_at: UTCDateTime
    updated_at: UTCDateTime


class CampaignDetail(CampaignOut):
    """One campaign with what its last scoring run recorded."""

    config_snapshot: dict[str, Any] | None
    column_mapping: dict[str, Any] | None
    data_quality_report: dict[str, Any] | None
