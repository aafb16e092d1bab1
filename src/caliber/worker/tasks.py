"""Celery tasks: thin wrappers (ids in) around the services, which do the work.

Each worker process builds its own database engine and storage from settings on first
use (after the fork, never at import).
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

from celery.signals import (
    setup_logging,
    task_failure,
    task_postrun,
    task_prerun,
    worker_process_init,
    worker_ready,
)
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from caliber.campaigns import statistics
from caliber.core.errors import Conflict, NotFound, UpstreamUnavailable
from caliber.core.logging import configure_logging, task_id_var
from caliber.core.settings import get_settings
from caliber.db.session import build_engine, session_factory, session_scope
from caliber.files import reading as file_reading
from caliber.files import service as files_service
from caliber.jobs import names
from caliber.jobs.broker import is_embedded
from caliber.jobs.celery_app import app, time_limits
from caliber.notifications.jobs import send_completion_notification
from caliber.orgs import service as org_service
from caliber.reports import exports
from caliber.scoring import lists as scoring_lists
from caliber.scoring import retention, store
from caliber.scoring import service as scoring_service
from caliber.scoring.jobs import json_safe, run_scoring_job
from caliber.storage.base import Storage
from caliber.storage.factory import build_storage

logger = logging.getLogger(__name__)


@dataclass
class WorkerServices:
    sessions: sessionmaker[Session]
    storage: Storage


_services: WorkerServices | None = None


def services() -> WorkerServices:
    """This process's database sessions and storage, built on first use."""
    global _services  # noqa: PLW0603 - one set per worker process
    if _services is None:
        settings = get_settings()
        engine = build_engine(settings.database_url)
        storage = build_storage(settings)
        store.attach(engine, storage)  # reads of run files through these sessions
        _services = WorkerServices(sessions=session_factory(engine), storage=storage)
    return _services


def _reset_after_fork(**_: Any) -> None:
    global _services  # noqa: PLW0603
    _services = None  # a forked child must not share its parent's connections


worker_process_init.connect(_reset_after_fork)


def _log_failure(
    sender: Any = None,
    task_id: str | None = None,
    exception: Any = None,
    einfo: Any = None,
    **_: Any,
) -> None:
    logger.error(
        "task %s (%s) failed: %r\n%s",
        task_id,
        getattr(sender, "name", sender),
        exception,
        einfo,
    )


task_failure.connect(_log_failure)


def _task_started(task_id: str | None = None, **_: Any) -> None:
    task_id_var.set(task_id)  # every log line of the task carries its id


def _task_finished(**_: Any) -> None:
    task_id_var.set(None)


def _setup_logging(loglevel: Any = None, logfile: str | None = None, **_: Any) -> None:
    """Caliber's handler (ids, JSON lines in production) instead of Celery's, writing to
    --logfile when one is given (as Celery's own would)."""
    settings = get_settings()
    configure_logging(settings.LOG_LEVEL, json_lines=settings.json_logs, logfile=logfile)


setup_logging.connect(_setup_logging)
task_prerun.connect(_task_started)
task_postrun.connect(_task_finished)


def resend_processing_runs(svc: WorkerServices) -> int:
    """Send a scoring task again for every campaign still processing. Used by the embedded
    worker when it starts: the filesystem broker drops a message once it is fetched, so a
    run that was in flight when the worker died exists only as a processing campaign.
    A run whose message is still queued runs twice at worst: the second finds it
    completed (or discards its result), so there is still exactly one set of results."""
    with svc.sessions() as session:
        runs = scoring_service.processing_runs(session)
    for campaign_id, owner_id in runs:
        app.send_task(
            names.SCORE_CAMPAIGN,
            kwargs={"campaign_id": str(campaign_id), "user_id": str(owner_id)},
        )
    if runs:
        logger.warning("embedded worker: re-sent %d scoring run(s) left processing", len(runs))
    return len(runs)


def _recover_on_start(**_: Any) -> None:
    settings = get_settings()
    if not is_embedded(settings):
        return  # Redis re-delivers unacknowledged tasks itself
    engine = build_engine(settings.database_url)
    try:
        resend_processing_runs(WorkerServices(session_factory(engine), build_storage(settings)))
    except Exception as exc:  # e.g. the database is not migrated yet: nothing to resend
        logger.warning("embedded worker: could not look for runs left processing: %s", exc)
    finally:
        engine.dispose()


worker_ready.connect(_recover_on_start)


def _process_campaign_scoring(task: Any, campaign_id: str, user_id: str) -> None:
    try:
        run_scoring_job(services(), campaign_id=campaign_id, user_id=user_id, transient=True)
    except (OperationalError, UpstreamUnavailable) as exc:
        # the database or storage hiccuped: try again later; bad data never gets here
        raise task.retry(exc=exc, countdown=60 * (2**task.request.retries)) from exc
    app.send_task(
        names.SEND_COMPLETION_NOTIFICATION,
        kwargs={"campaign_id": campaign_id, "user_id": user_id},
    )


process_campaign_scoring = app.task(
    name=names.SCORE_CAMPAIGN,
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=3,
    default_retry_delay=60,
    # No rate limit: the worker's processes already bound how many runs score at once,
    # and a per-worker token bucket (it was 60/m) only held a run back up to a second
    # behind the previous one's start, however idle the worker (issue 19).
)(_process_campaign_scoring)


def _health_check() -> dict[str, Any]:
    started = time.perf_counter()
    checks: dict[str, str] = {}
    with services().sessions() as session:
        session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    services().storage.ping()
    checks["storage"] = "ok"
    return {"checks": checks, "seconds": round(time.perf_counter() - started, 4)}


health_check = app.task(name=names.HEALTH_CHECK, rate_limit="30/m")(_health_check)


def _fail_stuck_campaigns() -> int:
    with session_scope(services().sessions) as session:
        limit = time_limits(get_settings())[0]
        failed = scoring_service.fail_stuck_campaigns(session, older_than_seconds=limit)
    if failed:
        logger.warning("watchdog: failed %d campaign(s) stuck in processing", failed)
    return failed


fail_stuck_campaigns = app.task(name=names.FAIL_STUCK_CAMPAIGNS, acks_late=True)(
    _fail_stuck_campaigns
)


# --- files and lists (member-checked: an id of an organization ``user_id`` is not a member
# of is "not found", never retried)


def validate_file(
    svc: WorkerServices, *, file_id: str, user_id: str, campaign_id: str | None = None
) -> dict[str, Any]:
    """The engine's verdict on an uploaded file (as ``GET /reports/files/{id}/validate``)."""
    with svc.sessions() as session:
        try:
            verdict = file_reading.validate(
                session,
                svc.storage,
                org_service.upload_scope(session, uuid.UUID(user_id), uuid.UUID(file_id)),
                uuid.UUID(file_id),
                None if campaign_id is None else uuid.UUID(campaign_id),
            )
        except NotFound as exc:
            return {"error": exc.code, "message": exc.message}
    result: dict[str, Any] = json_safe(verdict)
    return result


def optimization_lists(
    svc: WorkerServices, *, campaign_id: str, user_id: str, min_impressions: float | None = None
) -> dict[str, Any]:
    """Both lists of a completed campaign, as the scoring routes answer them."""
    campaign = uuid.UUID(campaign_id)
    with svc.sessions() as session:
        try:
            owner = org_service.campaign_scope(session, uuid.UUID(user_id), campaign)
            return {
                kind: scoring_lists.optimization_list(
                    session, owner, campaign, kind, min_impressions
                ).model_dump(mode="json")
                for kind in ("whitelist", "blacklist")
            }
        except (NotFound, Conflict) as exc:
            return {"error": exc.code, "message": exc.message}


def cleanup_old_files(svc: WorkerServices, *, older_than_days: int = 30) -> int:
    """Delete uploads no campaign uses after ``older_than_days`` (rows, then bytes)."""
    with session_scope(svc.sessions) as session:
        keys = files_service.cleanup_unused_files(session, older_than_days=older_than_days)
    for key in keys:
        files_service.remove_stored(svc.storage, key)
    return len(keys)


def _validate_file_task(**kwargs: Any) -> dict[str, Any]:
    return validate_file(services(), **kwargs)


def _optimization_lists_task(**kwargs: Any) -> dict[str, Any]:
    return optimization_lists(services(), **kwargs)


def _cleanup_old_files_task(**kwargs: Any) -> int:
    return cleanup_old_files(services(), **kwargs)


validate_file_task = app.task(name=names.VALIDATE_FILE)(_validate_file_task)
generate_optimization_lists_task = app.task(name=names.GENERATE_OPTIMIZATION_LISTS)(
    _optimization_lists_task
)
cleanup_old_files_task = app.task(name=names.CLEANUP_OLD_FILES, acks_late=True)(
    _cleanup_old_files_task
)


def _send_completion_notification_task(campaign_id: str, user_id: str) -> bool:
    sent = send_completion_notification(services(), campaign_id=campaign_id, user_id=user_id)
    # the dashboard's figures changed with the run: refresh them ahead of the next read
    organization = statistics.organization_of(services().sessions, uuid.UUID(campaign_id))
    if organization is not None:
        app.send_task(
            names.UPDATE_CAMPAIGN_STATISTICS, kwargs={"organization_id": str(organization)}
        )
    return sent


send_completion_notification_task = app.task(
    name=names.SEND_COMPLETION_NOTIFICATION, acks_late=True
)(_send_completion_notification_task)


def _update_campaign_statistics(
    organization_id: str | None = None, user_id: str | None = None
) -> int:
    """One organization's figures, or all. ``user_id`` (messages queued before migration
    0009 named a user) refreshes them all."""
    del user_id
    return statistics.update_statistics(services().sessions, organization_id)


update_campaign_statistics = app.task(
    name=names.UPDATE_CAMPAIGN_STATISTICS, acks_late=True, rate_limit="120/m"
)(_update_campaign_statistics)


# --- exports


def _generate_export(task: Any, export_id: str, user_id: str) -> str:
    try:
        return exports.run_export(services(), export_id=export_id, user_id=user_id, transient=True)
    except (OperationalError, UpstreamUnavailable) as exc:
        raise task.retry(exc=exc, countdown=60 * (2**task.request.retries)) from exc


generate_export = app.task(
    name=names.GENERATE_EXPORT,
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=3,
    default_retry_delay=60,
    rate_limit="30/m",
)(_generate_export)


def cleanup_exports(svc: WorkerServices, *, older_than_hours: int | None = None) -> int:
    """Delete exports past EXPORT_RETENTION_HOURS (rows, then files)."""
    hours = older_than_hours or get_settings().EXPORT_RETENTION_HOURS
    with session_scope(svc.sessions) as session:
        keys = exports.cleanup_old_exports(session, older_than_hours=hours)
    for key in keys:
        files_service.remove_stored(svc.storage, key)
    return len(keys)


def _cleanup_old_exports(**kwargs: Any) -> int:
    return cleanup_exports(services(), **kwargs)


cleanup_old_exports = app.task(name=names.CLEANUP_OLD_EXPORTS, acks_late=True)(_cleanup_old_exports)


# --- runs


def cleanup_runs(svc: WorkerServices, *, keep: int | None = None) -> dict[str, int]:
    """Runs beyond RUN_RETENTION per campaign (never the latest completed one nor one in
    progress) and those of deleted campaigns, with their files; runs kept in SQL rows
    moved to files."""
    done = retention.clean_up_runs(
        svc.sessions, svc.storage, keep=keep or get_settings().RUN_RETENTION
    )
    if done.runs_removed or done.runs_moved_to_files:
        logger.info(
            "runs: %d removed (%d files), %d moved to files",
            done.runs_removed,
            done.files_removed,
            done.runs_moved_to_files,
        )
    return {
        "runs_removed": done.runs_removed,
        "files_removed": done.files_removed,
        "runs_moved_to_files": done.runs_moved_to_files,
    }


def _cleanup_old_runs(**kwargs: Any) -> dict[str, int]:
    return cleanup_runs(services(), **kwargs)


cleanup_old_runs = app.task(name=names.CLEANUP_OLD_RUNS, acks_late=True)(_cleanup_old_runs)
