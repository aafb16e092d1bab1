"""Request bodies: the sign-in is checked before a body is read, bodies are capped and
must arrive in time. The app is driven over raw ASGI so the test sees exactly when (and
whether) it asks for the body. `tests/e2e/test_slow_bodies.py` does the same against a
real server over sockets."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from typing import Any

import anyio
import pytest
from fastapi import FastAPI

from caliber.api.app import create_app
from caliber.api.container import Container
from caliber.core.settings import Settings

Auth = Callable[[str], dict[str, str]]
Receive = Callable[[], Awaitable[dict[str, Any]]]

BOUNDARY = "guardboundary"
PART = (
    f"--{BOUNDARY}\r\n"
    'Content-Disposition: form-data; name="file"; filename="x.csv"\r\n'
    "Content-Type: text/csv\r\n\r\n"
    "domain,impressions\r\nexample.com,1000\r\n"
    f"\r\n--{BOUNDARY}--\r\n"
).encode()


MakeApp = Callable[..., FastAPI]


@pytest.fixture
def make_app(settings: Settings) -> Iterator[MakeApp]:
    """``make_app(**setting_overrides)``; its container is closed after the test (raw ASGI
    calls run no lifespan)."""
    containers: list[Container] = []

    def make(**overrides: Any) -> FastAPI:
        changed = settings.model_copy(update=overrides)
        containers.append(Container.build(changed))
        return create_app(changed, containers[-1])

    yield make
    for container in containers:
        container.close()


@pytest.fixture
def app(make_app: MakeApp) -> FastAPI:
    return make_app()


class Exchange:
    """One request over ASGI: what the app asked for and what it answered."""

    def __init__(self) -> None:
        self.reads = 0
        self.messages: list[dict[str, Any]] = []

    @property
    def status(self) -> int:
        return int(next(m for m in self.messages if m["type"] == "http.response.start")["status"])

    @property
    def headers(self) -> dict[str, str]:
        start = next(m for m in self.messages if m["type"] == "http.response.start")
        return {k.decode().lower(): v.decode() for k, v in start["headers"]}

    @property
    def body(self) -> dict[str, Any]:
        raw = b"".join(
            m.get("body", b"") for m in self.messages if m["type"] == "http.response.body"
        )
        decoded: dict[str, Any] = json.loads(raw)
        return decoded


def call(
    app: FastAPI,
    method: str,
    path: str,
    headers: dict[str, str],
    chunks: Callable[[Exchange], Receive],
) -> Exchange:
    exchange = Exchange()
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }

    async def send(message: MutableMapping[str, Any]) -> None:
        exchange.messages.append(dict(message))

    async def run() -> None:
        with anyio.fail_after(60):  # an app that waits for a stalled body forever fails
            await app(scope, chunks(exchange), send)

    anyio.run(run)
    return exchange


def whole(body: bytes) -> Callable[[Exchange], Receive]:
    """The body in one message (counted when the app asks for it)."""

    def make(exchange: Exchange) -> Receive:
        async def receive() -> dict[str, Any]:
            exchange.reads += 1
            if exchange.reads == 1:
                return {"type": "http.request", "body": body, "more_body": False}
            await anyio.sleep_forever()
            raise AssertionError

        return receive

    return make


HEAD = PART[: PART.index(b"domain")]  # the file part's headers, before its content


def trickle(piece: bytes, every: float, then_stall: bool = False) -> Callable[[Exchange], Receive]:
    """The file part's headers, then ``piece`` of its content every ``every`` seconds,
    forever (or once, then nothing)."""

    def make(exchange: Exchange) -> Receive:
        async def receive() -> dict[str, Any]:
            exchange.reads += 1
            if exchange.reads == 1:
                return {"type": "http.request", "body": HEAD, "more_body": True}
            if then_stall and exchange.reads > 2:
                await anyio.sleep_forever()
            await anyio.sleep(every)
            return {"type": "http.request", "body": piece, "more_body": True}

        return receive

    return make


def upload_headers(extra: dict[str, str] | None = None, length: int = len(PART)) -> dict[str, str]:
    return {
        "host": "testserver",
        "content-type": f"multipart/form-data; boundary={BOUNDARY}",
        "content-length": str(length),
        **(extra or {}),
    }


def _assert_refused_unread(exchange: Exchange) -> None:
    assert exchange.reads == 0, "the body was read before the sign-in was checked"
    assert exchange.status == 401
    assert exchange.headers["www-authenticate"] == "Bearer"
    assert exchange.headers["connection"] == "close"
    assert exchange.body["error"] == "unauthenticated"
    assert exchange.body["success"] is False


@pytest.mark.parametrize(
    "path", ["/api/v1/reports/upload", f"/api/v1/campaigns/{uuid.uuid4()}/upload"]
)
def test_an_anonymous_upload_is_refused_before_its_body_is_read(app: FastAPI, path: str) -> None:
    _assert_refused_unread(call(app, "POST", path, upload_headers(), whole(PART)))
    forged = upload_headers({"authorization": "Bearer forged.token.value"})
    refused = call(app, "POST", path, forged, whole(PART))
    _assert_refused_unread(refused)
    assert "token" in refused.body["message"]


def test_an_anonymous_json_body_is_refused_before_it_is_read(app: FastAPI) -> None:
    body = json.dumps({"name": "x", "platform": "trade_desk"}).encode()
    headers = {"host": "testserver", "content-type": "application/json"}
    exchange = call(
        app, "POST", "/api/v1/campaigns", {**headers, "content-length": str(len(body))}, whole(body)
    )
    _assert_refused_unread(exchange)
    chunked = call(
        app, "POST", "/api/v1/campaigns", {**headers, "transfer-encoding": "chunked"}, whole(body)
    )
    _assert_refused_unread(chunked)


def test_a_signed_in_upload_is_read_and_stored(app: FastAPI, auth: Auth) -> None:
    exchange = call(app, "POST", "/api/v1/reports/upload", upload_headers(auth("g1")), whole(PART))
    assert exchange.status == 201, exchange.body
    assert exchange.reads == 1


def test_a_public_route_reads_its_body_without_a_token(app: FastAPI) -> None:
    """Sign-in takes its token in the body: it is read, then the token is refused."""
    body = json.dumps({"token": "not-a-token"}).encode()
    headers = {"host": "testserver", "content-type": "application/json"}
    headers["content-length"] = str(len(body))
    exchange = call(app, "POST", "/api/v1/auth/login", headers, whole(body))
    assert exchange.reads >= 1
    assert exchange.status == 401
    assert "connection" not in exchange.headers


def test_dev_sign_in_uploads_without_a_token(make_app: MakeApp) -> None:
    app = make_app(AUTH_DEV_MODE=True)
    exchange = call(app, "POST", "/api/v1/reports/upload", upload_headers(), whole(PART))
    assert exchange.status == 201, exchange.body


def test_a_stalled_body_is_cut_off_by_the_deadline(make_app: MakeApp, auth: Auth) -> None:
    app = make_app(UPLOAD_BODY_TIMEOUT=0.3, UPLOAD_MIN_RATE=0)
    headers = upload_headers(auth("g2"), length=10_000)
    exchange = call(app, "POST", "/api/v1/reports/upload", headers, trickle(b"a,1\n" * 50, 0, True))
    assert exchange.status == 408
    assert exchange.headers["connection"] == "close"
    assert exchange.body["error"] == "request_timeout"
    assert exchange.body["message"].startswith("the request body did not arrive within 0.3 s")
    assert exchange.body["details"]["received_bytes"] == len(HEAD) + 200


def test_a_trickling_body_is_cut_off_by_the_minimum_rate(make_app: MakeApp, auth: Auth) -> None:
    """10 bytes every 20 ms is 500 bytes/s: under a 2,000 bytes/s minimum once the
    0.1 s grace has passed, although the total deadline is far away."""
    app = make_app(UPLOAD_BODY_TIMEOUT=300, UPLOAD_MIN_RATE=2000, UPLOAD_RATE_GRACE=0.1)
    headers = upload_headers(auth("g3"), length=100_000)
    exchange = call(app, "POST", "/api/v1/reports/upload", headers, trickle(b"x" * 10, 0.02))
    assert exchange.status == 408
    assert "slower than 2,000 bytes/s" in exchange.body["message"]
    assert exchange.headers["connection"] == "close"


def test_a_body_over_the_cap_is_413_and_closes(app: FastAPI, auth: Auth) -> None:
    headers = upload_headers(auth("g4"), length=50 * 1024 * 1024)
    declared = call(app, "POST", "/api/v1/reports/upload", headers, whole(PART))
    assert declared.status == 413
    assert declared.reads == 0
    assert declared.headers["connection"] == "close"
    # a lying Content-Length: counted as it arrives
    chunked = upload_headers(auth("g4"))
    del chunked["content-length"]
    chunked["transfer-encoding"] = "chunked"
    counted = call(app, "POST", "/api/v1/reports/upload", chunked, trickle(b"x" * 65536, 0))
    assert counted.status == 413
    assert counted.body["error"] == "payload_too_large"
