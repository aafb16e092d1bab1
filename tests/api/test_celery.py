"""Scoring through real Celery workers on a real Redis (CI starts one; locally set
CALIBER_TEST_REDIS_URL). The worker is a separate `caliber worker` process."""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
from fastapi.testclient import TestClient

from caliber.api.app import create_app
from caliber.api.container import Container
from caliber.core.settings import Settings
from caliber.db.models import OrganizationStatistics
from caliber.jobs.celery_app import client_app
from caliber.jobs.queue import CeleryJobQueue
from caliber.sample.export import write_sample
from tests.api.test_scoring import attach

REDIS_URL = os.environ.get("CALIBER_TEST_REDIS_URL")
REQUIRED = os.environ.get("CALIBER_REQUIRE_SERVICES") == "1"
CALIBER = str(Path(sys.executable).parent / "caliber")
API = "/api/v1"


def _flush(url: str) -> None:
    parsed = urlparse(url)
    with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 6379), 5) as c:
        c.sendall(b"*1\r\n$7\r\nFLUSHDB\r\n")
        assert c.recv(16).startswith(b"+OK")


@pytest.fixture
def celery_settings(settings: Settings, tmp_path: Path) -> Settings:
    if not REDIS_URL:
        if REQUIRED:
            pytest.fail("CALIBER_TEST_REDIS_URL is not set although services are required")
        pytest.skip("no Redis (set CALIBER_TEST_REDIS_URL; .ci/run does under CI=true)")
    _flush(REDIS_URL)
    return settings.model_copy(update={"REDIS_URL": REDIS_URL, "JOB_RUNNER": "celery"})


def start_worker(
    settings: Settings, log_path: Path, *, beat: bool = False
) -> subprocess.Popen[bytes]:
    """`caliber worker` (or `caliber beat`) in its own process group, configured like
    ``settings``."""
    env = {
        **os.environ,
        "ENVIRONMENT": "test",
        "DATABASE_URL": settings.database_url,
        "DATA_DIR": str(settings.DATA_DIR),
        "STORAGE_DIR": str(settings.storage_dir),
        "REDIS_URL": settings.REDIS_URL or "",
        "CELERY_VISIBILITY_TIMEOUT": str(settings.CELERY_VISIBILITY_TIMEOUT or ""),
        "CELERY_MONITOR_INTERVAL": str(settings.CELERY_MONITOR_INTERVAL),
    }
    command = (
        [CALIBER, "worker", "--concurrency", "1", "--hostname", f"t-{uuid.uuid4().hex[:8]}@%h"]
        if not beat
        else [CALIBER, "beat", "--schedule-file", str(log_path.parent / "beat-schedule")]
    )
    with log_path.open("ab") as log:
        return subprocess.Popen(
            command,
            env=env,
            cwd=log_path.parent,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop_worker(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@pytest.fixture
def worker(celery_settings: Settings, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    process = start_worker(celery_settings, tmp_path / "worker.log")
    try:
        yield process
    finally:
        stop_worker(process)


def test_the_api_enqueues_through_celery_when_redis_is_set(celery_settings: Settings) -> None:
    container = Container.build(celery_settings)
    assert isinstance(container.jobs, CeleryJobQueue)
    container.close()


def test_a_real_worker_scores_an_upload_end_to_end(
    celery_settings: Settings,
    worker: subprocess.Popen[bytes],
    tmp_path: Path,
    auth: Callable[[str], dict[str, str]],
) -> None:
    export = tmp_path / "export.csv"
    write_sample(export, "trade_desk", "display", rows=3000, seed=4)
    alice = auth("celery-alice")
    container = Container.build(celery_settings)
    with TestClient(create_app(celery_settings, container)) as client:
        created = client.post(
            f"{API}/campaigns",
            json={"name": "c", "platform": "trade_desk", "goal": "awareness", "channel": "display"},
            headers=alice,
        )
        campaign_id = created.json()["data"]["id"]
        uploaded = client.post(
            f"{API}/campaigns/{campaign_id}/upload",
            files={"file": ("export.csv", io.BytesIO(export.read_bytes()), "text/csv")},
            headers=alice,
        )
        assert uploaded.status_code == 201, uploaded.text
        started = client.post(
            f"{API}/scoring/start", json={"campaign_id": campaign_id}, headers=alice
        )
        assert started.status_code == 202, started.text
        deadline = time.monotonic() + 120
        while True:
            progress = client.get(f"{API}/scoring/progress/{campaign_id}", headers=alice)
            status = progress.json()["data"]["status"]
            if status in ("completed", "failed"):
                break
            assert worker.poll() is None, "the worker died"
            assert time.monotonic() < deadline, progress.json()
            time.sleep(0.5)
        assert status == "completed", progress.json()
        summary = client.get(f"{API}/scoring/summary/{campaign_id}", headers=alice).json()
        assert summary["data"]["row_count"] > 0
        # the scoring task hands over to send_completion_notification (notifications queue)
        deadline = time.monotonic() + 60
        while client.get(f"{API}/notifications", headers=alice).json()["total"] == 0:
            assert time.monotonic() < deadline, "no notification arrived"
            time.sleep(0.5)
        # ... and then to update_campaign_statistics (maintenance queue)
        deadline = time.monotonic() + 60
        while True:
            with container.sessions() as session:
                cached = session.get(OrganizationStatistics, _organization_id(client, alice))
                if cached is not None and cached.figures["campaigns"]["completed"] == 1:
                    break
            assert time.monotonic() < deadline, "the statistics were not refreshed"
            time.sleep(0.5)

        # a background export goes through the exports queue and comes back downloadable
        queued = client.post(
            f"{API}/reports/exports",
            json={"campaign_id": campaign_id, "format": "pdf"},
            headers=alice,
        )
        assert queued.status_code == 202, queued.text
        export_id = queued.json()["data"]["id"]
        deadline = time.monotonic() + 120
        while True:
            state = client.get(f"{API}/reports/exports/{export_id}", headers=alice).json()
            if state["data"]["status"] in ("completed", "failed"):
                break
            assert time.monotonic() < deadline, state
            time.sleep(0.5)
        assert state["data"]["status"] == "completed", state
        pdf = client.get(f"{API}/reports/exports/{export_id}/download", headers=alice)
        assert pdf.content.startswith(b"%PDF")


def _organization_id(client: TestClient, headers: dict[str, str]) -> uuid.UUID:
    """The caller's personal organization, whose figures their campaigns change."""
    (personal,) = client.get(f"{API}/organizations", headers=headers).json()["data"]
    return uuid.UUID(personal["id"])


def test_a_real_worker_answers_the_health_check(
    celery_settings: Settings, worker: subprocess.Popen[bytes]
) -> None:
    app = client_app(celery_settings)
    result = app.send_task("health_check")
    answer = result.get(timeout=120)
    assert answer["checks"] == {"database": "ok", "storage": "ok"}


def test_killing_a_worker_mid_scoring_loses_nothing(
    celery_settings: Settings, tmp_path: Path, auth: Callable[[str], dict[str, str]]
) -> None:
    """SIGKILL the worker while it scores; a new worker picks the task up again (after the
    visibility timeout) and the campaign ends completed with exactly one set of results."""
    settings = celery_settings.model_copy(update={"CELERY_VISIBILITY_TIMEOUT": 10})
    export = tmp_path / "big.csv"
    write_sample(export, "trade_desk", "display", rows=1_000_000, seed=6)
    alice = auth("celery-kill")
    container = Container.build(settings)
    first = start_worker(settings, tmp_path / "first.log")
    second: subprocess.Popen[bytes] | None = None
    try:
        with TestClient(create_app(settings, container)) as client:
            created = client.post(
                f"{API}/campaigns",
                json={
                    "name": "k",
                    "platform": "trade_desk",
                    "goal": "awareness",
                    "channel": "display",
                },
                headers=alice,
            )
            campaign_id = created.json()["data"]["id"]
            attach(container, campaign_id, export.read_bytes(), export.name)
            started = client.post(
                f"{API}/scoring/start", json={"campaign_id": campaign_id}, headers=alice
            )
            assert started.status_code == 202, started.text

            def progress() -> dict[str, object]:
                url = f"{API}/scoring/progress/{campaign_id}"
                data: dict[str, object] = client.get(url, headers=alice).json()["data"]
                return data

            deadline = time.monotonic() + 120
            while progress()["current_step"] in (None, "queued"):  # not picked up yet
                assert first.poll() is None, (tmp_path / "first.log").read_text()
                assert time.monotonic() < deadline
                time.sleep(0.02)
            os.killpg(first.pid, signal.SIGKILL)  # the worker and its pool, mid-task
            first.wait(timeout=10)
            state = progress()
            assert state["status"] == "processing", state
            second = start_worker(settings, tmp_path / "second.log")
            deadline = time.monotonic() + 150
            while (state := progress())["status"] == "processing":
                assert second.poll() is None, (tmp_path / "second.log").read_text()
                assert time.monotonic() < deadline, state
                time.sleep(0.5)
            assert state["status"] == "completed", state
            summary = client.get(f"{API}/scoring/summary/{campaign_id}", headers=alice).json()
            total = client.get(
                f"{API}/scoring/results/{campaign_id}", params={"per_page": 1}, headers=alice
            ).json()["total"]
            assert total == summary["data"]["row_count"] > 0
    finally:
        stop_worker(first)
        if second is not None:
            stop_worker(second)
        container.close()
