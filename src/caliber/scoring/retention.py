"""Keeping a campaign's runs: at most ``RUN_RETENTION`` per campaign, never its latest
completed run (what the results routes read by default) nor a run in progress; the runs
of deleted campaigns; and moving the runs kept in SQL rows by the migration to runs
(``scoring_results``) into files, then their rows out of the table.

The task's edge owns the transactions: a run's row goes first (in a committed
transaction), its file after, so a reader never finds a run whose file is gone for
good; a file left by a failure to delete is only storage (its run no longer exists).
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field

from sqlalchemy.orm import Session, sessionmaker

from caliber.db.models import ScoringRun
from caliber.db.session import session_scope
from caliber.scoring import legacy, repository, store
from caliber.storage.base import Storage

logger = logging.getLogger(__name__)

LEGACY_RUNS_PER_PASS = 20
DELETE_BATCH = 20_000  # legacy rows per transaction (SQLite's one write lock)
PAUSE_SECONDS = 0.1  # between those, so other writers get the lock


@dataclass
class Cleanup:
    """What one pass removed and moved."""

    runs_removed: int = 0
    files_removed: int = 0
    runs_moved_to_files: int = 0
    errors: list[str] = field(default_factory=list)


def clean_up_runs(sessions: sessionmaker[Session], storage: Storage, *, keep: int) -> Cleanup:
    """One pass: expired and orphaned runs removed (rows, then files), runs kept in SQL
    moved to files, stray SQL rows removed."""
    done = Cleanup()
    with session_scope(sessions) as session:
        doomed = [
            run
            for cid in repository.campaigns_over(session, keep)
            for run in repository.expired_runs(session, cid, keep)
        ]
        doomed += repository.orphan_runs(session)
        keys = [run.storage_key for run in doomed if run.storage_key]
        sql_runs = [run.id for run in doomed if run.storage_key is None]
        for run in doomed:
            session.delete(run)
        done.runs_removed = len(doomed)
    for key in keys:
        try:
            storage.delete(key)
            done.files_removed += 1
        except Exception as exc:  # storage down: the file stays, its run is gone
            logger.warning("could not remove run file %s: %s", key, exc)
            done.errors.append(key)
    _remove_sql_rows(sessions, sql_runs)
    done.runs_moved_to_files = move_to_files(sessions, storage)
    with sessions() as session:
        stray = legacy.stray_runs(session, repository.run_ids_in_sql(session))
    _remove_sql_rows(sessions, stray)
    return done


def move_to_files(
    sessions: sessionmaker[Session], storage: Storage, limit: int = LEGACY_RUNS_PER_PASS
) -> int:
    """Write up to ``limit`` runs kept in SQL rows to their files, then drop the rows."""
    moved = 0
    with sessions() as session:
        pending = [run.id for run in repository.runs_in_sql(session, limit)]
    for run_id in pending:
        with session_scope(sessions) as session:
            run = session.get(ScoringRun, run_id)
            if run is None or run.storage_key is not None or run.campaign_id is None:
                continue
            key, size = store.write_legacy_run(session, storage, run)
            run.storage_key = key
            run.stored_bytes = size
        _remove_sql_rows(sessions, [run_id])
        moved += 1
    return moved


def _remove_sql_rows(sessions: sessionmaker[Session], runs: list[uuid.UUID]) -> None:
    """Delete the SQL rows of ``runs`` in short transactions."""
    if not runs:
        return
    while True:
        with session_scope(sessions) as session:
            deleted = legacy.delete_rows(session, None, runs, limit=DELETE_BATCH)
        if deleted < DELETE_BATCH:
            return
        time.sleep(PAUSE_SECONDS)
