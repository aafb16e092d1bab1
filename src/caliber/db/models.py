"""The data model (``architecture.md``): every table of the service."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from caliber.db.base import Base, Timestamps, UTCDateTime, UUIDPrimaryKey, utcnow
from caliber.db.organizations import (
    AuditEntry,
    Invitation,
    Membership,
    Organization,
    OrganizationOwned,
    OrganizationStatistics,
    Role,
)


class CampaignStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"


class User(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "users"

    firebase_uid: Mapped[str] = mapped_column(String(128), unique=True)
    email: Mapped[str | None] = mapped_column(String(320), unique=True)
    name: Mapped[str | None] = mapped_column(String(200))
    organization_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="SET NULL"), index=True
    )
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ScoringSetupColumns:
    """The scoring setup a template holds and a campaign copies (see engine Setup)."""

    platform: Mapped[str] = mapped_column(String(32))
    goal: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(32))
    ctr_sensitivity: Mapped[bool] = mapped_column(Boolean, default=False)
    min_impressions: Mapped[float] = mapped_column(Float, default=250)
    custom_weights: Mapped[dict[str, float] | None] = mapped_column(JSON)
    # issue 17: NULL, the classic lists; a level in [0.5, 0.99], the lists of what the
    # data can decide at that level (engine Setup.list_confidence)
    list_confidence: Mapped[float | None] = mapped_column(Float)
    # how the file is read (issue 16): the engine's ReadOptions.to_dict(), NULL: detect
    read_options: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class CampaignTemplate(UUIDPrimaryKey, OrganizationOwned, Timestamps, ScoringSetupColumns, Base):
    __tablename__ = "campaign_templates"

    owner_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)


class FileUpload(UUIDPrimaryKey, OrganizationOwned, Timestamps, Base):
    """An uploaded export. A campaign points at the file it scores (campaigns.file_upload_id)."""

    __tablename__ = "file_uploads"

    owner_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    original_filename: Mapped[str] = mapped_column(String(255))
    storage_key: Mapped[str] = mapped_column(String(255), unique=True)
    content_type: Mapped[str | None] = mapped_column(String(100))
    file_format: Mapped[str] = mapped_column(String(16))
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    # reading choices sent with the upload (ReadOptions.to_dict(), NULL: none); each one
    # given wins over the campaign's for this file
    read_options: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class Campaign(UUIDPrimaryKey, OrganizationOwned, Timestamps, ScoringSetupColumns, Base):
    """A campaign, its latest scoring run, and the results routes read by default.

    Every scoring is a :class:`ScoringRun`. The campaign keeps the latest run's state
    (``status``, ``progress_percentage``, ``current_step``, ``started_at``,
    ``error_message``, ``total_records``, ``processed_records``, ``run_snapshot``: the
    setup and file it scores) and points at its latest completed run (``results_run_id``),
    whose ``completed_at``, ``config_snapshot``, ``summary``, ``campaign_level_score``,
    ``data_quality_report`` and ``column_mapping_used`` it copies: a run that is in
    progress or failed leaves the previous results readable until another one succeeds.
    ``read_options`` (with the setup) is the user's choice of how to read the next file;
    ``column_mapping_used`` is how a run read the headers (header -> standard input).
    """

    __tablename__ = "campaigns"
    __table_args__ = (Index("ix_campaigns_owner_status", "owner_id", "status", "created_at"),)

    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    template_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("campaign_templates.id", ondelete="RESTRICT"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=CampaignStatus.PENDING)
    progress_percentage: Mapped[int] = mapped_column(Integer, default=0)
    current_step: Mapped[str | None] = mapped_column(String(32))
    total_records: Mapped[int | None] = mapped_column(Integer)
    processed_records: Mapped[int | None] = mapped_column(Integer)
    error_message: Mapped[str | None] = mapped_column(Text)
    file_upload_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("file_uploads.id", ondelete="SET NULL"), index=True
    )
    run_snapshot: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    results_run_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    config_snapshot: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    data_quality_report: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    column_mapping_used: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    campaign_level_score: Mapped[float | None] = mapped_column(Float)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    file_upload: Mapped[FileUpload | None] = relationship(foreign_keys=[file_upload_id])


class RunStatus(StrEnum):
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"


class ScoringRun(UUIDPrimaryKey, Timestamps, Base):
    """One scoring of a campaign: the file, setup, weights and reading choices it used
    (``snapshot``), when it ran, how it ended, its summary, processing report and list
    sizes, and where its result rows are: one Parquet file in the storage backend
    (``storage_key``, :mod:`caliber.scoring.store`), or, for a run the migration to
    runs kept (``storage_key`` NULL), the ``scoring_results`` rows of its id.

    Owned through its campaign (every read joins it); when the campaign is deleted the
    run stays (``campaign_id`` NULL) until the retention task removes it and its file.
    """

    __tablename__ = "scoring_runs"
    __table_args__ = (Index("ix_scoring_runs_campaign_started", "campaign_id", "started_at"),)

    campaign_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("campaigns.id", ondelete="SET NULL")
    )
    status: Mapped[str] = mapped_column(String(16), default=RunStatus.PROCESSING)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # completed or failed
    file_upload_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("file_uploads.id", ondelete="SET NULL"), index=True
    )
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSON)
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    report: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    column_mapping_used: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    campaign_level_score: Mapped[float | None] = mapped_column(Float)
    row_count: Mapped[int | None] = mapped_column(Integer)
    whitelist_count: Mapped[int | None] = mapped_column(Integer)
    blacklist_count: Mapped[int | None] = mapped_column(Integer)
    error_message: Mapped[str | None] = mapped_column(Text)
    storage_key: Mapped[str | None] = mapped_column(String(255))
    stored_bytes: Mapped[int | None] = mapped_column(BigInteger)


class ScoringResult(UUIDPrimaryKey, Base):
    """The SQL row layout of results, kept for the runs stored that way before runs
    became files (:mod:`caliber.scoring.legacy`): one row per run and domain / supply
    vendor. New runs never write here; the retention task moves these runs to files."""

    __tablename__ = "scoring_results"
    __table_args__ = (
        UniqueConstraint("run_id", "domain"),
        # result pages: filter by status, sort by score / impressions; rank (unique per
        # run) is the tiebreak, so every page is an index range
        Index("ix_scoring_results_status_score", "run_id", "quality_status", "score", "rank"),
        Index("ix_scoring_results_score", "run_id", "score", "rank"),
        Index("ix_scoring_results_impressions", "run_id", "impressions", "rank"),
        UniqueConstraint("run_id", "rank"),
        # the campaign's runs: removing replaced and abandoned ones, ON DELETE CASCADE
        Index("ix_scoring_results_campaign_run", "campaign_id", "run_id"),
    )

    campaign_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    run_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    rank: Mapped[int] = mapped_column(Integer)  # 1 = best, the engine's result order
    domain: Mapped[str] = mapped_column(String(512))
    impressions: Mapped[float] = mapped_column(Float)
    spend: Mapped[float | None] = mapped_column(Float)
    cpm: Mapped[float | None] = mapped_column(Float)
    ctr: Mapped[float | None] = mapped_column(Float)
    conversions: Mapped[float | None] = mapped_column(Float)
    conversion_rate: Mapped[float | None] = mapped_column(Float)
    score: Mapped[float] = mapped_column(Float)
    percentile_rank: Mapped[int] = mapped_column(Integer)
    quality_status: Mapped[str] = mapped_column(String(16))
    is_outlier: Mapped[bool] = mapped_column(Boolean, default=False)
    outlier_flags: Mapped[list[str]] = mapped_column(JSON, default=list)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # value, normalized
    score_breakdown: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class AIInsight(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "ai_insights"
    __table_args__ = (Index("ix_ai_insights_campaign_type", "campaign_id", "insight_type"),)

    owner_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    campaign_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE")
    )
    insight_type: Mapped[str] = mapped_column(String(64))
    context_hash: Mapped[str | None] = mapped_column(String(64))
    provider: Mapped[str | None] = mapped_column(String(32))
    content: Mapped[str] = mapped_column(Text)
    extra: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class AIUsage(UUIDPrimaryKey, Base):
    """One call to the analyst's provider (or a cache hit): who, what for, tokens used."""

    __tablename__ = "ai_usage"
    __table_args__ = (Index("ix_ai_usage_owner_created", "owner_id", "created_at"),)

    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    campaign_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("campaigns.id", ondelete="SET NULL")
    )
    purpose: Mapped[str] = mapped_column(String(64))
    provider: Mapped[str] = mapped_column(String(32))
    model: Mapped[str] = mapped_column(String(128))
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cached: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ChatConversation(Timestamps, Base):
    """Conversation ids are ``<user id>:<campaign id>`` or ``<user id>:general``."""

    __tablename__ = "chat_conversations"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    owner_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    campaign_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), index=True
    )


class ChatMessage(UUIDPrimaryKey, Base):
    __tablename__ = "chat_messages"
    __table_args__ = (Index("ix_chat_messages_conversation", "conversation_id", "created_at"),)

    conversation_id: Mapped[str] = mapped_column(
        ForeignKey("chat_conversations.id", ondelete="CASCADE")
    )
    role: Mapped[str] = mapped_column(String(16))
    content: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Notification(UUIDPrimaryKey, OrganizationOwned, Base):
    """A message for a user (e.g. a scoring run finished), stored so they can read it."""

    __tablename__ = "notifications"
    __table_args__ = (
        # one notification per run and kind: a re-delivered task does not repeat it
        UniqueConstraint("campaign_id", "kind", "run_key"),
        Index("ix_notifications_owner_created", "owner_id", "created_at"),
    )

    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    campaign_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(String(32))
    run_key: Mapped[str] = mapped_column(String(64), default="")
    title: Mapped[str] = mapped_column(String(200))
    message: Mapped[str] = mapped_column(Text)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ExportStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"


class Export(UUIDPrimaryKey, OrganizationOwned, Timestamps, Base):
    """A report rendered in the background (``POST /reports/exports``) and its file."""

    __tablename__ = "exports"
    __table_args__ = (Index("ix_exports_owner_created", "owner_id", "created_at"),)

    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # kept (NULL) when the campaign is deleted, so the cleanup task still finds the file
    campaign_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("campaigns.id", ondelete="SET NULL"), index=True
    )
    format: Mapped[str] = mapped_column(String(32))
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default=ExportStatus.PENDING)
    storage_key: Mapped[str | None] = mapped_column(String(255))
    filename: Mapped[str | None] = mapped_column(String(255))
    content_type: Mapped[str | None] = mapped_column(String(100))
    size_bytes: Mapped[int | None] = mapped_column(Integer)
    error_message: Mapped[str | None] = mapped_column(Text)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


__all__ = [
    "AIInsight",
    "AIUsage",
    "AuditEntry",
    "Campaign",
    "CampaignStatus",
    "CampaignTemplate",
    "ChatConversation",
    "ChatMessage",
    "Export",
    "ExportStatus",
    "FileUpload",
    "Invitation",
    "Membership",
    "Notification",
    "Organization",
    "OrganizationOwned",
    "OrganizationStatistics",
    "Role",
    "RunStatus",
    "ScoringResult",
    "ScoringRun",
    "User",
]
