"""The scoring job: read the campaign's file, run the engine, store the result.

Idempotent: it acts only on a campaign of ``user_id`` that is ``processing``, and scores
the campaign's run in progress (recorded at start), so a redelivered or stale job does
nothing, or that run's work again. Each step is its own short transaction (this module
is the job's edge and owns them); the result frame is saved by
:mod:`caliber.scoring.saving` as the run's file and becomes the campaign's results, and
the campaign completed, in one short transaction at the end (until then, and if the run
fails, the previous results stay readable).

Steps (``current_step``): queued → loading_data → preprocessing → scoring → saving →
completed, or failed with a readable ``error_message``.
"""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from caliber.campaigns import repository as campaign_repository
from caliber.core.errors import CaliberError, NotFound, UpstreamUnavailable
from caliber.db.base import utcnow
from caliber.db.models import CampaignStatus
from caliber.db.session import session_scope
from caliber.engine import pipeline
from caliber.engine.config import Setup
from caliber.engine.errors import EngineError
from caliber.engine.options import ReadOptions
from caliber.orgs import service as org_service
from caliber.scoring import diff as scoring_diff
from caliber.scoring import frames, repository, saving
from caliber.scoring import service as scoring_service
from caliber.storage.base import Storage

logger = logging.getLogger(__name__)

GENERIC_FAILURE = (
    "scoring failed because of an internal error; try again, and contact support if it "
    "keeps failing"
)
MISSING_FILE = "the campaign's file is missing from storage; upload it again"
STEP_LOADING = "loading_data"
STEP_SAVING = saving.STEP_SAVING
# The engine's progress steps, as the campaign's current_step.
ENGINE_STEPS = {
    "reading": STEP_LOADING,
    "cleaning": "preprocessing",
    "scoring": "scoring",
    "lists": "scoring",
    "done": STEP_SAVING,
}
_ENGINE_START, _ENGINE_SPAN = 5, 80  # the engine's share of progress_percentage


class JobServices(Protocol):
    """What the job uses of the application container."""

    sessions: sessionmaker[Session]
    storage: Storage


@dataclass(frozen=True)
class JobInput:
    """What a claimed job needs outside the database: its run, the setup, the stored file
    and the reading choices resolved when the run started."""

    run_id: uuid.UUID
    setup: Setup
    storage_key: str
    filename: str
    options: ReadOptions = field(default_factory=ReadOptions)


def run_scoring_job(
    services: JobServices, *, campaign_id: str, user_id: str, transient: bool = False
) -> None:
    """Score campaign ``campaign_id`` for user ``user_id``, who started it (ids as strings:
    job arguments); nothing when they are no longer a member of its organization.

    With ``transient=True`` (a queue that retries), a database or storage outage is
    raised so the run is retried later, and the campaign stays processing meanwhile;
    otherwise it fails the campaign like any other error. Bad data never retries."""
    cid = uuid.UUID(campaign_id)
    with session_scope(services.sessions) as session:
        try:  # uid: the organization's id, which scopes every read and write below
            uid = org_service.campaign_scope(session, uuid.UUID(user_id), cid)
        except NotFound:
            uid = None
        job = None if uid is None else claim_job(session, uid, cid)
    if job is None or uid is None:
        logger.info("scoring job for campaign %s: nothing to do", cid)
        return
    try:
        try:
            data = services.storage.read(job.storage_key)
        except NotFound:
            _fail(services, uid, cid, MISSING_FILE)
            return

        def progress(step: str, fraction: float) -> None:
            share = round(max(0.0, min(1.0, fraction)) * _ENGINE_SPAN)
            _set_step(services, uid, cid, ENGINE_STEPS.get(step, "scoring"), _ENGINE_START + share)

        result = pipeline.score(
            data, job.setup, filename=job.filename, options=job.options, progress=progress
        )
        stored = save_result(services, uid, cid, job.run_id, result)
        if not stored:
            logger.info("campaign %s left processing during scoring; result discarded", cid)
        else:
            _notify_list_changes(services, uid, cid, job.run_id)
    except (OperationalError, UpstreamUnavailable):
        if transient:
            raise
        logger.exception("scoring job for campaign %s hit an outage", cid)
        _fail(services, uid, cid, GENERIC_FAILURE)
    except (EngineError, CaliberError) as exc:  # the file's problem, told to the user
        _fail(services, uid, cid, exc.message)
    except Exception:
        logger.exception("scoring job for campaign %s failed", cid)
        _fail(services, uid, cid, GENERIC_FAILURE)


def save_result(
    services: JobServices,
    org_id: uuid.UUID,
    campaign_id: uuid.UUID,
    run_id: uuid.UUID,
    result: pipeline.ScoringResult,
) -> bool:
    """Store ``result`` as run ``run_id``'s file and make it the campaign's results
    (False, nothing left, when the campaign is no longer processing)."""
    data = frames.to_parquet(frames.prepare(result.results, result.dimension))
    return saving.save_run(
        services.sessions, services.storage, org_id, campaign_id, run_id, data, completion(result)
    )


def _notify_list_changes(
    services: JobServices, org_id: uuid.UUID, campaign_id: uuid.UUID, run_id: uuid.UUID
) -> None:
    """Tell the user when the completed run changed the lists of the run before it
    (:func:`caliber.scoring.diff.notify_list_changes`). The run is already completed: a
    failure here is logged, never the run's."""
    try:
        with session_scope(services.sessions) as session:
            scoring_diff.notify_list_changes(session, org_id, campaign_id, run_id)
    except Exception:
        logger.warning("could not notify the list changes of run %s", run_id, exc_info=True)


def _set_step(
    services: JobServices, org_id: uuid.UUID, campaign_id: uuid.UUID, step: str, percentage: int
) -> None:
    with session_scope(services.sessions) as session:
        scoring_service.set_step(session, org_id, campaign_id, step, percentage)


def _fail(services: JobServices, org_id: uuid.UUID, campaign_id: uuid.UUID, message: str) -> None:
    with session_scope(services.sessions) as session:
        scoring_service.fail(session, org_id, campaign_id, message)


# --- the job's database side (the caller owns the transaction) ---------------------------


def claim_job(session: Session, org_id: uuid.UUID, campaign_id: uuid.UUID) -> JobInput | None:
    """What the job needs, or None when there is nothing to do (not the owner's, or not
    processing: a redelivered or stale job)."""
    try:
        campaign = campaign_repository.get_campaign(session, org_id, campaign_id)
    except NotFound:
        return None
    if campaign.status != CampaignStatus.PROCESSING:
        # its run was cancelled (or failed, or replaced) before this delivery: record why
        reason = campaign.error_message if campaign.status == CampaignStatus.FAILED else None
        repository.fail_processing_runs(session, [campaign_id], reason or scoring_service.STOPPED)
        return None
    # the file the run was started with, even if another was attached since
    file_id = (campaign.run_snapshot or {}).get("file_upload_id") or campaign.file_upload_id
    if file_id is None:
        scoring_service.fail(session, org_id, campaign_id, "no file is attached; upload one")
        return None
    try:
        upload = campaign_repository.get_file_upload(session, org_id, uuid.UUID(str(file_id)))
    except NotFound:
        scoring_service.fail(session, org_id, campaign_id, "the file was deleted; upload again")
        return None
    run = repository.current_run(session, campaign_id)
    if run is None:  # started before runs were recorded (a deploy mid-run): record it now
        run = repository.add_run(
            session,
            campaign_id,
            dict(campaign.run_snapshot or {}),
            upload.id,
            campaign.started_at or utcnow(),
        )
    scoring_service.set_step(session, org_id, campaign_id, STEP_LOADING, _ENGINE_START)
    setup = scoring_service.run_setup(campaign)
    options = scoring_service.run_options(campaign)
    return JobInput(run.id, setup, upload.storage_key, upload.original_filename, options)


def completion(result: pipeline.ScoringResult) -> dict[str, Any]:
    """What the campaign records of a successful run, beside its rows."""
    report = result.report
    return {
        "summary": json_safe(result.summary()),
        "campaign_level_score": result.campaign["campaign_level_score"],
        "data_quality_report": json_safe(report.to_dict()),
        "column_mapping_used": dict(report.column_mapping),
        "total_records": report.rows_read,
        "processed_records": report.rows_read,
    }


def json_safe(value: Any) -> Any:
    """``value`` with non-finite floats as None and dates as ISO strings (JSON columns)."""
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)
