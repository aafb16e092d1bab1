"""Migrations and models agree, on SQLite and (in CI) PostgreSQL."""

from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import (
    JSON,
    Boolean,
    Connection,
    DateTime,
    Float,
    Integer,
    String,
    Uuid,
    column,
    insert,
    inspect,
    table,
    text,
    update,
)
from sqlalchemy.engine import make_url

from caliber.db.base import Base
from caliber.db.migrate import downgrade, pending_differences, upgrade
from caliber.db.session import build_engine

REQUIRE_SERVICES = os.environ.get("CALIBER_REQUIRE_SERVICES") == "1"


def _postgres_url() -> str:
    url = os.environ.get("CALIBER_TEST_DATABASE_URL")
    if not url:
        if REQUIRE_SERVICES:
            pytest.fail("CALIBER_TEST_DATABASE_URL is not set although services are required")
        pytest.skip("no PostgreSQL (set CALIBER_TEST_DATABASE_URL; .ci/run does under CI=true)")
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'm.db'}"
    # a database of its own: the API tests share the main test database
    base = make_url(_postgres_url())
    name = f"{base.database}_migrations"
    admin = build_engine(base.render_as_string(hide_password=False))
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


def test_upgrade_gives_exactly_the_models(fresh_url: str) -> None:
    upgrade(fresh_url)
    engine = build_engine(fresh_url)
    try:
        assert pending_differences(engine) == []
        tables = set(inspect(engine).get_table_names())
        assert {t.name for t in Base.metadata.sorted_tables} <= tables
        assert "alembic_version" in tables
    finally:
        engine.dispose()


def test_downgrade_to_base_and_up_again(fresh_url: str) -> None:
    upgrade(fresh_url)
    downgrade(fresh_url, "base")
    engine = build_engine(fresh_url)
    try:
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    finally:
        engine.dispose()
    upgrade(fresh_url)
    engine = build_engine(fresh_url)
    try:
        assert pending_differences(engine) == []
    finally:
        engine.dispose()


def test_a_model_change_without_a_migration_is_detected(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'drift.db'}"
    upgrade(url)
    engine = build_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text("DROP INDEX ix_scoring_results_score"))
        differences = pending_differences(engine)
    finally:
        engine.dispose()
    assert any("ix_scoring_results_score" in str(d) for d in differences)


def test_result_page_indexes_exist(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ix.db'}"
    upgrade(url)
    engine = build_engine(url)
    try:
        indexes = {
            ix["name"]: ix["column_names"] for ix in inspect(engine).get_indexes("scoring_results")
        }
    finally:
        engine.dispose()
    assert indexes["ix_scoring_results_status_score"] == [
        "run_id",
        "quality_status",
        "score",
        "rank",
    ]
    assert indexes["ix_scoring_results_score"] == ["run_id", "score", "rank"]
    assert indexes["ix_scoring_results_impressions"] == ["run_id", "impressions", "rank"]
    assert indexes["ix_scoring_results_campaign_run"] == ["campaign_id", "run_id"]


_USERS = table(
    "users",
    column("id", Uuid),
    column("firebase_uid", String),
    column("is_active", Boolean),
    column("created_at", DateTime),
    column("updated_at", DateTime),
)
_CAMPAIGNS = table(
    "campaigns",
    *(column(name, Uuid) for name in ("id", "owner_id")),
    *(column(name, String) for name in ("name", "platform", "goal", "channel", "status")),
    column("ctr_sensitivity", Boolean),
    column("min_impressions", Float),
    column("progress_percentage", Integer),
    column("config_snapshot", JSON),
    column("summary", JSON),
    column("created_at", DateTime),
    column("updated_at", DateTime),
)
_RESULTS = table(
    "scoring_results",
    *(column(name, Uuid) for name in ("id", "campaign_id")),
    *(column(name, Integer) for name in ("rank", "percentile_rank")),
    *(column(name, String) for name in ("domain", "quality_status")),
    *(column(name, Float) for name in ("impressions", "score")),
    column("is_outlier", Boolean),
    *(column(name, JSON) for name in ("outlier_flags", "metrics", "score_breakdown")),
)


def _seed_0004(connection: Connection) -> dict[str, uuid.UUID]:
    """A user with a completed campaign (two rows), a failed one whose re-run had
    started over its old rows (one row), and a processing one: the 0004 schema."""
    ids = {name: uuid.uuid4() for name in ("user", "completed", "failed", "processing")}
    now = datetime.now(UTC)
    stamps = {"created_at": now, "updated_at": now}
    connection.execute(
        insert(_USERS).values(id=ids["user"], firebase_uid="u", is_active=True, **stamps)
    )
    for name in ("completed", "failed", "processing"):
        connection.execute(
            insert(_CAMPAIGNS).values(
                id=ids[name],
                owner_id=ids["user"],
                name=name,
                platform="trade_desk",
                goal="awareness",
                channel="display",
                status=name,
                ctr_sensitivity=False,
                min_impressions=250.0,
                progress_percentage=0,
                config_snapshot={"file_upload_id": name},
                summary={"row_count": 2} if name == "completed" else None,
                **stamps,
            )
        )
    for campaign, rank in (("completed", 1), ("completed", 2), ("failed", 1)):
        connection.execute(
            insert(_RESULTS).values(
                id=uuid.uuid4(),
                campaign_id=ids[campaign],
                rank=rank,
                percentile_rank=50,
                domain=f"d{rank}",
                quality_status="good",
                impressions=1000.0,
                score=50.0,
                is_outlier=False,
                outlier_flags=[],
                metrics={},
                score_breakdown={},
            )
        )
    return ids


def _uuid(value: object) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def test_0005_keeps_completed_results_as_their_first_run_and_back(fresh_url: str) -> None:
    upgrade(fresh_url, "0004")
    engine = build_engine(fresh_url)
    try:
        with engine.begin() as connection:
            ids = _seed_0004(connection)
        upgrade(fresh_url)
        with engine.connect() as connection:
            campaigns = {
                _uuid(row.id): row
                for row in connection.execute(
                    text("SELECT id, results_run_id, run_snapshot FROM campaigns")
                )
            }
            rows = connection.execute(
                text("SELECT campaign_id, run_id, rank FROM scoring_results ORDER BY rank")
            ).all()
        completed = campaigns[ids["completed"]]
        assert _uuid(completed.results_run_id) == ids["completed"]
        assert campaigns[ids["failed"]].results_run_id is None
        assert campaigns[ids["processing"]].results_run_id is None
        # a run in flight still finds the file it was started with
        snapshot = campaigns[ids["processing"]].run_snapshot
        found = json.loads(snapshot) if isinstance(snapshot, str) else snapshot
        assert found == {"file_upload_id": "processing"}
        # the completed campaign's rows are its run; the failed one's hidden rows are gone
        assert [(_uuid(r.campaign_id), _uuid(r.run_id), r.rank) for r in rows] == [
            (ids["completed"], ids["completed"], 1),
            (ids["completed"], ids["completed"], 2),
        ]
        assert pending_differences(engine) == []

        downgrade(fresh_url, "0004")
        with engine.connect() as connection:
            kept = connection.execute(text("SELECT campaign_id FROM scoring_results")).all()
            columns = {c["name"] for c in inspect(connection).get_columns("campaigns")}
            users = connection.execute(text("SELECT count(*) FROM users")).scalar()
            campaigns_left = connection.execute(text("SELECT count(*) FROM campaigns")).scalar()
        assert [_uuid(r.campaign_id) for r in kept] == [ids["completed"]] * 2
        assert "results_run_id" not in columns
        assert "run_snapshot" not in columns
        assert (users, campaigns_left) == (1, 3)  # nothing cascaded away
    finally:
        engine.dispose()


def test_0006_adds_reading_choices_and_keeps_the_detected_mapping(fresh_url: str) -> None:
    """The detected mapping (campaigns.column_mapping) moves to column_mapping_used with
    its values, read_options appears on templates, campaigns and uploads, and back;
    nothing referencing campaigns is cascaded away on SQLite."""
    upgrade(fresh_url, "0004")
    engine = build_engine(fresh_url)
    detected = {"Site": "domain", "Impressions": "impressions"}
    try:
        with engine.begin() as connection:
            _seed_0004(connection)
        upgrade(fresh_url, "0005")
        with engine.begin() as connection:
            mapped = table("campaigns", column("name", String), column("column_mapping", JSON))
            connection.execute(
                update(mapped).where(mapped.c.name == "completed").values(column_mapping=detected)
            )
        upgrade(fresh_url)
        with engine.connect() as connection:
            inspector = inspect(connection)
            for name in ("campaign_templates", "campaigns", "file_uploads"):
                assert "read_options" in {c["name"] for c in inspector.get_columns(name)}, name
            row = connection.execute(
                text("SELECT column_mapping_used, read_options FROM campaigns WHERE name = :n"),
                {"n": "completed"},
            ).one()
            rows_kept = connection.execute(text("SELECT count(*) FROM scoring_results")).scalar()
        used = json.loads(row[0]) if isinstance(row[0], str) else row[0]
        assert used == detected
        assert row[1] is None
        assert rows_kept == 2
        assert pending_differences(engine) == []

        downgrade(fresh_url, "0005")
        with engine.connect() as connection:
            columns = {c["name"] for c in inspect(connection).get_columns("campaigns")}
            back = connection.execute(
                text("SELECT column_mapping FROM campaigns WHERE name = :n"), {"n": "completed"}
            ).scalar()
            rows_kept = connection.execute(text("SELECT count(*) FROM scoring_results")).scalar()
        assert "read_options" not in columns
        assert "column_mapping_used" not in columns
        assert (json.loads(back) if isinstance(back, str) else back) == detected
        assert rows_kept == 2
    finally:
        engine.dispose()


def test_0007_keeps_each_campaigns_results_as_its_first_run_and_back(fresh_url: str) -> None:
    """Issue 18: the results a campaign held become its first run (completed, with the
    campaign's snapshot, summary, report and list sizes, its rows still in
    scoring_results); a campaign whose latest run failed or is processing also gets
    that run; and back, nothing else lost."""
    upgrade(fresh_url, "0004")
    engine = build_engine(fresh_url)
    try:
        with engine.begin() as connection:
            ids = _seed_0004(connection)
        upgrade(fresh_url, "0006")
        summary = {"row_count": 2, "lists": {"whitelist_count": 1, "blacklist_count": 0}}
        snapshot = {"file_upload_id": "completed", "weights": {"ctr": 1.0}}
        with engine.begin() as connection:
            more = table(
                "campaigns",
                column("id", Uuid),
                column("summary", JSON),
                column("config_snapshot", JSON),
                column("data_quality_report", JSON),
                column("campaign_level_score", Float),
                column("error_message", String),
                column("started_at", DateTime),
                column("completed_at", DateTime),
            )
            started = datetime(2026, 12, 1, 9, tzinfo=UTC)
            connection.execute(
                update(more)
                .where(more.c.id == ids["completed"])
                .values(
                    summary=summary,
                    config_snapshot=snapshot,
                    data_quality_report={"rows_read": 9},
                    campaign_level_score=61.5,
                    started_at=started,
                    completed_at=datetime(2026, 12, 1, 9, 5, tzinfo=UTC),
                )
            )
            connection.execute(
                update(more)
                .where(more.c.id == ids["failed"])
                .values(error_message="bad file", started_at=started)
            )
        upgrade(fresh_url)
        with engine.connect() as connection:
            runs = connection.execute(
                text(
                    "SELECT id, campaign_id, status, started_at, finished_at, snapshot, summary, "
                    "report, campaign_level_score, row_count, whitelist_count, blacklist_count, "
                    "error_message, storage_key FROM scoring_runs"
                )
            ).all()
            results = {
                _uuid(row.id): _uuid(row.results_run_id)
                for row in connection.execute(
                    text(
                        "SELECT id, results_run_id FROM campaigns WHERE results_run_id IS NOT NULL"
                    )
                )
            }
        by_campaign: dict[uuid.UUID, list[Any]] = {}
        for run in runs:
            by_campaign.setdefault(_uuid(run.campaign_id), []).append(run)
        assert sorted(len(v) for v in by_campaign.values()) == [1, 1, 1]
        (first,) = by_campaign[ids["completed"]]
        assert _uuid(first.id) == results[ids["completed"]]
        assert (first.status, first.row_count, first.campaign_level_score) == ("completed", 2, 61.5)
        assert (first.whitelist_count, first.blacklist_count) == (1, 0)
        assert (_json(first.summary), _json(first.snapshot)) == (summary, snapshot)
        assert _json(first.report) == {"rows_read": 9}
        assert first.storage_key is None  # its rows stay in scoring_results
        (failed,) = by_campaign[ids["failed"]]
        assert (failed.status, failed.error_message) == ("failed", "bad file")
        # a run in flight during the upgrade: its job finds it processing
        (running,) = by_campaign[ids["processing"]]
        assert (running.status, running.finished_at) == ("processing", None)
        assert _json(running.snapshot) == {"file_upload_id": "processing"}
        assert pending_differences(engine) == []

        downgrade(fresh_url, "0006")
        with engine.connect() as connection:
            tables = set(inspect(connection).get_table_names())
            kept = connection.execute(text("SELECT count(*) FROM scoring_results")).scalar()
            pointer = connection.execute(
                text("SELECT results_run_id FROM campaigns WHERE id = :id"),
                {"id": ids["completed"] if "postgres" in fresh_url else ids["completed"].hex},
            ).scalar()
        assert "scoring_runs" not in tables
        assert kept == 2
        assert _uuid(pointer) == results[ids["completed"]]  # rows in SQL: still readable
    finally:
        engine.dispose()


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def test_0008_adds_list_confidence_null_for_existing_setups_and_back(fresh_url: str) -> None:
    """Issue 17: templates and campaigns gain list_confidence, NULL (the classic lists)
    for every existing row; a level set after the upgrade is stored; downgrading drops
    the column and keeps every campaign, run and result row (nothing cascaded away)."""
    upgrade(fresh_url, "0004")
    engine = build_engine(fresh_url)
    try:
        with engine.begin() as connection:
            ids = _seed_0004(connection)
        upgrade(fresh_url, "0007")
        with engine.connect() as connection:
            before = {
                name: connection.execute(text(f"SELECT count(*) FROM {name}")).scalar()
                for name in ("campaigns", "scoring_runs", "scoring_results")
            }
        upgrade(fresh_url, "0008")
        key = ids["completed"] if "postgres" in fresh_url else ids["completed"].hex
        with engine.begin() as connection:
            inspector = inspect(connection)
            for name in ("campaign_templates", "campaigns"):
                assert "list_confidence" in {c["name"] for c in inspector.get_columns(name)}
            levels = connection.execute(text("SELECT list_confidence FROM campaigns")).scalars()
            assert set(levels) == {None}
            connection.execute(
                text("UPDATE campaigns SET list_confidence = 0.8 WHERE id = :id"), {"id": key}
            )
            stored = connection.execute(
                text("SELECT list_confidence FROM campaigns WHERE id = :id"), {"id": key}
            ).scalar()
        assert stored == 0.8

        downgrade(fresh_url, "0007")
        with engine.connect() as connection:
            inspector = inspect(connection)
            for name in ("campaign_templates", "campaigns"):
                assert "list_confidence" not in {c["name"] for c in inspector.get_columns(name)}
            after = {
                name: connection.execute(text(f"SELECT count(*) FROM {name}")).scalar()
                for name in before
            }
        assert after == before
    finally:
        engine.dispose()
