"""The auth routes: sign-in with a Firebase ID token, the profile, 401/422/503, dev sign-in."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx2
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import func, select, update

from caliber.api.app import create_app
from caliber.api.container import Container
from caliber.auth.service import DEV_CLAIMS, DEV_UID, get_or_create_user
from caliber.auth.verifier import Claims
from caliber.core.settings import Environment, Settings
from caliber.db.models import User
from tests.api.firebase import PROJECT_ID, CertServer, SigningKey, make_key, mint

LOGIN = "/api/v1/auth/login"
PROFILE = "/api/v1/auth/profile"
USER_FIELDS = {"id", "email", "name", "firebase_uid", "is_active", "created_at", "last_login_at"}

TokenFor = Callable[..., str]
Auth = Callable[[str], dict[str, str]]


@pytest.fixture(scope="module")
def stranger_key() -> SigningKey:
    """A key the certificate server does not publish."""
    return make_key("stranger")


def _users(container: Container) -> list[User]:
    with container.sessions() as session:
        return list(session.scalars(select(User).order_by(User.created_at)))


def _count_users(container: Container) -> int:
    with container.sessions() as session:
        return session.scalar(select(func.count()).select_from(User)) or 0


def _assert_unauthenticated(response: httpx2.Response, context: str = "") -> None:
    assert response.status_code == 401, (context, response.text)
    assert response.headers.get("www-authenticate") == "Bearer", context
    body = response.json()
    assert set(body) == {"success", "error", "message", "details"}
    assert body["success"] is False
    assert body["error"] == "unauthenticated"
    assert isinstance(body["message"], str)
    assert body["message"]
    assert isinstance(body["details"], dict)


def _assert_validation_error(response: httpx2.Response, field: str) -> None:
    assert response.status_code == 422, (field, response.text)
    body = response.json()
    assert body["success"] is False
    assert body["error"] == "validation_error"
    assert set(body) == {"success", "error", "message", "details"}
    assert field in {problem["field"] for problem in body["details"]["errors"]}


def _aware(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    assert parsed.tzinfo is not None, value
    return parsed


# --- login ----------------------------------------------------------------------------------


def test_login_creates_the_user_once(
    client: TestClient, container: Container, token_for: TokenFor
) -> None:
    token = token_for("alice", email="alice@example.com", name="Alice")
    first = client.post(LOGIN, json={"token": token})
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["success"] is True
    assert body["message"] == "signed in"
    user = body["data"]
    assert set(user) == USER_FIELDS
    assert user["firebase_uid"] == "alice"
    assert user["email"] == "alice@example.com"
    assert user["name"] == "Alice"
    assert user["is_active"] is True
    uuid.UUID(user["id"])
    _aware(user["created_at"])
    first_login = _aware(user["last_login_at"])

    second = client.post(LOGIN, json={"token": token_for("alice", email="alice@example.com")})
    assert second.status_code == 200
    again = second.json()["data"]
    assert again["id"] == user["id"]
    assert _aware(again["last_login_at"]) >= first_login

    rows = _users(container)
    assert [row.firebase_uid for row in rows] == ["alice"]
    assert rows[0].last_login_at is not None
    assert str(rows[0].id) == user["id"]


def test_login_keeps_the_account_of_another_user_with_the_same_email(
    client: TestClient, container: Container, token_for: TokenFor
) -> None:
    assert client.post(LOGIN, json={"token": token_for("a", email="x@example.com")}).is_success
    second = client.post(LOGIN, json={"token": token_for("b", email="x@example.com")})
    assert second.status_code == 200
    assert second.json()["data"]["email"] is None
    assert {row.firebase_uid: row.email for row in _users(container)} == {
        "a": "x@example.com",
        "b": None,
    }


def test_login_with_a_bad_token_is_401(client: TestClient, container: Container) -> None:
    for token in ("abc", "a.b.c", "not-a-token.at.all", "Bearer x.y.z"):
        _assert_unauthenticated(client.post(LOGIN, json={"token": token}), token)
    assert _count_users(container) == 0


def test_login_with_an_expired_or_foreign_token_is_401(
    client: TestClient, container: Container, token_for: TokenFor, stranger_key: SigningKey
) -> None:
    for token in (
        token_for("alice", exp=1_000_000),
        token_for("alice", project="someone-else"),
        mint(stranger_key, "alice"),
    ):
        _assert_unauthenticated(client.post(LOGIN, json={"token": token}))
    assert _count_users(container) == 0


LOGIN_422: list[tuple[dict[str, Any], str]] = [
    ({"token": "x", "uid": "admin"}, "uid"),
    ({"token": "x", "firebase_uid": "admin"}, "firebase_uid"),
    ({}, "token"),
    ({"token": ""}, "token"),
    ({"token": None}, "token"),
    ({"token": 123}, "token"),
    ({"token": "x" * 20_000}, "token"),
]


def test_login_rejects_bad_bodies_with_422(client: TestClient, container: Container) -> None:
    for body, field in LOGIN_422:
        _assert_validation_error(client.post(LOGIN, json=body), field)
    assert _count_users(container) == 0


def test_login_rejects_a_non_json_body(client: TestClient) -> None:
    response = client.post(LOGIN, content=b"token=abc", headers={"Content-Type": "text/plain"})
    assert response.status_code == 422
    assert response.json()["error"] == "validation_error"


def test_a_disabled_account_cannot_sign_in(
    client: TestClient, container: Container, token_for: TokenFor, auth: Auth
) -> None:
    assert client.post(LOGIN, json={"token": token_for("alice")}).is_success
    with container.sessions() as session:
        session.execute(update(User).values(is_active=False))
        session.commit()
    _assert_unauthenticated(client.post(LOGIN, json={"token": token_for("alice")}))
    _assert_unauthenticated(client.get(PROFILE, headers=auth("alice")))


# --- the certificate server down ------------------------------------------------------------


def test_login_answers_503_while_the_certificate_server_is_down(
    client: TestClient, container: Container, certs: CertServer, token_for: TokenFor
) -> None:
    assert container.verifier is not None
    cache = container.verifier._certificates  # this test's container: its cache is cold
    assert cache.fetches == 0
    token = token_for("alice")
    certs.up = False
    try:
        response = client.post(LOGIN, json={"token": token})
        profile = client.get(PROFILE, headers={"Authorization": f"Bearer {token}"})
    finally:
        certs.up = True
    for answer in (response, profile):
        assert answer.status_code == 503, answer.text
        body = answer.json()
        assert body["success"] is False
        assert body["error"] == "upstream_unavailable"
        assert "www-authenticate" not in answer.headers
    assert _count_users(container) == 0
    # back up: the failure was not cached
    assert client.post(LOGIN, json={"token": token}).status_code == 200


def test_login_answers_503_when_the_certificate_server_is_unreachable(
    database_url: str, tmp_path: Path, signing_key: SigningKey
) -> None:
    settings = _settings(database_url, tmp_path, certs_url="http://127.0.0.1:9/certs")
    with TestClient(create_app(settings, Container.build(settings))) as client:
        response = client.post(LOGIN, json={"token": mint(signing_key, "alice")})
    assert response.status_code == 503
    assert response.json()["error"] == "upstream_unavailable"


# --- profile --------------------------------------------------------------------------------


def test_profile_get_and_put(client: TestClient, container: Container, auth: Auth) -> None:
    headers = auth("alice")
    got = client.get(PROFILE, headers=headers)
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["success"] is True
    user = body["data"]
    assert set(user) == USER_FIELDS
    assert user["firebase_uid"] == "alice"
    assert user["email"] == "alice@example.com"
    _aware(user["created_at"])

    put = client.put(PROFILE, headers=headers, json={"name": "  Alice Liddell  "})
    assert put.status_code == 200, put.text
    assert put.json()["data"]["name"] == "Alice Liddell"
    assert put.json()["data"]["id"] == user["id"]

    again = client.get(PROFILE, headers=headers).json()["data"]
    assert again["name"] == "Alice Liddell"
    assert again["created_at"] == user["created_at"]
    assert [(row.firebase_uid, row.name) for row in _users(container)] == [
        ("alice", "Alice Liddell")
    ]


def test_profile_name_of_200_characters_is_accepted(client: TestClient, auth: Auth) -> None:
    name = "n" * 200
    response = client.put(PROFILE, headers=auth("alice"), json={"name": f" {name} "})
    assert response.status_code == 200
    assert response.json()["data"]["name"] == name


PROFILE_422: list[tuple[dict[str, Any], str]] = [
    ({"name": ""}, "name"),
    ({"name": "   "}, "name"),
    ({"name": "n" * 201}, "name"),
    ({"name": None}, "name"),
    ({"name": 42}, "name"),
    ({}, "name"),
    ({"name": "Alice", "email": "root@example.com"}, "email"),
    ({"name": "Alice", "is_active": False}, "is_active"),
    ({"name": "Alice", "firebase_uid": "bob"}, "firebase_uid"),
]


def test_profile_put_rejects_bad_bodies_with_422(
    client: TestClient, container: Container, auth: Auth
) -> None:
    headers = auth("alice")
    assert client.put(PROFILE, headers=headers, json={"name": "Alice"}).status_code == 200
    for body, field in PROFILE_422:
        _assert_validation_error(client.put(PROFILE, headers=headers, json=body), field)
    rows = _users(container)
    assert [(row.firebase_uid, row.name, row.email, row.is_active) for row in rows] == [
        ("alice", "Alice", "alice@example.com", True)
    ]


def test_profiles_are_per_user(client: TestClient, auth: Auth) -> None:
    client.put(PROFILE, headers=auth("alice"), json={"name": "Alice"})
    client.put(PROFILE, headers=auth("bob"), json={"name": "Bob"})
    assert client.get(PROFILE, headers=auth("alice")).json()["data"]["name"] == "Alice"
    assert client.get(PROFILE, headers=auth("bob")).json()["data"]["name"] == "Bob"


# --- 401 ------------------------------------------------------------------------------------


BAD_HEADERS: list[dict[str, str]] = [
    {},
    {"Authorization": ""},
    {"Authorization": "Token x"},
    {"Authorization": "Bearer "},
    {"Authorization": "Bearer"},
    {"Authorization": "Basic YWxpY2U6c2VjcmV0"},
    {"Authorization": "Bearer not-a-jwt"},
    {"Authorization": "Bearer a.b.c"},
]


def test_profile_without_a_valid_token_is_401(
    client: TestClient, container: Container, token_for: TokenFor
) -> None:
    valid = token_for("alice")
    other_schemes = [{"Authorization": f"{scheme} {valid}"} for scheme in ("Token", "JWT", "Basic")]
    for headers in [*BAD_HEADERS, *other_schemes, {"Authorization": valid}]:
        for method in ("GET", "PUT"):
            response = client.request(method, PROFILE, headers=headers, json={"name": "Mallory"})
            _assert_unauthenticated(response, f"{method} {headers}")
    assert _count_users(container) == 0
    # the scheme is case-insensitive (RFC 7235)
    assert client.get(PROFILE, headers={"Authorization": f"bearer {valid}"}).status_code == 200


def test_profile_with_a_forged_or_expired_token_is_401(
    client: TestClient,
    container: Container,
    token_for: TokenFor,
    signing_key: SigningKey,
    stranger_key: SigningKey,
) -> None:
    impostor = SigningKey(signing_key.kid, stranger_key.private_key, stranger_key.certificate_pem)
    forged = mint(impostor, "alice")  # the published kid, another private key
    for token in (forged, token_for("alice", exp=1_000_000), token_for("alice", aud="other")):
        _assert_unauthenticated(client.get(PROFILE, headers={"Authorization": f"Bearer {token}"}))
    assert _count_users(container) == 0


# --- concurrent first sign-ins --------------------------------------------------------------


def test_concurrent_first_logins_create_one_user(
    client: TestClient,  # its lifespan closes the container (engine, pool, job threads)
    container: Container,
) -> None:
    workers = 8
    barrier = threading.Barrier(workers)
    claims = Claims(uid="racer", email="racer@example.com", name="Racer")

    def sign_in(_: int) -> uuid.UUID:
        with container.sessions() as session:
            barrier.wait(timeout=10)
            user = get_or_create_user(session, claims, touch_login=True)
            session.commit()
            return user.id

    with ThreadPoolExecutor(workers) as pool:
        ids = list(pool.map(sign_in, range(workers)))
    assert len(set(ids)) == 1
    rows = _users(container)
    assert [(row.id, row.firebase_uid, row.email) for row in rows] == [
        (ids[0], "racer", "racer@example.com")
    ]


def test_concurrent_login_requests_create_one_user(
    client: TestClient, container: Container, token_for: TokenFor
) -> None:
    token = token_for("crowd", email="crowd@example.com")

    def login(_: int) -> httpx2.Response:
        return client.post(LOGIN, json={"token": token})

    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(login, range(8)))
    assert [r.status_code for r in responses] == [200] * 8
    assert len({r.json()["data"]["id"] for r in responses}) == 1
    assert _count_users(container) == 1


# --- dev sign-in ----------------------------------------------------------------------------


def _settings(database_url: str, tmp_path: Path, *, certs_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "ENVIRONMENT": Environment.TEST,
        "DATA_DIR": tmp_path / "data",
        "DATABASE_URL": database_url,
        "FIREBASE_PROJECT_ID": PROJECT_ID,
        "FIREBASE_CERTS_URL": certs_url,
        "AUTH_DEV_MODE": False,
        **overrides,
    }
    return Settings(_env_file=None, **values)


@pytest.fixture
def dev_client(
    request: pytest.FixtureRequest, database_url: str, tmp_path: Path, certs: CertServer
) -> Iterator[TestClient]:
    """A client with AUTH_DEV_MODE on; ``indirect`` parameters override settings."""
    overrides: dict[str, Any] = getattr(request, "param", {})
    settings = _settings(
        database_url, tmp_path, certs_url=certs.url, AUTH_DEV_MODE=True, **overrides
    )
    with TestClient(create_app(settings, Container.build(settings))) as test_client:
        yield test_client


DEV_ENVIRONMENTS = [
    pytest.param({"ENVIRONMENT": Environment.DEVELOPMENT}, id="development"),
    pytest.param({"ENVIRONMENT": Environment.TEST}, id="test"),
    pytest.param(
        {"ENVIRONMENT": Environment.DEVELOPMENT, "FIREBASE_PROJECT_ID": None}, id="no-firebase"
    ),
]


@pytest.mark.parametrize("dev_client", DEV_ENVIRONMENTS, indirect=True)
def test_dev_mode_without_a_token_is_the_dev_user(dev_client: TestClient) -> None:
    response = dev_client.get(PROFILE)
    assert response.status_code == 200, response.text
    user = response.json()["data"]
    assert user["firebase_uid"] == DEV_UID
    assert user["email"] == DEV_CLAIMS.email
    assert dev_client.put(PROFILE, json={"name": "Dev"}).json()["data"]["id"] == user["id"]
    assert dev_client.get(PROFILE).json()["data"]["name"] == "Dev"


@pytest.mark.parametrize("dev_client", DEV_ENVIRONMENTS[:2], indirect=True)
def test_dev_mode_a_token_wins(dev_client: TestClient, token_for: TokenFor) -> None:
    headers = {"Authorization": f"Bearer {token_for('alice', email='alice@example.com')}"}
    assert dev_client.get(PROFILE, headers=headers).json()["data"]["firebase_uid"] == "alice"
    login = dev_client.post(LOGIN, json={"token": token_for("bob")})
    assert login.json()["data"]["firebase_uid"] == "bob"
    # a bad token is still refused: dev mode only fills in for a missing one
    _assert_unauthenticated(dev_client.get(PROFILE, headers={"Authorization": "Bearer a.b.c"}))


@pytest.mark.parametrize("dev_client", DEV_ENVIRONMENTS[2:], indirect=True)
def test_dev_mode_without_a_verifier_refuses_any_token(dev_client: TestClient) -> None:
    """No FIREBASE_PROJECT_ID: nothing can verify a token, so a token that is sent is
    refused rather than taken for the development user; no header is still the dev user."""
    garbage = {"Authorization": "Bearer garbage"}
    for response in (
        dev_client.get(PROFILE, headers=garbage),
        dev_client.put(PROFILE, json={"name": "Mallory"}, headers=garbage),
        dev_client.post("/api/v1/auth/verify", headers=garbage),
        dev_client.get("/api/v1/auth/optional", headers=garbage),
        dev_client.post(LOGIN, json={"token": "garbage"}),
    ):
        _assert_unauthenticated(response, str(response.request.url))
        assert "FIREBASE_PROJECT_ID" in response.json()["message"]
    assert dev_client.get(PROFILE).json()["data"]["firebase_uid"] == DEV_UID
    assert dev_client.get(PROFILE).json()["data"]["name"] != "Mallory"


def test_dev_sign_in_by_default_is_refused_to_a_remote_client(
    database_url: str, tmp_path: Path, certs: CertServer
) -> None:
    """A development server started any way at all (uvicorn on 0.0.0.0, say) does not
    hand the development user to a client on another machine unless AUTH_DEV_MODE=true;
    responses say when dev sign-in is on."""
    settings = _settings(
        database_url,
        tmp_path,
        certs_url=certs.url,
        ENVIRONMENT=Environment.DEVELOPMENT,
        AUTH_DEV_MODE=None,
    )
    app = create_app(settings, Container.build(settings))
    with TestClient(app, client=("203.0.113.7", 40000)) as remote:
        refused = remote.get(PROFILE)
        _assert_unauthenticated(refused)
        assert "x-caliber-dev-sign-in" not in refused.headers
        assert remote.get("/app/config.json").json()["devSignIn"] is False
    with TestClient(app, client=("127.0.0.1", 40000)) as local:
        answered = local.get(PROFILE)
        assert answered.json()["data"]["firebase_uid"] == DEV_UID
        assert answered.headers["x-caliber-dev-sign-in"] == "on"
        assert local.get("/app/config.json").json()["devSignIn"] is True
    forced = settings.model_copy(update={"AUTH_DEV_MODE": True})
    app = create_app(forced, Container.build(forced))
    with TestClient(app, client=("203.0.113.7", 40000)) as remote:
        answered = remote.get(PROFILE)
        assert answered.json()["data"]["firebase_uid"] == DEV_UID
        assert answered.headers["x-caliber-dev-sign-in"] == "on"


def test_without_dev_mode_there_is_no_dev_user(client: TestClient, container: Container) -> None:
    _assert_unauthenticated(client.get(PROFILE))
    assert _count_users(container) == 0


def test_production_refuses_dev_mode(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="AUTH_DEV_MODE"):
        Settings(
            _env_file=None,
            ENVIRONMENT=Environment.PRODUCTION,
            AUTH_DEV_MODE=True,
            FIREBASE_PROJECT_ID=PROJECT_ID,
            SECRET_KEY="s" * 40,
            DATA_DIR=tmp_path,
        )


def test_openapi_documents_the_auth_routes(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert set(paths[LOGIN]) == {"post"}
    assert set(paths[PROFILE]) == {"get", "put"}
    assert "401" in paths[PROFILE]["get"]["responses"]
    assert "503" in paths[LOGIN]["post"]["responses"]


def test_verify_and_optional_sign_in(
    client: TestClient, auth: Callable[[str], dict[str, str]]
) -> None:
    headers = auth("opt-user")
    verified = client.post("/api/v1/auth/verify", headers=headers)
    assert verified.status_code == 200
    assert verified.json()["data"]["verified"] is True
    assert client.post("/api/v1/auth/verify").status_code == 401
    anonymous = client.get("/api/v1/auth/optional").json()
    assert (anonymous["data"], anonymous["message"]) == (None, "not signed in")
    signed = client.get("/api/v1/auth/optional", headers=headers).json()
    assert signed["data"]["firebase_uid"] == "opt-user"
    bad = client.get("/api/v1/auth/optional", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401
