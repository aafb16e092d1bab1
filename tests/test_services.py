"""The services CI starts (PostgreSQL, Redis) answer on loopback.

Locally, without CALIBER_TEST_DATABASE_URL / CALIBER_TEST_REDIS_URL, these tests skip;
under CI (CALIBER_REQUIRE_SERVICES=1) a missing service fails the run instead.
"""

from __future__ import annotations

import os
import socket
import struct
from urllib.parse import urlparse

import pytest

REQUIRED = os.environ.get("CALIBER_REQUIRE_SERVICES") == "1"


def _address(variable: str) -> tuple[str, int]:
    url = os.environ.get(variable)
    if not url:
        if REQUIRED:
            pytest.fail(f"{variable} is not set although CALIBER_REQUIRE_SERVICES=1")
        pytest.skip(f"{variable} not set (services are started by .ci/run under CI=true)")
    parsed = urlparse(url)
    assert parsed.hostname is not None
    assert parsed.port is not None
    return parsed.hostname, parsed.port


def test_redis_answers_ping() -> None:
    host, port = _address("CALIBER_TEST_REDIS_URL")
    with socket.create_connection((host, port), timeout=5) as conn:
        conn.sendall(b"*1\r\n$4\r\nPING\r\n")
        assert conn.recv(64) == b"+PONG\r\n"


def test_postgres_speaks_its_protocol() -> None:
    host, port = _address("CALIBER_TEST_DATABASE_URL")
    with socket.create_connection((host, port), timeout=5) as conn:
        # SSLRequest: length 8, code 80877103; a PostgreSQL server answers 'S' or 'N'.
        conn.sendall(struct.pack("!ii", 8, 80877103))
        assert conn.recv(1) in (b"S", b"N")
