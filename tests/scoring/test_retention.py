"""Run retention (beat's ``cleanup_old_runs``), on SQLite and PostgreSQL: a campaign keeps
its ``RUN_RETENTION`` newest runs, and never loses its latest completed run (what the
results routes read) nor a run in progress; older runs go with their files; so do the
runs of deleted campaigns; runs kept in SQL rows by the migration to runs are moved to
files (and read the same), and SQL rows no run reads are removed."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, delete, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from caliber.db.base import utcnow
from caliber.db.models import Campaign, CampaignStatus, RunStatus, ScoringResult, ScoringRun, User
from caliber.db.session import session_factory, session_scope
from caliber.scoring import frames, legacy, pages, repository, store
from caliber.storage.local import LocalStorage
from caliber.worker.tasks import WorkerServices, cleanup_runs
from tests.scoring.test_repository import (
    LAYOUT,
    SNAPSHOT,
    database,
    make_rows,
    new_campaign,
    postgres_url,
)


@pytest.fixture(params=["sqlite", "postgresql"])
def services(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[WorkerServices]:
    url = f"sqlite:///{tmp_path / 'caliber.db'}" if request.param == "sqlite" else postgres_url()
    engine, storage = database(url, tmp_path / "files")
    users_before = _users(engine)
    yield WorkerServices(session_factory(engine), storage)
    with session_scope(session_factory(engine)) as session:  # leave the database as it was
        session.execute(delete(User).where(User.id.not_in(users_before)))
        session.execute(delete(ScoringRun).where(ScoringRun.campaign_id.is_(None)))
    pages.index().clear()
    engine.dispose()


def _users(engine: Engine) -> list[uuid.UUID]:
    with session_factory(engine)() as session:
        return list(session.scalars(select(User.id)))


class Runs:
    """A campaign's runs, made oldest first, each an hour after the last."""

    def __init__(self, svc: WorkerServices, name: str) -> None:
        self.svc = svc
        self.owner_id, self.campaign_id = new_campaign(svc.sessions, name)
        self.start = utcnow() - timedelta(days=30)
        self.made: list[uuid.UUID] = []

    def add(self, status: str, *, results: bool = False, file: bool = True) -> uuid.UUID:
        storage: LocalStorage = self.svc.storage  # type: ignore[assignment]
        with session_scope(self.svc.sessions) as session:
            started = self.start + timedelta(hours=len(self.made))
            run = repository.add_run(session, self.campaign_id, SNAPSHOT, None, started)
            run.status = status
            if file:
                key = store.run_key(self.campaign_id, run.id)
                rows = make_rows(self.campaign_id, 30, seed=len(self.made))
                store.save_frame(storage, key, frames.to_parquet(legacy.frame_of(rows, LAYOUT)))
                run.storage_key = key
            if results:
                session.execute(
                    update(Campaign)
                    .where(Campaign.id == self.campaign_id)
                    .values(results_run_id=run.id, summary={"row_count": 30})
                )
            self.made.append(run.id)
            return run.id

    def status(self, status: CampaignStatus) -> None:
        with session_scope(self.svc.sessions) as session:
            session.execute(
                update(Campaign).where(Campaign.id == self.campaign_id).values(status=status)
            )

    def kept(self) -> list[uuid.UUID]:
        """The campaign's runs left, oldest first."""
        with self.svc.sessions() as session:
            return list(
                session.scalars(
                    select(ScoringRun.id)
                    .where(ScoringRun.campaign_id == self.campaign_id)
                    .order_by(ScoringRun.started_at)
                )
            )

    def file(self, run_id: uuid.UUID) -> bool:
        return self.svc.storage.exists(store.run_key(self.campaign_id, run_id))


def test_runs_beyond_the_retention_go_with_their_files(services: WorkerServices) -> None:
    campaign = Runs(services, "retention")
    old_1 = campaign.add(RunStatus.COMPLETED)
    old_2 = campaign.add(RunStatus.COMPLETED)
    results = campaign.add(RunStatus.COMPLETED, results=True)
    failed_1 = campaign.add(RunStatus.FAILED, file=False)
    failed_2 = campaign.add(RunStatus.FAILED, file=False)
    campaign.status(CampaignStatus.FAILED)

    done = cleanup_runs(services, keep=2)

    # the two newest stay, and the latest completed run however old it is
    assert campaign.kept() == [results, failed_1, failed_2]
    assert (campaign.file(old_1), campaign.file(old_2), campaign.file(results)) == (
        False,
        False,
        True,
    )
    # (at least: a shared database may hold other tests' runs beyond the retention)
    assert done["runs_removed"] >= 2
    assert done["files_removed"] >= 2
    assert cleanup_runs(services, keep=2)["runs_removed"] == 0  # nothing left to do


def test_a_run_in_progress_and_the_latest_completed_run_are_never_removed(
    services: WorkerServices,
) -> None:
    campaign = Runs(services, "in-progress")
    first = campaign.add(RunStatus.COMPLETED, results=True)
    running = campaign.add(RunStatus.PROCESSING, file=False)
    campaign.status(CampaignStatus.PROCESSING)
    other = Runs(services, "other")
    other_runs = [other.add(RunStatus.COMPLETED) for _ in range(3)]

    cleanup_runs(services, keep=1)

    assert campaign.kept() == [first, running]
    assert campaign.file(first)
    assert other.kept() == other_runs[-1:]  # (no results run: the newest is kept)


def test_the_runs_of_a_deleted_campaign_go_with_their_files(services: WorkerServices) -> None:
    campaign = Runs(services, "deleted")
    runs = [campaign.add(RunStatus.COMPLETED), campaign.add(RunStatus.COMPLETED, results=True)]
    with session_scope(services.sessions) as session:
        session.delete(session.get(Campaign, campaign.campaign_id))
    with services.sessions() as session:  # the runs outlive it, unreachable
        orphans = session.scalars(select(ScoringRun.campaign_id).where(ScoringRun.id.in_(runs)))
        assert list(orphans) == [None, None]

    assert cleanup_runs(services, keep=12)["runs_removed"] >= 2

    with services.sessions() as session:
        assert session.scalar(select(func.count()).where(ScoringRun.id.in_(runs))) == 0
    assert not any(campaign.file(run) for run in runs)


def test_runs_kept_in_sql_rows_move_to_files_and_read_the_same(
    services: WorkerServices,
) -> None:
    campaign = Runs(services, "legacy")
    rows = make_rows(campaign.campaign_id, 500, seed=9)
    in_sql = uuid.uuid4()
    stray = uuid.uuid4()  # rows a save cut off under the SQL layout left behind
    with session_scope(services.sessions) as session:
        legacy.insert_rows(session, [{**r, "run_id": in_sql} for r in rows])
        legacy.insert_rows(session, [{**r, "id": uuid.uuid4(), "run_id": stray} for r in rows[:20]])
        session.add(
            ScoringRun(
                id=in_sql,
                campaign_id=campaign.campaign_id,
                status=RunStatus.COMPLETED,
                started_at=utcnow(),
                snapshot=SNAPSHOT,
            )
        )
        session.execute(
            update(Campaign)
            .where(Campaign.id == campaign.campaign_id)
            .values(results_run_id=in_sql, summary={"row_count": 500})
        )
    before = _records(services.sessions, in_sql)
    pages.index().clear()

    assert cleanup_runs(services, keep=12)["runs_moved_to_files"] == 1

    with services.sessions() as session:
        run = session.get(ScoringRun, in_sql)
        assert run is not None
        assert run.storage_key == store.run_key(campaign.campaign_id, in_sql)
        assert run.stored_bytes == len(services.storage.read(run.storage_key))
        left = session.scalar(select(func.count()).select_from(ScoringResult))
    assert left == 0  # the run's rows, and the stray ones
    pages.index().clear()
    assert _records(services.sessions, in_sql) == before


def _records(sessions: sessionmaker[Session], run_id: uuid.UUID) -> list[Any]:
    with sessions() as session:
        run = session.get(ScoringRun, run_id)
        assert run is not None
        held = pages.index().run(session, run)
        return held.stored.records(range(held.height))
