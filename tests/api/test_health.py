"""The root, liveness and readiness routes, the error body and request ids."""

from __future__ import annotations

import os

import pytest
from fastapi.testclient import TestClient

from caliber.api.app import create_app
from caliber.api.container import Container
from caliber.core.settings import Settings


def test_health_and_root(client: TestClient) -> None:
    assert client.get("/health").json()["data"] == {"status": "ok"}
    root = client.get("/").json()
    assert root["success"] is True
    assert root["data"]["api"] == "/api/v1"


def test_ready_checks_database_and_storage(client: TestClient) -> None:
    body = client.get("/ready").json()
    assert body["data"] == {
        "ready": True,
        "checks": {"database": "ok", "storage": "ok"},
        "jobs": "threads",
    }


def test_ready_checks_the_embedded_broker_folder(settings: Settings) -> None:
    """Celery with no broker configured: the file broker under DATA_DIR is checked."""
    embedded = settings.model_copy(update={"JOB_RUNNER": "celery"})
    with TestClient(create_app(embedded)) as client:
        body = client.get("/ready").json()
        assert body["data"]["jobs"] == "celery-embedded"
        assert body["data"]["checks"]["broker"] == "ok"
        folder = embedded.DATA_DIR / "broker" / "messages"
        folder.rmdir()
        response = client.get("/ready")
    assert response.status_code == 503
    assert response.json()["data"]["checks"]["broker"].startswith("unavailable")


def test_ready_answers_503_when_storage_is_unavailable(
    client: TestClient, container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken() -> None:
        raise OSError("disk gone")

    monkeypatch.setattr(container.storage, "ping", broken)
    response = client.get("/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["success"] is False
    assert body["data"]["checks"] == {"database": "ok", "storage": "unavailable: OSError"}


def test_unknown_route_has_the_error_body(client: TestClient) -> None:
    response = client.get("/api/v1/nope")
    assert response.status_code == 404
    assert response.json() == {
        "success": False,
        "error": "not_found",
        "message": "Not Found",
        "details": {},
    }


def test_request_id_is_echoed_or_made(client: TestClient) -> None:
    assert (
        client.get("/health", headers={"X-Request-ID": "abc123"}).headers["x-request-id"]
        == "abc123"
    )
    made = client.get("/health", headers={"X-Request-ID": "bad id!"}).headers["x-request-id"]
    assert len(made) == 32


def test_ready_checks_redis_when_configured(settings: Settings, free_tcp_port: int) -> None:
    down = settings.model_copy(update={"REDIS_URL": f"redis://127.0.0.1:{free_tcp_port}/0"})
    with TestClient(create_app(down, Container.build(down))) as client:
        response = client.get("/ready")
    assert response.status_code == 503
    assert response.json()["data"]["checks"]["redis"].startswith("unavailable")
    url = os.environ.get("CALIBER_TEST_REDIS_URL")
    if url is None:
        return  # the reachable case needs the Redis that CI starts
    up = settings.model_copy(update={"REDIS_URL": url})
    with TestClient(create_app(up, Container.build(up))) as client:
        body = client.get("/ready").json()
    assert body["data"]["checks"]["redis"] == "ok"
