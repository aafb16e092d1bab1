"""Celery tasks: thin wrappers (ids in) around the services, which do the work.

Each worker process builds its own database engine and storage from settings on first
use (after the fork, never at import).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from celery.signals import task_failure, worker_process_init
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from caliber.core.errors import UpstreamUnavailable
from caliber.core.settings import get_settings
from caliber.db.session import build_engine, session_factory, session_scope
from caliber.jobs import names
from caliber.jobs.celery_app import app, time_limits
from caliber.scoring import service as scoring_service
from caliber.scoring.jobs import run_scoring_job
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
        _services = WorkerServices(
            sessions=session_factory(build_engine(settings.database_url)),
            storage=build_storage(settings),
        )
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


def _process_campaign_scoring(task: Any, campaign_id: str, user_id: str) -> None:
    try:
        run_scoring_job(services(), campaign_id=campaign_id, user_id=user_id, transient=True)
    except (OperationalError, UpstreamUnavailable) as exc:
        # the database or storage hiccuped: try again later; bad data never gets here
        raise task.retry(exc=exc, countdown=60 * (2**task.request.retries)) from exc


process_campaign_scoring = app.task(
    name=names.SCORE_CAMPAIGN,
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=3,
    default_retry_delay=60,
    rate_limit="60/m",
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
