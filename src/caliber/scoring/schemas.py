"""Request and response shapes of the scoring routes."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from caliber.campaigns.schemas import UTCDateTime
from caliber.db.models import CampaignStatus

ListType = Literal["whitelist", "blacklist"]


class StartScoring(BaseModel):
    model_config = ConfigDict(extra="forbid")

    campaign_id: uuid.UUID


class OptimizationListRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    campaign_id: uuid.UUID
    list_type: ListType
    # default: the min_impressions the run was scored with
    min_impressions: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    # default: the campaign's latest completed run
    run_id: uuid.UUID | None = None


class StartOut(BaseModel):
    campaign_id: uuid.UUID
    status: CampaignStatus
    job_id: str
    started_at: UTCDateTime | None
    config_used: dict[str, Any]


class ProgressOut(BaseModel):
    """The latest run's progress; ``completed_at`` is when the results the campaign holds
    were completed (a run in progress or failed leaves the previous ones)."""

    campaign_id: uuid.UUID
    status: CampaignStatus
    progress_percentage: int
    current_step: str | None
    total_records: int | None
    processed_records: int | None
    started_at: UTCDateTime | None
    completed_at: UTCDateTime | None
    error_message: str | None


class ResultsRunOut(BaseModel):
    """Which run the results of an answer come from (``run``, beside ``data``)."""

    run_id: uuid.UUID
    completed_at: UTCDateTime | None = Field(description="when that run completed")
    stale: bool = Field(
        description="the run is not the campaign's latest: an earlier run was asked for, "
        "or a later run is in progress, failed or was reset (these results are the last "
        "successful run's until another one succeeds)"
    )
    latest_status: CampaignStatus = Field(description="the status of the latest run")
    latest_error: str | None = Field(description="why the latest run failed, when it did")


class RunOut(BaseModel):
    """One scoring of a campaign (``GET /campaigns/{id}/runs``)."""

    id: uuid.UUID
    campaign_id: uuid.UUID
    status: Literal["processing", "completed", "failed"]
    started_at: UTCDateTime
    finished_at: UTCDateTime | None = Field(description="when it completed or failed")
    completed_at: UTCDateTime | None
    file_upload_id: uuid.UUID | None
    file_name: str | None
    campaign_level_score: float | None
    row_count: int | None
    whitelist_count: int | None
    blacklist_count: int | None
    error_message: str | None
    latest_results: bool = Field(
        description="the run the results routes read when no run_id is given"
    )


class ResultRow(BaseModel):
    """One scored domain (or supply vendor: ``domain`` holds the dimension value)."""

    rank: int
    domain: str
    impressions: int | float
    spend: float | None
    cpm: float | None
    ctr: float | None
    conversions: int | float | None
    conversion_rate: float | None
    score: float
    percentile_rank: int
    quality_status: str
    is_outlier: bool
    outlier_flags: list[str]
    raw_metrics: dict[str, float | None]
    normalized_metrics: dict[str, float | None]
    score_breakdown: dict[str, dict[str, Any]]
    source_rows: int | None
    # Issue 17: only the rows of a run scored with list_confidence carry these (a
    # classic run's rows answer without them, byte for byte as before)
    shrunk_score: float | None = Field(
        default=None, description="the score of the shrunk rates (confident runs only)"
    )
    score_low: float | None = Field(
        default=None,
        description="the score the row beats with the run's list_confidence (its 1 - L quantile)",
    )
    score_high: float | None = Field(
        default=None,
        description="the score the row stays under with the run's list_confidence (L quantile)",
    )
    decision: Literal["whitelist", "blacklist", "undecided"] | None = Field(
        default=None, description="the confident lists' decision for the row"
    )
    impressions_needed: int | None = Field(
        default=None,
        description="for an undecided row on one side of a list's bar: about how many more "
        "impressions at its current rates would decide it (null: decided, or never)",
    )
    shrunk_metrics: dict[str, float | None] | None = Field(
        default=None, description="each rate metric pulled towards the campaign's (posterior mean)"
    )


class ListEntry(BaseModel):
    domain: str
    score: float
    impressions: int | float
    percentile_rank: int
    quality_status: str


class OptimizationListOut(BaseModel):
    list_type: ListType
    campaign_id: uuid.UUID
    analysis_level: str
    domains: list[str]
    entries: list[ListEntry]
    count: int
    criteria_used: dict[str, Any]
    total_impressions: int | float
    average_score: float | None
