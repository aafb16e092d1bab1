"""Saving a scoring run: its result frame as one file in the storage backend, then the
run completed and the campaign pointed at it in one short transaction.

Readers go by the campaign's pointer (or a run id they name), so they see the previous
results until the switch and the new ones after it, never a half-written run. The file
is written outside any transaction: on SQLite, whose one write lock covers the whole
database, another user's write waits at most for the switch (a few milliseconds), never
for the save; on PostgreSQL only this campaign's row is locked, for as long.

A crash (even ``kill -9``) at any point leaves the previous results in place: before the
switch the file is only that of a run still processing, under a key made from the run's
id (:func:`caliber.scoring.store.run_key`), which the next delivery of the run writes
again, or which is removed with the run once it fails (the watchdog) and retention
reaches it. A run that left processing meanwhile (cancelled, failed by the watchdog)
ends failed and its file is removed. The job's edge owns these transactions (this
module commits; the services it calls never do).
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from caliber.db.base import utcnow
from caliber.db.models import Campaign, CampaignStatus, RunStatus, ScoringRun
from caliber.db.session import session_scope
from caliber.scoring import repository, store
from caliber.scoring import service as scoring_service
from caliber.storage.base import Storage

logger = logging.getLogger(__name__)

STEP_SAVING = "saving"
STEP_COMPLETED = "completed"
SAVING_FROM = 90  # progress_percentage while the file is written


def save_run(
    sessions: sessionmaker[Session],
    storage: Storage,
    org_id: uuid.UUID,
    campaign_id: uuid.UUID,
    run_id: uuid.UUID,
    data: bytes,
    completion: dict[str, Any],
) -> bool:
    """Write run ``run_id``'s frame (``data``: :func:`caliber.scoring.frames.to_parquet`)
    and make it the campaign's results, recording ``completion`` (summary, report...) on
    the campaign and the run. False, with nothing left behind, when the campaign is no
    longer processing."""
    key = store.run_key(campaign_id, run_id)
    with session_scope(sessions) as session:  # still wanted? (proves it, then lets go)
        wanted = scoring_service.set_step(session, org_id, campaign_id, STEP_SAVING, SAVING_FROM)
    if not wanted:
        _abandon(sessions, storage, campaign_id, run_id, key)
        return False
    size = store.save_frame(storage, key, data)
    with session_scope(sessions) as session:
        switched = switch(session, org_id, campaign_id, run_id, key, size, completion)
    if not switched:
        _abandon(sessions, storage, campaign_id, run_id, key)
    return switched


def switch(
    session: Session,
    org_id: uuid.UUID,
    campaign_id: uuid.UUID,
    run_id: uuid.UUID,
    key: str,
    size: int,
    completion: dict[str, Any],
) -> bool:
    """Complete run ``run_id`` (stored under ``key``) and point the campaign at it, if
    the campaign is still processing that run; False (nothing changed) otherwise."""
    now = utcnow()
    # the campaign first: on PostgreSQL its row lock, on SQLite the write lock, so a
    # concurrent status change waits or loses
    switched = scoring_service.update_if_processing(
        session,
        org_id,
        campaign_id,
        **completion,
        status=CampaignStatus.COMPLETED,
        progress_percentage=100,
        current_step=STEP_COMPLETED,
        completed_at=now,
        error_message=None,
        results_run_id=run_id,
        config_snapshot=Campaign.run_snapshot,  # the results' setup is the run's
    )
    if not switched:
        return False
    summary: dict[str, Any] = completion.get("summary") or {}
    lists: dict[str, Any] = summary.get("lists") or {}
    completed = repository.update_run(
        session,
        run_id,
        when=RunStatus.PROCESSING,
        status=RunStatus.COMPLETED,
        finished_at=now,
        summary=completion.get("summary"),
        report=completion.get("data_quality_report"),
        column_mapping_used=completion.get("column_mapping_used"),
        campaign_level_score=completion.get("campaign_level_score"),
        row_count=summary.get("row_count"),
        whitelist_count=lists.get("whitelist_count"),
        blacklist_count=lists.get("blacklist_count"),
        storage_key=key,
        stored_bytes=size,
        error_message=None,
    )
    if not completed:  # the run is no longer this campaign's run in progress
        logger.warning(
            "run %s of campaign %s is not processing; not switching", run_id, campaign_id
        )
        session.rollback()
        return False
    return True


def _abandon(
    sessions: sessionmaker[Session],
    storage: Storage,
    campaign_id: uuid.UUID,
    run_id: uuid.UUID,
    key: str,
) -> None:
    """The campaign left processing (cancelled, failed by the watchdog, or completed by
    another delivery of this run): the run fails with the campaign's reason, and its
    file goes, unless another delivery completed it under the same key."""
    with session_scope(sessions) as session:
        run = session.get(ScoringRun, run_id)
        if run is not None and run.status == RunStatus.COMPLETED:
            return
        campaign = session.get(Campaign, campaign_id)
        message = (
            campaign.error_message
            if campaign is not None and campaign.status == CampaignStatus.FAILED
            else None
        )
        repository.update_run(
            session,
            run_id,
            when=RunStatus.PROCESSING,
            status=RunStatus.FAILED,
            finished_at=utcnow(),
            error_message=message or scoring_service.STOPPED,
        )
    try:
        storage.delete(key)
    except Exception:  # the retention task removes it with the run
        logger.warning("could not remove the file of abandoned run %s", run_id, exc_info=True)


def seed_run(
    session: Session,
    storage: Storage,
    campaign_id: uuid.UUID,
    data: bytes,
    snapshot: dict[str, Any],
    summary: dict[str, Any],
) -> uuid.UUID:
    """A completed run of ``data`` made the campaign's results at once (tests and
    benchmarks; the scoring job saves through :func:`save_run`): its id."""
    now = utcnow()
    run = repository.add_run(session, campaign_id, snapshot, None, now)
    key = store.run_key(campaign_id, run.id)
    size = store.save_frame(storage, key, data)
    lists = summary.get("lists") or {}
    run.status = RunStatus.COMPLETED
    run.finished_at = now
    run.summary = summary
    run.row_count = summary.get("row_count")
    run.whitelist_count = lists.get("whitelist_count")
    run.blacklist_count = lists.get("blacklist_count")
    run.campaign_level_score = summary.get("campaign_level_score")
    run.storage_key = key
    run.stored_bytes = size
    campaign = session.get(Campaign, campaign_id)
    assert campaign is not None
    campaign.results_run_id = run.id
    campaign.config_snapshot = snapshot
    campaign.summary = summary
    campaign.completed_at = now
    campaign.status = CampaignStatus.COMPLETED
    session.flush()
    return run.id
