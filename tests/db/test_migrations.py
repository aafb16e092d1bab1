"""Migrations and models agree, on SQLite and (in CI) PostgreSQL."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
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
        "campaign_id",
        "quality_status",
        "score",
        "rank",
    ]
    assert indexes["ix_scoring_results_score"] == ["campaign_id", "score", "rank"]
    assert indexes["ix_scoring_results_impressions"] == ["campaign_id", "impressions", "rank"]
