"""Request and response shapes of the campaign and template routes.

Setup fields (platform, goal, channel, ...) are plain strings here: the engine's
:meth:`~caliber.engine.config.Setup.create` validates them, so the messages a client
sees are the engine's own (accepted values, supported channels, weight rules). The seed's
names are accepted too: ``campaign_type`` for ``platform``, and ``analysis_level``, which
must agree with the setup (the service checks it); responses carry both names. The
reading choices (number format, sheet, header row, column mapping) are
:mod:`caliber.campaigns.choices`.
"""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    Strict,
    StringConstraints,
    computed_field,
    model_validator,
)
from pydantic_core import PydanticCustomError

from caliber.campaigns.choices import ReadingFields, fields_of, loaded
from caliber.db.models import CampaignStatus
from caliber.engine.config import (
    MAX_LIST_CONFIDENCE,
    MIN_LIST_CONFIDENCE,
    Channel,
    Goal,
    Level,
    Platform,
    Setup,
)
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
CampaignTypeValue = Annotated[
    SetupValue,
    Field(
        json_schema_extra={"enum": [v.value for v in Platform]},
        description="the seed's name for `platform` (send either; both must agree)",
    ),
]
AnalysisLevelValue = Annotated[
    Level,
    Field(
        description="what the setup scores by (domain or supply_vendor): must agree with the "
        "setup, unless column_mapping maps the setup's dimension to another column"
    ),
]
# documented here, checked by the engine (its message names the value)
MinImpressions = Annotated[
    float,
    Field(
        json_schema_extra={"minimum": 0},
        description="rows with fewer impressions are not scored (>= 0; default 250)",
    ),
]


def _level(value: Any) -> Any:
    """A confidence level: a number from MIN to MAX (a bool or a string is not one); the
    422 says the range and what null means."""
    if value is None:
        return value
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not MIN_LIST_CONFIDENCE <= value <= MAX_LIST_CONFIDENCE
    ):
        raise PydanticCustomError(
            "list_confidence",
            "must be a level from {minimum} to {maximum} (0.8 recommended), or null for the "
            "classic lists; got {value}",
            {"minimum": MIN_LIST_CONFIDENCE, "maximum": MAX_LIST_CONFIDENCE, "value": repr(value)},
        )
    return float(value)


# Issue 17: checked here so the 422 names the field and the range before the engine runs
ListConfidence = Annotated[
    float,
    BeforeValidator(_level),
    Field(
        ge=MIN_LIST_CONFIDENCE,
        le=MAX_LIST_CONFIDENCE,
        description="lists of what the data can decide at this level (0.5 to 0.99; 0.8 "
        "recommended: a domain is listed only when Caliber is at least 80 % sure it belongs "
        "there); null: the classic lists",
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


class _SeedNames(BaseModel):
    """``campaign_type`` (the seed's name for ``platform``) and ``analysis_level``."""

    campaign_type: CampaignTypeValue | None = None
    analysis_level: AnalysisLevelValue | None = None

    @model_validator(mode="after")
    def _one_platform(self) -> _SeedNames:
        platform: str | None = getattr(self, "platform", None)
        if self.campaign_type is not None:
            if platform is not None and platform.lower() != self.campaign_type.lower():
                msg = (
                    f"campaign_type {self.campaign_type!r} and platform {platform!r} disagree; "
                    "send one of them (campaign_type is another name for platform)"
                )
                raise ValueError(msg)
            object.__setattr__(self, "platform", self.campaign_type)
            self.model_fields_set.add("platform")  # sent, under its other name
        return self


class ConfidenceUpdate(_Input):
    """The level of the lists (0.5 to 0.99), or null for the classic lists."""

    list_confidence: ListConfidence | None


class WeightsUpdate(_Input):
    """Custom weights for the setup's metrics (each >= 0, summing to 1), or null for the
    setup's defaults."""

    weights: Weights | None


class TemplateCreate(_Input, _SeedNames, ReadingFields):
    """A reusable scoring setup (``platform`` or ``campaign_type``) and reading choices."""

    name: Name
    description: Description | None = None
    platform: PlatformValue | None = None
    goal: GoalValue
    channel: ChannelValue
    ctr_sensitivity: bool = False
    min_impressions: MinImpressions = 250
    custom_weights: Weights | None = None
    list_confidence: ListConfidence | None = None

    @model_validator(mode="after")
    def _platform_given(self) -> TemplateCreate:
        if self.platform is None:
            msg = "platform (or campaign_type) is required"
            raise ValueError(msg)
        return self


SETUP_FIELDS = (
    "platform",
    "goal",
    "channel",
    "ctr_sensitivity",
    "min_impressions",
    "custom_weights",
    "list_confidence",
)
REQUIRED_WITHOUT_TEMPLATE = ("platform", "goal", "channel")
# fields whose null, sent beside template_id, replaces the template's value
NULLABLE_OVERRIDES = frozenset({"custom_weights", "list_confidence"})


class CampaignCreate(_Input, _SeedNames, ReadingFields):
    """A campaign from a template (setup and reading choices copied; fields given here
    override them) or from an explicit setup (platform, goal and channel then required;
    ``campaign_type`` may stand for platform)."""

    name: Name
    description: Description | None = None
    template_id: uuid.UUID | None = None
    platform: PlatformValue | None = None
    goal: GoalValue | None = None
    channel: ChannelValue | None = None
    ctr_sensitivity: bool | None = None
    min_impressions: MinImpressions | None = None
    custom_weights: Weights | None = None
    list_confidence: ListConfidence | None = None

    @model_validator(mode="after")
    def _setup_or_template(self) -> CampaignCreate:
        if self.template_id is None:
            missing = [f for f in REQUIRED_WITHOUT_TEMPLATE if getattr(self, f) is None]
            if missing:
                msg = "without template_id, the setup is required; missing: " + ", ".join(missing)
                raise ValueError(msg)
        return self

    def overrides(self) -> dict[str, Any]:
        """The setup fields the client sent (an explicit null custom_weights or
        list_confidence counts: the setup's default weights, the classic lists)."""
        sent = self.model_fields_set
        return {
            f: getattr(self, f)
            for f in SETUP_FIELDS
            if f in sent and (getattr(self, f) is not None or f in NULLABLE_OVERRIDES)
        }


class ReadingUpdate(_Input, ReadingFields):
    """A campaign's or template's reading choices, all at once: a field left out or null
    is detected from the file."""


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


def default_weights_of(
    platform: str, goal: str, channel: str, ctr_sensitivity: bool
) -> dict[str, float] | None:
    """The setup's metrics with their default weights, in the setup's order (None if it
    has no setup): what a weights editor starts from and resets to."""
    try:
        setup = Setup.create(platform, goal, channel, ctr_sensitivity=ctr_sensitivity)
        return dict(setup.resolve().weights)
    except EngineError:
        return None


def level_of(platform: str, goal: str, channel: str, ctr_sensitivity: bool) -> str | None:
    """``domain`` or ``supply_vendor``: what the setup scores (None if it has no setup)."""
    try:
        setup = Setup.create(platform, goal, channel, ctr_sensitivity=ctr_sensitivity)
        return str(setup.resolve().level)
    except EngineError:
        return None


class _Output(BaseModel):
    model_config = ConfigDict(from_attributes=True)


READING_OUT = ("number_format", "sheet", "header_row", "column_mapping")


class _SetupOut(_Output):
    platform: str
    goal: str
    channel: str
    ctr_sensitivity: bool
    min_impressions: float
    custom_weights: dict[str, float] | None
    list_confidence: float | None = Field(
        default=None,
        description="the level of the lists (0.5 to 0.99); null: the classic lists",
    )
    number_format: str = Field(description="auto (detected from the file), point or comma")
    sheet: int | str | None = Field(description="the sheet to read (null: detected)")
    header_row: int | None = Field(description="the header's 1-based line (null: detected)")
    column_mapping: dict[str, list[str]] = Field(
        description="the user's choice: standard input -> the header(s) it is read from"
    )

    @model_validator(mode="before")
    @classmethod
    def _reading_choices(cls, data: Any) -> Any:
        """A stored row's ``read_options`` as the four reading fields."""
        if isinstance(data, dict):
            return data
        values = {
            name: getattr(data, name)
            for name in cls.model_fields
            if name not in READING_OUT and hasattr(data, name)
        }
        values.update(fields_of(loaded(getattr(data, "read_options", None))))
        return values

    @computed_field  # type: ignore[prop-decorator]
    @property
    def campaign_type(self) -> str:
        """The seed's name for ``platform``."""
        return self.platform

    @computed_field  # type: ignore[prop-decorator]
    @property
    def analysis_level(self) -> str | None:
        return level_of(self.platform, self.goal, self.channel, self.ctr_sensitivity)

    @computed_field(  # type: ignore[prop-decorator]
        description="the setup's metrics and their default weights, in the setup's order"
    )
    @property
    def default_weights(self) -> dict[str, float] | None:
        return default_weights_of(self.platform, self.goal, self.channel, self.ctr_sensitivity)


class TemplateOut(_SetupOut):
    id: uuid.UUID
    name: str
    description: str | None
    created_at: UTCDateTime
    updated_at: UTCDateTime


class CampaignOut(_SetupOut):
    id: uuid.UUID
    owner_id: uuid.UUID  # who created it
    organization_id: uuid.UUID
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
    column_mapping_used: dict[str, Any] | None = Field(
        description="how the last successful run read the file's headers: header -> "
        "standard input (the processing report's column_mapping)"
    )
    data_quality_report: dict[str, Any] | None
