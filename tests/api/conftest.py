"""API test fixtures: a migrated database (SQLite always, PostgreSQL when CI provides
one), a local certificate server with locally generated keys, and a client."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from caliber.api.app import create_app
from caliber.api.container import Container
from caliber.core.settings import Environment, Settings
from caliber.db.base import Base
from caliber.db.migrate import upgrade
from caliber.db.session import build_engine
from tests.api.firebase import PROJECT_ID, CertServer, SigningKey, make_key, mint

REQUIRE_SERVICES = os.environ.get("CALIBER_REQUIRE_SERVICES") == "1"
PG_URL = os.environ.get("CALIBER_TEST_DATABASE_URL")


@pytest.fixture(scope="session")
def signing_key() -> SigningKey:
    return make_key("test-key-1")


@pytest.fixture(scope="session")
def certs(signing_key: SigningKey) -> Iterator[CertServer]:
    server = CertServer([signing_key])
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("db") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_migrated() -> str:
    if not PG_URL:
        if REQUIRE_SERVICES:
            pytest.fail("CALIBER_TEST_DATABASE_URL is not set although services are required")
        pytest.skip("no PostgreSQL (set CALIBER_TEST_DATABASE_URL; .ci/run does under CI=true)")
    upgrade(PG_URL)
    return PG_URL


def _truncate_postgres(url: str) -> None:
    engine = build_engine(url)
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    try:
        with engine.begin() as connection:
            connection.execute(text(f"TRUNCATE {tables} CASCADE"))
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database for one test, on each backend."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        target = tmp_path / "caliber.db"
        shutil.copyfile(template, target)
        return f"sqlite:///{target}"
    url: str = request.getfixturevalue("postgres_migrated")
    _truncate_postgres(url)
    return url


@pytest.fixture
def settings(database_url: str, tmp_path: Path, certs: CertServer) -> Settings:
    return Settings(
        _env_file=None,
        ENVIRONMENT=Environment.TEST,
        DATA_DIR=tmp_path / "data",
        DATABASE_URL=database_url,
        FIREBASE_PROJECT_ID=PROJECT_ID,
        FIREBASE_CERTS_URL=certs.url,
        AUTH_DEV_MODE=False,
        MAX_UPLOAD_MB=1,
        JOB_RUNNER="threads",
    )


@pytest.fixture
def container(settings: Settings) -> Container:
    return Container.build(settings)


@pytest.fixture
def client(settings: Settings, container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(settings, container)) as test_client:
        yield test_client


@pytest.fixture
def token_for(signing_key: SigningKey) -> Callable[..., str]:
    def make(uid: str, **claims: object) -> str:
        return mint(signing_key, uid, **claims)  # type: ignore[arg-type]

    return make


@pytest.fixture
def auth(token_for: Callable[..., str]) -> Callable[[str], dict[str, str]]:
    """Headers of a signed-in user: ``auth("alice")``."""

    def headers(uid: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token_for(uid, email=f'{uid}@example.com')}"}

    return headers


@pytest.fixture
def score_as(
    client: TestClient, container: Container, auth: Callable[[str], dict[str, str]]
) -> Callable[[str, bytes], tuple[str, dict[str, str]]]:
    """``score_as(uid, export_bytes)``: a campaign of that signed-in user, scored; its id
    and the user's headers."""
    from tests.api.test_scoring import scored_campaign  # (it imports run_jobs from here)

    def make(uid: str, data: bytes) -> tuple[str, dict[str, str]]:
        headers = auth(uid)
        return scored_campaign(client, container, headers, data), headers

    return make


def run_jobs(container: Container) -> None:
    """Wait for the background jobs enqueued so far."""
    container.jobs.join(timeout=120)
