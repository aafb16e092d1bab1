"""A keep-alive connection of `caliber serve` ends after HTTP_MAX_KEEPALIVE_REQUESTS
requests (issue 19): under --workers a connection stays with the process that accepted
it, so without an end a burst of clients can leave one process most of the work for as
long as they stay connected. uvicorn with Caliber's protocol, on loopback, and a raw
socket playing the client."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from starlette.types import Receive, Scope, Send

from caliber.api.protocol import BoundedHttpToolsProtocol
from caliber.core.settings import Settings, get_settings

LIMIT = 3


async def hello(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]}
    )
    await send({"type": "http.response.body", "body": b"ok"})


@pytest.fixture
def port(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """A server whose HTTP_MAX_KEEPALIVE_REQUESTS is the test's parameter."""
    monkeypatch.setenv("HTTP_MAX_KEEPALIVE_REQUESTS", str(request.param))
    get_settings.cache_clear()  # the protocol reads the process's settings
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free: int = probe.getsockname()[1]
    config = uvicorn.Config(
        hello, host="127.0.0.1", port=free, http=BoundedHttpToolsProtocol, log_config=None
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive(), "uvicorn did not start"
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield free
    finally:
        server.should_exit = True
        thread.join(10)
        get_settings.cache_clear()


def _response(sock: socket.socket) -> bytes:
    """One whole response: its head and its 2-byte body."""
    data = b""
    while not data.endswith(b"\r\n\r\nok"):
        chunk = sock.recv(4096)
        assert chunk, f"the connection closed before a whole response: {data!r}"
        data += chunk
    return data.lower()


@pytest.mark.parametrize("port", [LIMIT], indirect=True)
def test_a_connection_closes_after_its_last_allowed_request(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        for number in range(1, LIMIT + 1):
            sock.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
            head = _response(sock)
            assert head.startswith(b"http/1.1 200"), head
            # the last one says so, the others keep the connection
            assert (b"connection: close" in head) is (number == LIMIT), (number, head)
        assert sock.recv(4096) == b""  # closed by the server once the answer was sent


@pytest.mark.parametrize("port", [0], indirect=True)
def test_zero_keeps_a_connection_open_however_many_requests(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        for _ in range(3 * LIMIT):
            sock.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
            head = _response(sock)
            assert head.startswith(b"http/1.1 200"), head
            assert b"connection: close" not in head, head


def test_the_default_is_nginx_s_former_keepalive_requests() -> None:
    assert Settings(_env_file=None).HTTP_MAX_KEEPALIVE_REQUESTS == 100
