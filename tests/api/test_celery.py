"""Scoring through real Celery workers on a real Redis (CI starts one; locally set
CALIBER_TEST_REDIS_URL). The worker is a separate `caliber worker` process."""

from __future__ import annotations

import io
import os
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
from caliber.jobs.celery_app import client_app
from caliber.jobs.queue import CeleryJobQueue
from caliber.sample import write_sample

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
    return settings.model_copy(update={"REDIS_URL": REDIS_URL})


@pytest.fixture
def worker(celery_settings: Settings, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        "ENVIRONMENT": "test",
        "DATABASE_URL": celery_settings.database_url,
        "DATA_DIR": str(celery_settings.DATA_DIR),
        "STORAGE_DIR": str(celery_settings.storage_dir),
        "REDIS_URL": celery_settings.REDIS_URL or "",
    }
    log = (tmp_path / "worker.log").open("wb")
    process = subprocess.Popen(
        [CALIBER, "worker", "--concurrency", "1", "--hostname", f"test-{uuid.uuid4().hex[:8]}@%h"],
        env=env,
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()


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


def test_a_real_worker_answers_the_health_check(
    celery_settings: Settings, worker: subprocess.Popen[bytes]
) -> None:
    app = client_app(celery_settings)
    result = app.send_task("health_check")
    answer = result.get(timeout=120)
    assert answer["checks"] == {"database": "ok", "storage": "ok"}
