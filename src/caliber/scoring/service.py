"""Scoring rules: starting a run, the guarded status updates of a run, its progress and
the completed-run check every read of its results goes through
(:mod:`caliber.scoring.results`). Never commits.

What is stored is what the engine produced: one row per result row in the engine's
order (``rank``), the engine's ``summary()``, its processing report and column mapping.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from caliber.campaigns import repository as campaign_repository
from caliber.campaigns import service as campaign_service
from caliber.core.errors import Conflict, InvalidInput, NotFound
from caliber.db.base import utcnow
from caliber.db.models import Campaign, CampaignStatus, FileUpload
from caliber.engine.config import Setup
from caliber.files import service as files_service
from caliber.storage.base import Storage

# A completed campaign may be scored again (its results are replaced when the new run
# succeeds); only a run in progress blocks a new one.
STARTABLE = frozenset({CampaignStatus.PENDING, CampaignStatus.FAILED, CampaignStatus.COMPLETED})
STEP_QUEUED = "queued"
STEP_FAILED = "failed"


# --- starting -------------------------------------------------------------------------


def preflight(
    session: Session, storage: Storage, owner_id: uuid.UUID, campaign_id: uuid.UUID
) -> None:
    """Refuse to start a run the file cannot support (unreadable, no data rows, a column
    the setup needs is missing) with a 422 that says why; the campaign is unchanged."""
    campaign = campaign_repository.get_campaign(session, owner_id, campaign_id)
    if campaign.file_upload_id is None or campaign.status not in STARTABLE:
        return  # start_scoring explains these
    try:
        verdict = files_service.validate(
            session, storage, owner_id, campaign.file_upload_id, campaign.id
        )
    except NotFound as exc:
        raise Conflict(
            "the stored contents of this campaign's file are missing; upload it again",
            campaign_id=str(campaign_id),
        ) from exc
    if not verdict["valid"]:
        raise InvalidInput(
            f"the file cannot be scored: {verdict['message']}",
            field="file",
            errors=verdict["errors"],
        )
    if verdict["row_count"] == 0:
        raise InvalidInput("the file cannot be scored: it has no data rows", field="file")


def start_scoring(session: Session, owner_id: uuid.UUID, campaign_id: uuid.UUID) -> Campaign:
    """Validate and mark the campaign processing with a config snapshot. The caller
    commits, then enqueues the job."""
    campaign = campaign_repository.get_campaign_for_update(session, owner_id, campaign_id)
    if campaign.file_upload_id is None:
        raise Conflict(
            "no file is attached to this campaign; upload a file first "
            f"(POST /campaigns/{campaign_id}/upload)",
            campaign_id=str(campaign_id),
        )
    if campaign.status not in STARTABLE:
        raise Conflict(
            f"this campaign is already {campaign.status}; wait for the run to finish",
            campaign_id=str(campaign_id),
            status=campaign.status,
        )
    upload = campaign_repository.get_file_upload(session, owner_id, campaign.file_upload_id)
    setup = campaign_service.setup_of(campaign)  # the engine's 422 if it no longer resolves
    snapshot = config_snapshot(setup, upload)
    # Guarded on the status read above, so two concurrent starts cannot both win (SQLite
    # has no row lock).
    result = cast(
        CursorResult[Any],
        session.execute(
            update(Campaign)
            .where(
                Campaign.id == campaign.id,
                Campaign.owner_id == owner_id,
                Campaign.status == campaign.status,
            )
            .values(
                status=CampaignStatus.PROCESSING,
                progress_percentage=0,
                current_step=STEP_QUEUED,
                started_at=utcnow(),
                completed_at=None,
                error_message=None,
                config_snapshot=snapshot,
                summary=None,
                campaign_level_score=None,
                data_quality_report=None,
                column_mapping=None,
                total_records=None,
                processed_records=None,
                updated_at=utcnow(),
            )
            .execution_options(synchronize_session=False)
        ),
    )
    if result.rowcount != 1:
        raise Conflict("this campaign changed state meanwhile; try again")
    session.refresh(campaign)
    return campaign


def config_snapshot(setup: Setup, upload: FileUpload) -> dict[str, Any]:
    """The setup and weights a run uses, and the file it reads."""
    resolved = setup.resolve()
    return {
        "setup": setup.to_dict(),
        "analysis_level": str(resolved.level),
        "weights": resolved.weights,
        "directions": {
            m.name: "higher_is_better" if m.higher_is_better else "lower_is_better"
            for m in resolved.metrics
        },
        "file_upload_id": str(upload.id),
        "original_filename": upload.original_filename,
    }


def setup_from_snapshot(snapshot: Mapping[str, Any]) -> Setup:
    values = snapshot["setup"]
    setup = campaign_service.build_setup(values)
    return dataclasses.replace(
        setup,
        pulsepoint_min_share=float(values.get("pulsepoint_min_share", setup.pulsepoint_min_share)),
        whitelist_quantile=float(values.get("whitelist_quantile", setup.whitelist_quantile)),
        blacklist_quantile=float(values.get("blacklist_quantile", setup.blacklist_quantile)),
    )


def campaign_setup(campaign: Campaign) -> Setup:
    """The setup the campaign's results were (or will be) produced with."""
    if campaign.config_snapshot:
        return setup_from_snapshot(campaign.config_snapshot)
    return campaign_service.setup_of(campaign)


def fail(session: Session, owner_id: uuid.UUID, campaign_id: uuid.UUID, message: str) -> bool:
    """processing → failed with ``message``; False (and nothing changed) otherwise."""
    return update_if_processing(
        session,
        owner_id,
        campaign_id,
        status=CampaignStatus.FAILED,
        current_step=STEP_FAILED,
        error_message=message,
    )


STUCK_MESSAGE = (
    "scoring did not finish within {minutes} minutes; the worker running it may have "
    "stopped. Start scoring again."
)


def fail_stuck_campaigns(session: Session, *, older_than_seconds: int) -> int:
    """The watchdog: fail every campaign processing for longer than the time limit (a
    run whose worker died never comes back on its own). Returns how many it failed."""
    cutoff = utcnow() - timedelta(seconds=older_than_seconds)
    message = STUCK_MESSAGE.format(minutes=round(older_than_seconds / 60))
    result = cast(
        CursorResult[Any],
        session.execute(
            update(Campaign)
            .where(
                Campaign.status == CampaignStatus.PROCESSING,
                Campaign.started_at.is_not(None),
                Campaign.started_at < cutoff,
            )
            .values(
                status=CampaignStatus.FAILED,
                current_step=STEP_FAILED,
                error_message=message,
                updated_at=utcnow(),
            )
            .execution_options(synchronize_session=False)
        ),
    )
    return int(result.rowcount or 0)


def processing_runs(session: Session) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(campaign id, owner id) of every campaign processing, oldest first."""
    rows = session.execute(
        select(Campaign.id, Campaign.owner_id)
        .where(Campaign.status == CampaignStatus.PROCESSING)
        .order_by(Campaign.started_at)
    )
    return [(row[0], row[1]) for row in rows]


def set_step(
    session: Session, owner_id: uuid.UUID, campaign_id: uuid.UUID, step: str, percentage: int
) -> bool:
    return update_if_processing(
        session, owner_id, campaign_id, current_step=step, progress_percentage=percentage
    )


def update_if_processing(
    session: Session, owner_id: uuid.UUID, campaign_id: uuid.UUID, **values: Any
) -> bool:
    """Update the campaign only while it is processing (atomic on both backends)."""
    result = cast(
        CursorResult[Any],
        session.execute(
            update(Campaign)
            .where(
                Campaign.id == campaign_id,
                Campaign.owner_id == owner_id,
                Campaign.status == CampaignStatus.PROCESSING,
            )
            .values(**values, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        ),
    )
    return result.rowcount == 1


# --- reads ----------------------------------------------------------------------------------


def get_progress(session: Session, owner_id: uuid.UUID, campaign_id: uuid.UUID) -> Campaign:
    return campaign_repository.get_campaign(session, owner_id, campaign_id)


def completed_campaign(session: Session, owner_id: uuid.UUID, campaign_id: uuid.UUID) -> Campaign:
    """The owner's campaign if its scoring completed; 409 otherwise."""
    campaign = campaign_repository.get_campaign(session, owner_id, campaign_id)
    if campaign.status != CampaignStatus.COMPLETED or campaign.summary is None:
        raise Conflict(
            f"this campaign has no scoring results yet (status: {campaign.status}); "
            "start scoring and wait until it completes",
            campaign_id=str(campaign_id),
            status=campaign.status,
        )
    return campaign
