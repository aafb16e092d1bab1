"""Saving a scoring run: its rows under a new run id, then the campaign pointed at them
(and marked completed) in one short transaction, then the rows of the runs it replaced
removed. Readers go by the campaign's pointer, so they see the previous results until
the switch and the new ones after it, never a half-written run.

- **PostgreSQL**: the rows (one COPY), the switch and the removal of the replaced rows
  are one transaction. That blocks nobody: the rows are new (their unique keys carry
  the new run id, so no other writer's keys can collide with them), MVCC lets every
  reader see the committed results meanwhile, and the only row locked is this
  campaign's, which only a change of this campaign's status waits for.
- **SQLite** has one write lock for the whole database, so the rows are written in
  batches of about 0.25 s, each its own transaction, with a pause of 0.1 s after each:
  another user's write waits for one batch at most, not for the save.
  Each batch first re-checks (and advances) the run's progress, so a run cancelled or
  failed meanwhile stops writing.

A crash (even ``kill -9``) at any point leaves the previous results in place: before
the switch the new rows are only an unreferenced run, which the next successful run of
the campaign removes (with the rows it replaces); the campaign stays processing until
the run is delivered again or the watchdog fails it. The job's edge owns these
transactions (this module commits; the services it calls never do).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from caliber.db.base import utcnow
from caliber.db.models import Campaign, CampaignStatus
from caliber.db.session import session_scope
from caliber.scoring import repository
from caliber.scoring import service as scoring_service

logger = logging.getLogger(__name__)

STEP_SAVING = "saving"
STEP_COMPLETED = "completed"
SAVING_FROM, SAVING_SPAN = 90, 9  # progress_percentage while the rows are written

# SQLite batches: sized to hold the write lock about BATCH_SECONDS each (a row costs
# 10-150 µs depending on load), starting from FIRST_BATCH rows. After each, the job
# leaves the lock free for PAUSE_SECONDS: a writer waiting for it sleeps in SQLite's
# busy handler and retries after 1, 2, 5 ... up to 100 ms, so only a pause of at least
# 100 ms is sure to see it retry (with a 10 ms pause, a waiter's retries could keep
# landing inside batches for a second). Another writer thus waits about one batch and
# one pause at most; a 300,000-row run is served about 10 % later than by one
# transaction (benchmarks/sqlite_save.py).
FIRST_BATCH = 2_000
MIN_BATCH, MAX_BATCH = 200, 50_000
BATCH_SECONDS = 0.25
PAUSE_SECONDS = 0.1
# Rows of a replaced run are removed this long after the switch, so a request that read
# the campaign just before it still finds the rows it asks for next.
REMOVE_AFTER_SECONDS = 0.5


class _AbandonedError(Exception):
    """The campaign left processing (cancelled, failed by the watchdog, or completed by
    another delivery of the same run) while this run was being written."""


def save_run(
    sessions: sessionmaker[Session],
    owner_id: uuid.UUID,
    campaign_id: uuid.UUID,
    run_id: uuid.UUID,
    rows: Sequence[dict[str, Any]],
    completion: dict[str, Any],
) -> bool:
    """Write ``rows`` (keys: :data:`repository.COLUMNS`, ``run_id`` = ``run_id``) and make
    them the campaign's results, recording ``completion`` (summary, report...) on it.
    False, with nothing left behind, when the campaign is no longer processing."""
    with sessions() as probe:
        batched = repository.writes_in_batches(probe)
    if not batched:
        with session_scope(sessions) as session:
            replaced = store_run(session, owner_id, campaign_id, run_id, rows, completion)
            if replaced is not None:
                # in the same transaction: it blocks nobody either, and no reader ever
                # sees the campaign's rows of two runs at once
                repository.delete_runs(session, campaign_id, replaced)
        return replaced is not None
    try:
        _write_batches(sessions, owner_id, campaign_id, rows)
        with sessions() as session:  # listed before the switch: later runs are not ours
            replaced = repository.run_ids(session, campaign_id, exclude=run_id)
        with session_scope(sessions) as session:
            if not _switch(session, owner_id, campaign_id, run_id, len(rows), completion):
                raise _AbandonedError
    except _AbandonedError:
        _discard(sessions, campaign_id, run_id)
        return False
    except BaseException:
        _discard(sessions, campaign_id, run_id)
        raise
    _remove_runs(sessions, campaign_id, replaced)
    return True


def store_run(
    session: Session,
    owner_id: uuid.UUID,
    campaign_id: uuid.UUID,
    run_id: uuid.UUID,
    rows: Sequence[dict[str, Any]],
    completion: dict[str, Any],
) -> list[uuid.UUID] | None:
    """The whole save in the session's transaction (PostgreSQL's way): the runs it
    replaced (to remove after the commit), or None (nothing written) if the campaign is
    no longer processing."""
    # first, so that this transaction holds the campaign's row lock (PostgreSQL) or the
    # write lock (SQLite) before anything else: a concurrent status change waits or loses
    if not scoring_service.set_step(session, owner_id, campaign_id, STEP_SAVING, SAVING_FROM):
        return None
    repository.insert_rows(session, rows)
    replaced = repository.run_ids(session, campaign_id, exclude=run_id)
    if not _switch(session, owner_id, campaign_id, run_id, len(rows), completion):
        return None
    return replaced


def _write_batches(
    sessions: sessionmaker[Session],
    owner_id: uuid.UUID,
    campaign_id: uuid.UUID,
    rows: Sequence[dict[str, Any]],
) -> None:
    written, size = 0, FIRST_BATCH
    while True:
        started = time.monotonic()
        with session_scope(sessions) as session:
            share = SAVING_FROM + SAVING_SPAN * written // max(1, len(rows))
            # the guarded progress update takes the write lock and proves the run is
            # still wanted, in the batch's own transaction
            if not scoring_service.set_step(session, owner_id, campaign_id, STEP_SAVING, share):
                raise _AbandonedError
            batch = rows[written : written + size]
            repository.insert_rows(session, batch)
        written += len(batch)
        if written >= len(rows):
            return
        size = _next_size(size, time.monotonic() - started)
        time.sleep(PAUSE_SECONDS)


def _next_size(size: int, elapsed: float) -> int:
    """The next batch's rows: aiming at BATCH_SECONDS, at most doubling each time."""
    wanted = size * 2 if elapsed <= 0 else int(size * BATCH_SECONDS / elapsed)
    return max(MIN_BATCH, min(MAX_BATCH, size * 2, wanted))


def _switch(
    session: Session,
    owner_id: uuid.UUID,
    campaign_id: uuid.UUID,
    run_id: uuid.UUID,
    expected_rows: int,
    completion: dict[str, Any],
) -> bool:
    """Point the campaign at run ``run_id`` and mark it completed, if it is still
    processing and the run is whole; False (nothing changed) otherwise."""
    switched = scoring_service.update_if_processing(
        session,
        owner_id,
        campaign_id,
        **completion,
        status=CampaignStatus.COMPLETED,
        progress_percentage=100,
        current_step=STEP_COMPLETED,
        completed_at=utcnow(),
        error_message=None,
        results_run_id=run_id,
        config_snapshot=Campaign.run_snapshot,  # the results' setup is the run's
    )
    if not switched:
        return False
    # (after the update: on SQLite the transaction now holds the write lock, so no row
    # of the run can go between this count and the commit)
    stored = repository.count_run(session, run_id)
    if stored != expected_rows:  # only another delivery of this run removes its rows
        logger.warning(
            "run %s of campaign %s has %d of its %d rows; not switching to it",
            run_id,
            campaign_id,
            stored,
            expected_rows,
        )
        session.rollback()
        return False
    return True


def _remove_runs(
    sessions: sessionmaker[Session],
    campaign_id: uuid.UUID,
    runs: Sequence[uuid.UUID],
    *,
    wait: bool = True,
) -> None:
    """Delete the rows of ``runs`` (never the campaign's results: the caller lists runs
    it replaced or abandoned) in batches, as the rows were written (SQLite). An
    optimisation: a failure is logged, never raised."""
    if not runs:
        return
    if wait:
        time.sleep(REMOVE_AFTER_SECONDS)
    size = FIRST_BATCH
    try:
        while True:
            started = time.monotonic()
            with session_scope(sessions) as session:
                deleted = repository.delete_runs(session, campaign_id, runs, limit=size)
            if deleted < size:
                return
            size = _next_size(size, time.monotonic() - started)
            time.sleep(PAUSE_SECONDS)
    except Exception:
        logger.warning(
            "could not remove replaced scoring rows of campaign %s", campaign_id, exc_info=True
        )


def _discard(sessions: sessionmaker[Session], campaign_id: uuid.UUID, run_id: uuid.UUID) -> None:
    """Remove what an abandoned run wrote (it was never the campaign's results)."""
    _remove_runs(sessions, campaign_id, [run_id], wait=False)
