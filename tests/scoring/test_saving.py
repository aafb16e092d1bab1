"""Saving a run (caliber.scoring.saving): the run's file is written outside any
transaction, so another user's write is never locked out for the length of a big save
(SQLite's one write lock; PostgreSQL locks only the campaign's row, for the switch);
readers see the previous results until the switch; a save cut off or cancelled leaves
the previous results in place and nothing of itself.

(Until issue 18 the rows themselves were written to SQL, in batches on SQLite and one
COPY on PostgreSQL; these tests then watched the rows appear. The storage changed
underneath: they now hold the file's write open instead.)"""

from __future__ import annotations

import io
import json
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import pytest
from sqlalchemy import Engine, event, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from caliber.db.base import utcnow
from caliber.db.models import Campaign, CampaignStatus, ScoringRun, User
from caliber.db.session import build_engine, session_factory, session_scope
from caliber.scoring import frames, legacy, pages, repository, saving, store
from caliber.scoring import results as scoring_results
from caliber.scoring.repository import ResultFilters
from caliber.storage.local import LocalStorage
from tests.scoring.test_repository import (
    LAYOUT,
    SNAPSHOT,
    database,
    make_rows,
    new_campaign,
    postgres_url,
    seed_rows,
)

BEFORE = 1_000  # rows of the results the campaign holds when a new run is saved
AFTER = 2_000
WAIT = 60.0  # seconds to wait for a background save to reach a point (never a bound)


class HeldStorage(LocalStorage):
    """Local storage whose writes of run files wait until the test lets them finish,
    as a large upload to S3 takes its time: the save is provably in progress meanwhile."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.writing = threading.Event()
        self.release = threading.Event()
        self.release.set()

    def hold(self) -> None:
        self.release.clear()

    def save(self, key: str, stream: BinaryIO) -> int:
        if key.startswith("runs/"):
            self.writing.set()
            assert self.release.wait(WAIT), "the test never released the write"
        return super().save(key, stream)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Engine]]:
    url = f"sqlite:///{tmp_path / 'caliber.db'}" if request.param == "sqlite" else postgres_url()
    built, _ = database(url, tmp_path / "plain")
    yield url, built
    built.dispose()


class Rerun:
    """A user's campaign holding BEFORE rows of results, whose re-run is processing."""

    def __init__(self, sessions: sessionmaker[Session], storage: HeldStorage) -> None:
        self.sessions = sessions
        self.storage = storage
        self.owner_id, self.campaign_id = new_campaign(sessions, "rerun")
        rows = make_rows(self.campaign_id, BEFORE, seed=3)
        self.old_run = seed_rows(sessions, storage, self.campaign_id, rows)
        with session_scope(sessions) as session:
            session.execute(
                update(Campaign)
                .where(Campaign.id == self.campaign_id)
                .values(status=CampaignStatus.PROCESSING, run_snapshot=SNAPSHOT)
            )
            run = repository.add_run(session, self.campaign_id, SNAPSHOT, None, utcnow())
            self.run_id = run.id
        self.key = store.run_key(self.campaign_id, self.run_id)
        frame = legacy.frame_of(make_rows(self.campaign_id, AFTER, seed=4), LAYOUT)
        self.data = frames.to_parquet(frame)

    def save(self) -> bool:
        completion = {"summary": {"row_count": AFTER, "lists": {"whitelist_count": 7}}}
        return saving.save_run(
            self.sessions,
            self.storage,
            self.owner_id,
            self.campaign_id,
            self.run_id,
            self.data,
            completion,
        )

    def state(self, sessions: sessionmaker[Session] | None = None) -> tuple[Any, ...]:
        """(campaign status, the run it points at, {run: status})."""
        with (sessions or self.sessions)() as session:
            campaign = session.get(Campaign, self.campaign_id)
            assert campaign is not None
            runs = session.execute(
                select(ScoringRun.id, ScoringRun.status).where(
                    ScoringRun.campaign_id == self.campaign_id
                )
            ).all()
            return campaign.status, campaign.results_run_id, dict(runs)

    def page_total(self, sessions: sessionmaker[Session], run_id: uuid.UUID | None = None) -> int:
        """What a reader of the results is answered now (the total of page 1)."""
        with sessions() as session:
            answer = scoring_results.results_page_json(
                session,
                self.owner_id,
                self.campaign_id,
                filters=ResultFilters(min_score=0),
                run_id=run_id,
            )
        total: int = json.loads(answer.body)["total"]
        return total

    def cancel(self, message: str) -> None:
        with session_scope(self.sessions) as session:
            session.execute(
                update(Campaign)
                .where(Campaign.id == self.campaign_id)
                .values(status=CampaignStatus.FAILED, error_message=message)
            )

    def remove(self) -> None:
        with session_scope(self.sessions) as session:
            session.delete(session.get(User, self.owner_id))
        pages.index().clear()


@pytest.fixture
def rerun(backend: tuple[str, Engine], tmp_path: Path) -> Iterator[Rerun]:
    _, engine = backend
    storage = HeldStorage(tmp_path / "files")
    store.attach(engine, storage)
    made = Rerun(session_factory(engine), storage)
    yield made
    made.storage.release.set()
    made.remove()


def _impatient(url: str, storage: LocalStorage) -> Engine:
    """Another process's engine that waits at most a second for a lock (SQLite's busy
    timeout, PostgreSQL's lock timeout): a save holding one for its length fails it."""
    other = build_engine(url)
    store.attach(other, storage)

    @event.listens_for(other, "connect")
    def _short_wait(dbapi_connection: Any, _record: object) -> None:
        if url.startswith("sqlite"):
            dbapi_connection.execute("PRAGMA busy_timeout=1000")
        else:
            with dbapi_connection.cursor() as cursor:
                cursor.execute("SET lock_timeout = '1s'")

    return other


def _in_background(target: Any) -> tuple[threading.Thread, list[Any]]:
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(target())
        except BaseException as exc:  # handed to the test
            outcome.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def test_other_writers_and_readers_go_on_during_a_save(
    backend: tuple[str, Engine], rerun: Rerun
) -> None:
    url, _ = backend
    other = _impatient(url, rerun.storage)
    others = session_factory(other)
    rerun.storage.hold()
    try:
        thread, outcome = _in_background(rerun.save)
        assert rerun.storage.writing.wait(WAIT), "the save never started writing"
        # another user's write, waiting a second at most, while the file is being written
        with session_scope(others) as session:
            session.add(User(firebase_uid=f"bob-{uuid.uuid4().hex}"))
        with session_scope(others) as session:  # and a write of this very campaign
            session.execute(
                update(Campaign)
                .where(Campaign.id == rerun.campaign_id)
                .values(description="edited during the save")
            )
        # ...while the save is provably going on, and readers still get the previous
        # results: the new run is not theirs before the switch
        status, pointer, runs = rerun.state(others)
        assert (status, pointer) == (CampaignStatus.PROCESSING, rerun.old_run)
        assert runs[rerun.run_id] == "processing"
        assert rerun.page_total(others) == BEFORE
        assert thread.is_alive()

        rerun.storage.release.set()
        thread.join(timeout=WAIT)
        assert outcome == [True]
        assert rerun.state() == (
            CampaignStatus.COMPLETED,
            rerun.run_id,
            {rerun.old_run: "completed", rerun.run_id: "completed"},
        )
        assert rerun.page_total(others) == AFTER
        # the earlier run stays readable by its id
        assert rerun.page_total(others, rerun.old_run) == BEFORE
        with others() as session:
            run = session.get(ScoringRun, rerun.run_id)
            assert run is not None
            assert (run.storage_key, run.row_count, run.whitelist_count) == (rerun.key, AFTER, 7)
            assert run.stored_bytes == len(rerun.data)
    finally:
        with session_scope(rerun.sessions) as session:
            session.execute(text("DELETE FROM users WHERE firebase_uid LIKE 'bob-%'"))
        other.dispose()


def test_a_run_cancelled_mid_save_fails_and_leaves_nothing(rerun: Rerun) -> None:
    rerun.storage.hold()
    thread, outcome = _in_background(rerun.save)
    assert rerun.storage.writing.wait(WAIT)
    rerun.cancel("stopped by the user")  # the user cancels the run while it is saved
    rerun.storage.release.set()
    thread.join(timeout=WAIT)
    assert outcome == [False]
    assert rerun.state() == (
        CampaignStatus.FAILED,
        rerun.old_run,
        {rerun.old_run: "completed", rerun.run_id: "failed"},
    )
    with rerun.sessions() as session:
        run = session.get(ScoringRun, rerun.run_id)
        assert run is not None
        assert (run.error_message, run.storage_key) == ("stopped by the user", None)
    assert not rerun.storage.exists(rerun.key)
    assert rerun.page_total(rerun.sessions) == BEFORE


def test_a_save_cut_off_leaves_the_previous_results_and_the_next_delivery_ends_it(
    rerun: Rerun,
) -> None:
    """What a kill -9 after the file's write and before the switch leaves (the file of a
    run still processing) changes nothing readers see; the run's next delivery writes
    the same key again and switches."""
    rerun.storage.save(rerun.key, io.BytesIO(rerun.data[: len(rerun.data) // 2]))  # cut off
    assert rerun.page_total(rerun.sessions) == BEFORE
    assert rerun.state()[:2] == (CampaignStatus.PROCESSING, rerun.old_run)

    assert rerun.save() is True
    assert rerun.state()[:2] == (CampaignStatus.COMPLETED, rerun.run_id)
    assert rerun.page_total(rerun.sessions) == AFTER
    assert sorted(p.name for p in rerun.storage.path(rerun.key).parent.iterdir()) == sorted(
        f"{run.hex}.parquet" for run in (rerun.old_run, rerun.run_id)
    )


def test_a_run_no_longer_processing_writes_nothing(rerun: Rerun) -> None:
    rerun.cancel("cancelled by the user")
    assert rerun.save() is False
    assert rerun.state() == (
        CampaignStatus.FAILED,
        rerun.old_run,
        {rerun.old_run: "completed", rerun.run_id: "failed"},
    )
    assert not rerun.storage.exists(rerun.key)


def test_a_late_delivery_of_a_completed_run_keeps_its_file(rerun: Rerun) -> None:
    """Two deliveries of one run write the same key: the one that finds the run already
    completed by the other leaves the file, which is the results."""
    assert rerun.save() is True
    assert rerun.save() is False  # the campaign is completed: nothing to do
    assert rerun.storage.exists(rerun.key)
    assert rerun.state()[:2] == (CampaignStatus.COMPLETED, rerun.run_id)
    assert rerun.page_total(rerun.sessions) == AFTER


def test_the_big_save_is_not_in_the_database(rerun: Rerun) -> None:
    """The layout's point: a run's rows are one file; SQL gets the run's row only."""
    assert rerun.save() is True
    with rerun.sessions() as session:
        assert legacy.count_rows(session, rerun.run_id) == 0
    assert rerun.page_total(rerun.sessions) == AFTER
