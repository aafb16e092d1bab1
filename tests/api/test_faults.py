"""Faults of the services Caliber depends on, with the app running:

- Redis stopped during use: reads are still served, the insight cache is bypassed, rate
  limits fall back to this process, new jobs are refused with 503 (and the campaign
  says why), /ready reports it; with Redis back, jobs are accepted again.
- PostgreSQL stopped and started: requests fail cleanly (503), then succeed again
  without restarting Caliber.
(A worker killed mid-task is in test_celery.py; a slow or failing OpenAI-compatible
server in test_ai.py.)"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from caliber.api.app import create_app
from caliber.api.container import Container
from caliber.core.settings import Settings
from tests.api.test_scoring import API, attach, create_campaign, scored_campaign
from tests.engine.exports import make_export

REQUIRED = os.environ.get("CALIBER_REQUIRE_SERVICES") == "1"
CSV = make_export("trade_desk", "display", seed=95).encode()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PrivateRedis:
    """A redis-server of this test alone, which it can stop and start."""

    def __init__(self, workdir: Path) -> None:
        self.port = _free_port()
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary is not None
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), 0.2) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    if shutil.which("redis-server") is None:
        if REQUIRED:
            pytest.fail("redis-server is not installed although services are required")
        pytest.skip("redis-server is not installed (.ci/run installs it under CI=true)")
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.stop()


def test_redis_stopped_during_use(
    settings: Settings,
    redis: PrivateRedis,
    auth: Callable[[str], dict[str, str]],
) -> None:
    on_redis = settings.model_copy(
        update={"REDIS_URL": redis.url, "JOB_RUNNER": "celery", "MAX_REQUESTS_PER_MINUTE": 3}
    )
    container = Container.build(on_redis)
    # a campaign scored earlier (results written directly: no worker runs in this test)
    threads = Container.build(settings.model_copy(update={"JOB_RUNNER": "threads"}))
    alice = auth("fault-redis")
    with TestClient(create_app(settings, threads)) as plain:
        scored = scored_campaign(plain, threads, alice, CSV)
    with TestClient(create_app(on_redis, container)) as client:
        assert client.get("/ready").json()["data"]["checks"]["redis"] == "ok"
        insight = {"campaign_id": scored, "insight_type": "performance"}
        assert (
            client.post(f"{API}/ai/insights/generate", json=insight, headers=alice).json()["data"][
                "cached"
            ]
            is False
        )
        assert (
            client.post(f"{API}/ai/insights/generate", json=insight, headers=alice).json()["data"][
                "cached"
            ]
            is True
        )

        redis.stop()
        # reads are served
        assert client.get(f"{API}/campaigns", headers=alice).status_code == 200
        assert client.get(f"{API}/scoring/summary/{scored}", headers=alice).status_code == 200
        # /ready says what is missing
        ready = client.get("/ready")
        assert ready.status_code == 503
        assert ready.json()["data"]["checks"]["redis"].startswith("unavailable")
        # the cache is bypassed (a new insight), limits hold in this process
        started = time.monotonic()
        fresh = client.post(f"{API}/ai/insights/generate", json=insight, headers=alice)
        assert fresh.status_code == 200, fresh.text
        assert time.monotonic() - started < 5
        assert container.ai.limiter.backend == "memory (Redis unavailable)"
        # this process counts from the fallback on: 1 insight + 2 chats, then refused
        statuses = [
            client.post(f"{API}/ai/chat", json={"message": "hi"}, headers=alice).status_code
            for _ in range(3)
        ]
        assert statuses == [200, 200, 429]
        # a new job is refused, and the campaign says so (never lost silently)
        pending = create_campaign(client, alice)
        attach(container, pending, CSV)
        refused = client.post(f"{API}/scoring/start", json={"campaign_id": pending}, headers=alice)
        assert refused.status_code == 503
        assert "queue is unavailable" in refused.json()["message"]
        progress = client.get(f"{API}/scoring/progress/{pending}", headers=alice).json()["data"]
        assert progress["status"] == "failed"
        assert "could not be queued" in progress["error_message"]
        exported = client.post(
            f"{API}/reports/exports",
            json={"campaign_id": scored, "format": "summary_csv"},
            headers=alice,
        )
        assert exported.status_code == 503
        assert client.get(f"{API}/reports/exports", headers=alice).json()["data"] == []

        redis.start()
        again = client.post(f"{API}/scoring/start", json={"campaign_id": pending}, headers=alice)
        assert again.status_code == 202, again.text
        assert client.get("/ready").status_code == 200
    container.close()
    threads.close()


@pytest.fixture
def pg_ctl(database_url: str) -> str:
    assert database_url.startswith("postgresql")
    command = os.environ.get("CALIBER_TEST_PG_CTL")
    if not command:
        if REQUIRED:
            pytest.fail("CALIBER_TEST_PG_CTL is not set although services are required")
        pytest.skip("no pg_ctl wrapper (.ci/run sets CALIBER_TEST_PG_CTL under CI=true)")
    return command


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_postgresql_restart_fails_cleanly_then_recovers(
    client: TestClient, container: Container, pg_ctl: str, auth: Callable[[str], dict[str, str]]
) -> None:
    alice = auth("fault-pg")
    campaign_id = create_campaign(client, alice)
    assert client.get(f"{API}/campaigns/{campaign_id}", headers=alice).status_code == 200
    subprocess.run([pg_ctl, "stop"], check=True, capture_output=True)
    try:
        down = client.get(f"{API}/campaigns/{campaign_id}", headers=alice)
        assert down.status_code == 503, down.text
        assert down.json()["error"] == "database_unavailable"
        assert client.get("/ready").status_code == 503
        assert client.get("/health").status_code == 200  # the process itself is alive
    finally:
        subprocess.run([pg_ctl, "start"], check=True, capture_output=True)
    deadline = time.monotonic() + 30
    while True:  # recovers without restarting Caliber
        back = client.get(f"{API}/campaigns/{campaign_id}", headers=alice)
        if back.status_code == 200:
            break
        assert time.monotonic() < deadline, back.text
        time.sleep(0.2)
    assert client.get("/ready").status_code == 200
    created = create_campaign(client, alice)
    assert client.get(f"{API}/campaigns/{created}", headers=alice).status_code == 200
