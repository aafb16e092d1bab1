"""Slow and oversized requests against a real `caliber serve`: sign-in is checked before
a body is read, a body that stalls is cut off, and so are headers that never end.

Raw sockets play the attacker: headers and the start of a large upload, then nothing.
Without a token each is answered 401 at once and closed, and the server keeps nothing of
the body (no temporary file open); with a valid token the body deadline
(UPLOAD_BODY_TIMEOUT, short here) answers 408 and closes the connection. Headers that
stall are dropped after HTTP_HEADER_TIMEOUT, and too many header bytes are a 400.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.api.firebase import CertServer, make_key
from tests.e2e.test_server import CALIBER, _free_port, _headers, serve_env

BODY_TIMEOUT = 5  # seconds: UPLOAD_BODY_TIMEOUT of the server under test
HEADER_TIMEOUT = 2  # seconds: HTTP_HEADER_TIMEOUT of the server under test
BOUNDARY = "slowboundary"
DECLARED = 20 * 1024 * 1024  # what each attacker announces in Content-Length
SENT = 2 * 1024 * 1024  # what it sends before stalling: past the 1 MiB spooled in memory


@dataclass
class Server:
    port: int
    certs: CertServer
    process: subprocess.Popen[bytes]
    temp_dir: Path
    log: Path


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    certs = CertServer([make_key("slow-key")])
    certs.start()
    data_dir = tmp_path_factory.mktemp("slow-serve")
    temp_dir = data_dir / "tmp"  # where the server's temporary (spooled) files would go
    temp_dir.mkdir()
    env = serve_env(
        data_dir,
        certs,
        MAX_UPLOAD_MB="20",
        UPLOAD_BODY_TIMEOUT=str(BODY_TIMEOUT),
        HTTP_HEADER_TIMEOUT=str(HEADER_TIMEOUT),
        TMPDIR=str(temp_dir),
    )
    port = _free_port()
    log = data_dir / "server.log"
    with log.open("wb") as handle:
        process = subprocess.Popen(
            [CALIBER, "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=data_dir,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail("caliber serve did not start: " + log.read_text())
            time.sleep(0.2)
        yield Server(port, certs, process, temp_dir, log)
    finally:
        process.terminate()
        process.wait(timeout=30)
        certs.stop()


def _open_temp_files(server: Server) -> list[str]:
    """Files under the server's temp dir that its processes hold open (a spooled upload
    rolled over to disk is unlinked at once, so only /proc shows it)."""
    held = []
    for fd in Path(f"/proc/{server.process.pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith(str(server.temp_dir)):
            held.append(target)
    return held


def _upload_head(path: str, *, token: str | None, length: int = DECLARED) -> bytes:
    lines = [
        f"POST {path} HTTP/1.1",
        "Host: 127.0.0.1",
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}",
        f"Content-Length: {length}",
    ]
    if token is not None:
        lines.append(f"Authorization: Bearer {token}")
    part = (
        f"--{BOUNDARY}\r\n"
        'Content-Disposition: form-data; name="file"; filename="big.csv"\r\n'
        "Content-Type: text/csv\r\n\r\n"
        "domain,impressions\r\n"
    )
    return ("\r\n".join(lines) + "\r\n\r\n" + part).encode()


def _send_and_stall(port: int, head: bytes, body_bytes: int) -> socket.socket:
    """Connect, send ``head`` and up to ``body_bytes`` of CSV (as much as the server takes
    within a couple of seconds), then send nothing more."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=2)
    sock.sendall(head)
    chunk = b"example.com,1000\r\n" * 4096
    sent = 0
    try:
        while sent < body_bytes:
            sent += sock.send(chunk[: body_bytes - sent])
    except (TimeoutError, ConnectionError):
        pass  # the server stopped reading (or answered and closed): stall here
    return sock


def _read_answer(sock: socket.socket, timeout: float) -> tuple[bytes, bool]:
    """Whatever the server sends within ``timeout`` seconds, and whether it then closed."""
    sock.settimeout(timeout)
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except TimeoutError:
        return received, False
    except ConnectionResetError:
        pass  # closed with the rest of our body unread: a reset after the answer
    return received, True


def _status_and_body(answer: bytes) -> tuple[int, dict[str, str], dict[str, object]]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, json.loads(body or b"{}")


def test_anonymous_uploads_are_refused_before_their_body_is_read(server: Server) -> None:
    """The attack of the issue, scaled down: stalled anonymous uploads (both upload routes,
    and a JSON body) are answered 401 and closed at once, with nothing spooled."""
    campaign = uuid.uuid4()
    heads = [
        *(_upload_head(f"/api/v1/campaigns/{campaign}/upload", token=None) for _ in range(6)),
        _upload_head("/api/v1/reports/upload", token=None),
        _upload_head(f"/api/v1/campaigns/{campaign}/upload", token="not-a-token"),
        (
            "POST /api/v1/campaigns HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Type: application/json\r\nContent-Length: {DECLARED}\r\n\r\n"
            '{"name": "'
        ).encode(),
    ]
    sockets = [_send_and_stall(server.port, head, SENT) for head in heads]
    try:
        for sock in sockets:
            answer, closed = _read_answer(sock, timeout=BODY_TIMEOUT * 3)
            assert answer, "no answer: the server is waiting for the body"
            status, headers, body = _status_and_body(answer)
            assert status == 401, answer[:300]
            assert headers["www-authenticate"] == "Bearer"
            assert headers["connection"] == "close"
            assert body["error"] == "unauthenticated"
            assert closed, "the server kept the connection open"
        # the attackers are still connected (stalled): nothing of their bodies is held
        assert _open_temp_files(server) == []
    finally:
        for sock in sockets:
            sock.close()
    assert httpx.get(f"http://127.0.0.1:{server.port}/health", timeout=5).status_code == 200


def test_a_signed_in_upload_that_stalls_is_cut_off_by_the_deadline(server: Server) -> None:
    token = _headers(server.certs, "slow-alice")["Authorization"].removeprefix("Bearer ")
    head = _upload_head("/api/v1/reports/upload", token=token)
    sock = _send_and_stall(server.port, head, SENT)
    try:
        # signed in, so the body is read: the upload spools to disk while it stalls
        deadline = time.monotonic() + BODY_TIMEOUT
        while not _open_temp_files(server):
            assert time.monotonic() < deadline, "the signed-in upload was not read"
            time.sleep(0.05)
        answer, closed = _read_answer(sock, timeout=BODY_TIMEOUT * 10)
    finally:
        sock.close()
    assert answer, "no answer: the stalled body was never cut off"
    status, headers, body = _status_and_body(answer)
    assert status == 408, answer[:300]
    assert headers["connection"] == "close"
    assert body["error"] == "request_timeout"
    assert f"{BODY_TIMEOUT} s" in str(body["message"])
    assert closed
    deadline = time.monotonic() + 10
    while _open_temp_files(server):  # the spooled part is closed with the request
        assert time.monotonic() < deadline, _open_temp_files(server)
        time.sleep(0.1)

    # an honest upload still works
    with httpx.Client(
        base_url=f"http://127.0.0.1:{server.port}/api/v1",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    ) as http:
        uploaded = http.post(
            "/reports/upload",
            files={"file": ("ok.csv", b"domain,impressions\nexample.com,1000\n", "text/csv")},
        )
    assert uploaded.status_code == 201, uploaded.text


def _read_response(sock: socket.socket) -> bytes:
    """One whole response (head and Content-Length body): the head and the body may come
    in separate packets, and a byte left unread would pass for the next answer."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, "the connection closed before the response's head"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "the connection closed inside the response's body"
        body += chunk
    return head + b"\r\n\r\n" + body


def test_connections_whose_headers_never_end_are_closed(server: Server) -> None:
    """A connection that sends nothing, or part of its headers, is closed after the
    header deadline; so is the next request of a keep-alive connection that stalls."""
    silent = socket.create_connection(("127.0.0.1", server.port))
    partial = socket.create_connection(("127.0.0.1", server.port))
    partial.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: a")
    kept = socket.create_connection(("127.0.0.1", server.port))
    kept.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    kept.settimeout(10)
    assert _read_response(kept).startswith(b"HTTP/1.1 200")
    kept.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # and no blank line
    try:
        for sock in (silent, partial, kept):
            answer, closed = _read_answer(sock, timeout=HEADER_TIMEOUT * 5)
            assert closed, "the server kept a connection whose headers never arrived"
            assert answer == b""
    finally:
        for sock in (silent, partial, kept):
            sock.close()


def test_oversized_headers_are_refused(server: Server) -> None:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    try:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        try:
            for number in range(100):
                sock.sendall(f"X-Filler-{number}: ".encode() + b"a" * 4096 + b"\r\n")
        except ConnectionError:
            pass  # refused (and closed) before all of it was sent
        answer, closed = _read_answer(sock, timeout=10)
    finally:
        sock.close()
    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
    assert closed
    assert httpx.get(f"http://127.0.0.1:{server.port}/health", timeout=5).status_code == 200
