"""Saving a run (caliber.scoring.saving): another user's write is never locked out for
the length of a big save on SQLite, PostgreSQL's single transaction blocks nobody,
readers see the previous results until the switch, and a save cut off or cancelled
leaves the previous results in place and nothing of itself."""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, func, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from caliber.db.migrate import upgrade
from caliber.db.models import Campaign, CampaignStatus, ScoringResult, User
from caliber.db.session import build_engine, session_factory, session_scope
from caliber.scoring import repository, saving
from caliber.scoring import results as scoring_results
from caliber.scoring.repository import ResultFilters
from tests.scoring.test_repository import make_rows, new_campaign

PG_URL = os.environ.get("CALIBER_TEST_DATABASE_URL")
REQUIRE_SERVICES = os.environ.get("CALIBER_REQUIRE_SERVICES") == "1"
BEFORE = 1_000  # rows of the results the campaign holds when a new run is saved
BIG = 50_000  # a save that takes seconds on SQLite: many batches of ~0.1 s
WAIT = 60.0  # seconds to wait for a background save to reach a point (never a bound)


def _sqlite(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'caliber.db'}"
    upgrade(url)
    return url


def _postgresql() -> str:
    if not PG_URL:
        if REQUIRE_SERVICES:
            pytest.fail("CALIBER_TEST_DATABASE_URL is not set although services are required")
        pytest.skip("no PostgreSQL (set CALIBER_TEST_DATABASE_URL)")
    upgrade(PG_URL)
    return PG_URL


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return _sqlite(tmp_path) if request.param == "sqlite" else _postgresql()


@pytest.fixture
def engine(url: str) -> Iterator[Engine]:
    built = build_engine(url)
    yield built
    built.dispose()


class Rerun:
    """A user's campaign holding BEFORE rows of results, whose re-run is processing."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions
        self.owner_id, self.campaign_id = new_campaign(sessions, "rerun")
        with session_scope(sessions) as session:
            self.old_run = repository.replace_results(
                session, self.campaign_id, make_rows(self.campaign_id, BEFORE, seed=3)
            )
            session.execute(
                update(Campaign)
                .where(Campaign.id == self.campaign_id)
                .values(status=CampaignStatus.PROCESSING, summary={"row_count": BEFORE})
            )

    def rows(self, count: int, run_id: uuid.UUID) -> list[dict[str, Any]]:
        return [{**row, "run_id": run_id} for row in make_rows(self.campaign_id, count, seed=4)]

    def save(self, run_id: uuid.UUID, rows: list[dict[str, Any]]) -> bool:
        completion = {"summary": {"row_count": len(rows)}}
        return saving.save_run(
            self.sessions, self.owner_id, self.campaign_id, run_id, rows, completion
        )

    def state(self, sessions: sessionmaker[Session] | None = None) -> tuple[Any, ...]:
        """(status, the run it points at, rows of each run), read by ``sessions``."""
        with (sessions or self.sessions)() as session:
            campaign = session.get(Campaign, self.campaign_id)
            assert campaign is not None
            counts = session.execute(
                select(ScoringResult.run_id, func.count())
                .where(ScoringResult.campaign_id == self.campaign_id)
                .group_by(ScoringResult.run_id)
            ).all()
            return campaign.status, campaign.results_run_id, dict(counts)

    def page_total(self, sessions: sessionmaker[Session]) -> int:
        """What a reader of the results is answered now (the total of page 1)."""
        with sessions() as session:
            answer = scoring_results.results_page_json(
                session, self.owner_id, self.campaign_id, filters=ResultFilters(min_score=0)
            )
        total: int = json.loads(answer.body)["total"]
        return total

    def remove(self) -> None:
        with session_scope(self.sessions) as session:
            session.delete(session.get(User, self.owner_id))


@pytest.fixture
def rerun(engine: Engine) -> Iterator[Rerun]:
    made = Rerun(session_factory(engine))
    yield made
    made.remove()


def _impatient(url: str, busy_ms: int) -> Engine:
    """Another process's engine that waits at most ``busy_ms`` for SQLite's write lock
    (the old single-transaction save held it for the whole save: seconds)."""
    other = build_engine(url)

    @event.listens_for(other, "connect")
    def _short_wait(dbapi_connection: Any, _record: object) -> None:
        dbapi_connection.execute(f"PRAGMA busy_timeout={busy_ms}")

    return other


def _wait_until(condition: Any, what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting: {what}"
        time.sleep(0.005)


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


def test_sqlite_other_writers_and_readers_go_on_during_a_big_save(tmp_path: Path) -> None:
    url = _sqlite(tmp_path)
    engine = build_engine(url)
    other = _impatient(url, busy_ms=1000)
    rerun = Rerun(session_factory(engine))
    others = session_factory(other)
    run_id = uuid.uuid4()
    rows = rerun.rows(BIG, run_id)
    try:
        thread, outcome = _in_background(lambda: rerun.save(run_id, rows))
        _wait_until(lambda: rerun.state(others)[2].get(run_id, 0) > 0, "the first batch")

        # another user's write, with a short busy timeout: it gets the lock between two
        # batches (the old save held it until the end, so this raised "database is locked")
        with session_scope(others) as session:
            session.add(User(firebase_uid=f"bob-{uuid.uuid4().hex}"))
        # ...while the save is provably still going on, and readers still get the
        # previous results: the new run is not theirs before the switch
        status, pointer, counts = rerun.state(others)
        assert status == CampaignStatus.PROCESSING
        assert pointer == rerun.old_run
        assert 0 < counts[run_id] < BIG
        assert rerun.page_total(others) == BEFORE

        thread.join(timeout=WAIT * 5)
        assert outcome == [True]
        # switched, and the replaced run's rows are gone
        assert rerun.state() == (CampaignStatus.COMPLETED, run_id, {run_id: BIG})
        assert rerun.page_total(others) == BIG
    finally:
        rerun.remove()
        other.dispose()
        engine.dispose()


def test_sqlite_a_run_cancelled_mid_save_stops_and_leaves_nothing(tmp_path: Path) -> None:
    url = _sqlite(tmp_path)
    engine = build_engine(url)
    rerun = Rerun(session_factory(engine))
    run_id = uuid.uuid4()
    try:
        thread, outcome = _in_background(lambda: rerun.save(run_id, rerun.rows(BIG, run_id)))
        _wait_until(lambda: rerun.state()[2].get(run_id, 0) > 0, "the first batch")
        with session_scope(rerun.sessions) as session:  # the user cancels the run
            session.execute(
                update(Campaign)
                .where(Campaign.id == rerun.campaign_id)
                .values(status=CampaignStatus.FAILED)
            )
        thread.join(timeout=WAIT * 5)
        assert outcome == [False]
        assert rerun.state() == (CampaignStatus.FAILED, rerun.old_run, {rerun.old_run: BEFORE})
    finally:
        rerun.remove()
        engine.dispose()


def test_postgresql_one_transaction_blocks_no_other_user() -> None:
    """The whole save is one transaction on PostgreSQL: while it is open (rows written,
    campaign switched, not committed) another user writes without waiting (a lock
    timeout makes any wait an error) and readers still see the previous results."""
    url = _postgresql()
    engine = build_engine(url)
    rerun = Rerun(session_factory(engine))
    run_id = uuid.uuid4()
    rows = rerun.rows(20_000, run_id)
    try:
        with session_scope(rerun.sessions) as saving_session:
            replaced = saving.store_run(
                saving_session,
                rerun.owner_id,
                rerun.campaign_id,
                run_id,
                rows,
                {"summary": {"row_count": len(rows)}},
            )
            assert replaced == [rerun.old_run]
            with session_scope(rerun.sessions) as session:
                session.execute(text("SET LOCAL lock_timeout = '2s'"))
                session.add(User(firebase_uid=f"bob-{uuid.uuid4().hex}"))
                bob = session.scalar(select(User).where(User.firebase_uid.like("bob-%")))
                assert bob is not None
                session.add(
                    Campaign(
                        owner_id=bob.id,
                        name="other",
                        platform="trade_desk",
                        goal="awareness",
                        channel="display",
                    )
                )
            assert rerun.state()[:2] == (CampaignStatus.PROCESSING, rerun.old_run)
            assert rerun.page_total(rerun.sessions) == BEFORE
        assert rerun.state()[1] == run_id
        assert rerun.page_total(rerun.sessions) == len(rows)
    finally:
        with session_scope(rerun.sessions) as session:
            session.execute(text("DELETE FROM users WHERE firebase_uid LIKE 'bob-%'"))
        rerun.remove()
        engine.dispose()


def test_a_save_cut_off_leaves_the_previous_results_and_the_next_run_cleans_up(
    rerun: Rerun,
) -> None:
    """What a kill -9 mid-save leaves (part of a run's rows, never pointed at) changes
    nothing readers see; the next successful run removes it with the run it replaces."""
    crashed = uuid.uuid4()
    with session_scope(rerun.sessions) as session:
        repository.insert_rows(session, rerun.rows(BIG // 20, crashed)[:3_000])
    assert rerun.page_total(rerun.sessions) == BEFORE
    assert rerun.state()[:2] == (CampaignStatus.PROCESSING, rerun.old_run)

    run_id = uuid.uuid4()
    assert rerun.save(run_id, rerun.rows(2_000, run_id)) is True
    assert rerun.state() == (CampaignStatus.COMPLETED, run_id, {run_id: 2_000})
    assert rerun.page_total(rerun.sessions) == 2_000


def test_a_run_no_longer_processing_writes_nothing(rerun: Rerun) -> None:
    with session_scope(rerun.sessions) as session:
        session.execute(
            update(Campaign)
            .where(Campaign.id == rerun.campaign_id)
            .values(status=CampaignStatus.FAILED)
        )
    run_id = uuid.uuid4()
    assert rerun.save(run_id, rerun.rows(500, run_id)) is False
    assert rerun.state() == (CampaignStatus.FAILED, rerun.old_run, {rerun.old_run: BEFORE})
