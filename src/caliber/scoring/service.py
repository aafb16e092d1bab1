"""Scoring rules: starting a run, the guarded status updates of a run, its progress and
the check reads of a campaign's latest results go through (:func:`completed_campaign`).
Never commits.

Every start records a run (``scoring_runs``, processing); the job completes it
(:mod:`caliber.scoring.saving`) or it fails (:func:`fail`, the watchdog). What is stored
is what the engine produced: its result frame (one file per run), its ``summary()``,
processing report and column mapping. Which run a read answers, and the marker saying
so: :mod:`caliber.scoring.runs`.
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
from caliber.engine.options import ReadOptions
from caliber.files import reading as file_reading
from caliber.scoring import repository
from caliber.storage.base import Storage

# A completed campaign may be scored again (its results are replaced when the new run
# succeeds); only a run in progress blocks a new one.
STARTABLE = frozenset({CampaignStatus.PENDING, CampaignStatus.FAILED, CampaignStatus.COMPLETED})
STEP_QUEUED = "queued"
STEP_FAILED = "failed"


# --- starting -------------------------------------------------------------------------


def preflight(
    session: Session, storage: Storage, org_id: uuid.UUID, campaign_id: uuid.UUID
) -> None:
    """Refuse to start a run the file cannot support (unreadable, no data rows, a column
    the setup needs is missing) with a 422 that says why; the campaign is unchanged.
    Reads the file's header and first rows only (issue 19): the run parses the whole
    file itself, and a row it cannot parse further down fails the run saying so."""
    campaign = campaign_repository.get_campaign(session, org_id, campaign_id)
    if campaign.file_upload_id is None or campaign.status not in STARTABLE:
        return  # start_scoring explains these
    try:
        verdict = file_reading.validate(
            session, storage, org_id, campaign.file_upload_id, campaign.id, count_rows=False
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


def start_scoring(session: Session, org_id: uuid.UUID, campaign_id: uuid.UUID) -> Campaign:
    """Validate and mark the campaign processing with a config snapshot. The caller
    commits, then enqueues the job."""
    campaign = campaign_repository.get_campaign_for_update(session, org_id, campaign_id)
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
    upload = campaign_repository.get_file_upload(session, org_id, campaign.file_upload_id)
    previous = campaign.error_message if campaign.status == CampaignStatus.FAILED else None
    setup = campaign_service.setup_of(campaign)  # the engine's 422 if it no longer resolves
    # the upload's reading choices, else the campaign's, else detection: fixed at start
    resolved = file_reading.reading_for(campaign, upload)
    snapshot = config_snapshot(setup, upload, resolved.options)
    # Guarded on the status read above, so two concurrent starts cannot both win (SQLite
    # has no row lock).
    result = cast(
        CursorResult[Any],
        session.execute(
            update(Campaign)
            .where(
                Campaign.id == campaign.id,
                Campaign.organization_id == org_id,
                Campaign.status == campaign.status,
            )
            .values(
                status=CampaignStatus.PROCESSING,
                progress_percentage=0,
                current_step=STEP_QUEUED,
                started_at=utcnow(),
                error_message=None,
                # the run's own setup and file; the results held so far (their snapshot,
                # summary, report and completion time) stay until this run succeeds
                run_snapshot=snapshot,
                total_records=None,
                processed_records=None,
                updated_at=utcnow(),
            )
            .execution_options(synchronize_session=False)
        ),
    )
    if result.rowcount != 1:
        raise Conflict("this campaign changed state meanwhile; try again")
    # a run still marked processing is one this campaign no longer runs (cancelled, or
    # its worker stopped): it failed, as the runs route already says
    repository.fail_processing_runs(session, [campaign.id], previous or STOPPED)
    session.refresh(campaign)
    assert campaign.started_at is not None
    repository.add_run(session, campaign.id, snapshot, upload.id, campaign.started_at)
    return campaign


def config_snapshot(
    setup: Setup, upload: FileUpload, options: ReadOptions | None = None
) -> dict[str, Any]:
    """The setup and weights a run uses, the file it reads and how (``read_options``:
    the choices resolved at start; what the engine detected is in its report)."""
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
        "read_options": (options or ReadOptions()).to_dict(),
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
    """The setup the campaign's results were produced with (its own setup before any)."""
    if campaign.config_snapshot and campaign.config_snapshot.get("setup"):
        return setup_from_snapshot(campaign.config_snapshot)
    return campaign_service.setup_of(campaign)


def run_setup(campaign: Campaign) -> Setup:
    """The setup the campaign's latest run was started with (what a job scores with)."""
    if campaign.run_snapshot:
        return setup_from_snapshot(campaign.run_snapshot)
    return campaign_service.setup_of(campaign)


def run_options(campaign: Campaign) -> ReadOptions:
    """The reading choices the campaign's latest run was started with (a run started
    before they existed: detect everything)."""
    return ReadOptions.from_dict((campaign.run_snapshot or {}).get("read_options"))


def fail(session: Session, org_id: uuid.UUID, campaign_id: uuid.UUID, message: str) -> bool:
    """processing → failed with ``message``, its run too; False (and nothing changed)
    otherwise."""
    failed = update_if_processing(
        session,
        org_id,
        campaign_id,
        status=CampaignStatus.FAILED,
        current_step=STEP_FAILED,
        error_message=message,
    )
    if failed:
        repository.fail_processing_runs(session, [campaign_id], message)
    return failed


STOPPED = "the run stopped before it finished (it was cancelled, or its worker stopped)"
STUCK_MESSAGE = (
    "scoring did not finish within {minutes} minutes; the worker running it may have "
    "stopped. Start scoring again."
)


def fail_stuck_campaigns(session: Session, *, older_than_seconds: int) -> int:
    """The watchdog: fail every campaign processing for longer than the time limit (a
    run whose worker died never comes back on its own). Returns how many it failed."""
    cutoff = utcnow() - timedelta(seconds=older_than_seconds)
    message = STUCK_MESSAGE.format(minutes=round(older_than_seconds / 60))
    stuck = [
        Campaign.status == CampaignStatus.PROCESSING,
        Campaign.started_at.is_not(None),
        Campaign.started_at < cutoff,
    ]
    ids = list(session.scalars(select(Campaign.id).where(*stuck)))
    if not ids:
        return 0
    result = cast(
        CursorResult[Any],
        session.execute(
            update(Campaign)
            .where(Campaign.id.in_(ids), *stuck)
            .values(
                status=CampaignStatus.FAILED,
                current_step=STEP_FAILED,
                error_message=message,
                updated_at=utcnow(),
            )
            .execution_options(synchronize_session=False)
        ),
    )
    failed = list(
        session.scalars(
            select(Campaign.id).where(
                Campaign.id.in_(ids), Campaign.status == CampaignStatus.FAILED
            )
        )
    )
    repository.fail_processing_runs(session, failed, message)
    return int(result.rowcount or 0)


def processing_runs(session: Session) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(campaign id, creator's id) of every campaign processing, oldest first (the job
    acts for its creator, while a member of the campaign's organization)."""
    rows = session.execute(
        select(Campaign.id, Campaign.owner_id)
        .where(Campaign.status == CampaignStatus.PROCESSING)
        .order_by(Campaign.started_at)
    )
    return [(row[0], row[1]) for row in rows]


def set_step(
    session: Session, org_id: uuid.UUID, campaign_id: uuid.UUID, step: str, percentage: int
) -> bool:
    return update_if_processing(
        session, org_id, campaign_id, current_step=step, progress_percentage=percentage
    )


def update_if_processing(
    session: Session, org_id: uuid.UUID, campaign_id: uuid.UUID, **values: Any
) -> bool:
    """Update the campaign only while it is processing (atomic on both backends)."""
    result = cast(
        CursorResult[Any],
        session.execute(
            update(Campaign)
            .where(
                Campaign.id == campaign_id,
                Campaign.organization_id == org_id,
                Campaign.status == CampaignStatus.PROCESSING,
            )
            .values(**values, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        ),
    )
    return result.rowcount == 1


# --- reads ----------------------------------------------------------------------------------


def get_progress(session: Session, org_id: uuid.UUID, campaign_id: uuid.UUID) -> Campaign:
    return campaign_repository.get_campaign(session, org_id, campaign_id)


def completed_campaign(session: Session, org_id: uuid.UUID, campaign_id: uuid.UUID) -> Campaign:
    """The owner's campaign if it holds results, those of its last successful run,
    whatever its latest run is doing (processing, failed); 409 if no run has succeeded
    yet. (Reads of a run's results go through :func:`caliber.scoring.runs.results_view`.)"""
    campaign = campaign_repository.get_campaign(session, org_id, campaign_id)
    if campaign.results_run_id is None or campaign.summary is None:
        raise Conflict(
            f"this campaign has no scoring results yet (status: {campaign.status}); "
            "start scoring and wait until it completes",
            campaign_id=str(campaign_id),
            status=campaign.status,
        )
    return campaign
