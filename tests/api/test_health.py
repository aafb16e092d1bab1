"""The root, liveness and readiness routes, the error body and request ids."""

from __future__ import annotations

import os
import re
from typing import Any

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


# --- HTTP methods: OPTIONS and undeclared methods get the path's complete Allow ------------

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD")


def _concrete(path: str) -> str:
    """A URL of the documented ``path``: ids as UUIDs, other parameters as plain words
    that no literal segment spells."""
    path = path.replace("{kind}", "whitelist")
    path = re.sub(r"\{[a-z_]*id\}", "8a2f4c3e-5b1d-4e6f-9a7b-0c1d2e3f4a5b", path)
    return re.sub(r"\{[a-z_]+\}", "word1", path)


def _documented_methods(document: dict[str, Any]) -> dict[str, set[str]]:
    """URL -> every method the document declares for it (two documented paths can be one
    URL: GET /ai/insights/{campaign_id} and DELETE /ai/insights/{insight_id})."""
    found: dict[str, set[str]] = {}
    for path, operations in document["paths"].items():
        found.setdefault(_concrete(path), set()).update(m.upper() for m in operations)
    return found


def _allow(response: Any) -> set[str]:
    return {m.strip() for m in response.headers["allow"].split(",")}


def test_options_and_undeclared_methods_name_every_method_of_the_path(
    client: TestClient,
) -> None:
    documented = _documented_methods(client.app.openapi())  # type: ignore[attr-defined]
    assert len(documented) > 50
    for url, methods in documented.items():
        expected = methods | {"OPTIONS"}
        options = client.options(url)
        assert options.status_code == 204, (url, options.text)
        assert _allow(options) == expected, url
        assert options.content == b""
        for method in set(METHODS) - methods:
            refused = client.request(method, url)
            assert refused.status_code == 405, (method, url, refused.text)
            assert _allow(refused) == expected, (method, url)
            if method != "HEAD":
                assert refused.json()["error"] == "method_not_allowed"


@pytest.mark.parametrize(
    ("method", "url", "allow"),
    [
        # each reached a route of another method whose path parameter matched: 422
        ("DELETE", "/api/v1/campaigns/statistics", {"GET", "OPTIONS"}),
        ("DELETE", "/api/v1/campaigns/templates", {"GET", "POST", "OPTIONS"}),
        ("GET", "/api/v1/ai/insights/generate", {"POST", "OPTIONS"}),
        ("DELETE", "/api/v1/ai/insights/types", {"GET", "OPTIONS"}),
        # answered 405 naming only the first route's methods
        ("PATCH", "/api/v1/ai/insights/8a2f4c3e-5b1d-4e6f-9a7b-0c1d2e3f4a5b", None),
    ],
)
def test_an_undeclared_method_is_a_405_not_a_422(
    client: TestClient, method: str, url: str, allow: set[str] | None
) -> None:
    response = client.request(method, url)
    assert response.status_code == 405, response.text
    assert _allow(response) == (allow or {"GET", "DELETE", "OPTIONS"})
    assert response.json()["error"] == "method_not_allowed"
    assert method in response.json()["message"]


def test_a_cors_preflight_is_still_answered_by_cors(settings: Settings) -> None:
    with_cors = settings.model_copy(update={"BACKEND_CORS_ORIGINS": ["https://app.example"]})
    with TestClient(create_app(with_cors, Container.build(with_cors))) as client:
        preflight = client.options(
            "/api/v1/campaigns",
            headers={
                "Origin": "https://app.example",
                "Access-Control-Request-Method": "POST",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "https://app.example"
        simple = client.get("/api/v1/auth/optional", headers={"Origin": "https://app.example"})
        exposed = {
            h.strip().lower() for h in simple.headers["access-control-expose-headers"].split(",")
        }
        assert {"x-request-id", "x-results-stale", "retry-after"} <= exposed
        plain = client.options("/api/v1/campaigns")  # no preflight: the methods
        assert plain.status_code == 204
        assert _allow(plain) == {"GET", "POST", "OPTIONS"}
