"""A local stand-in for Google's certificate server, and tokens signed like Firebase's.

The keys are generated here; the server speaks the same protocol as
``securetoken@system.gserviceaccount.com`` (a JSON map of key id to PEM certificate,
with a Cache-Control max-age), so the real verifier runs unchanged against it.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

PROJECT_ID = "caliber-test"


@dataclass
class SigningKey:
    kid: str
    private_key: rsa.RSAPrivateKey
    certificate_pem: str


def make_key(kid: str) -> SigningKey:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "securetoken.test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    return SigningKey(kid, key, pem)


@dataclass
class CertServer:
    """Serves the public certificates; counts requests; can be switched off."""

    keys: list[SigningKey]
    max_age: int = 3600
    up: bool = True
    requests: int = 0
    url: str = ""
    _server: ThreadingHTTPServer | None = field(default=None, repr=False)

    def start(self) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.requests += 1
                if not owner.up:
                    self.send_response(503)
                    self.end_headers()
                    return
                body = json.dumps({k.kid: k.certificate_pem for k in owner.keys}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Cache-Control", f"public, max-age={owner.max_age}")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                del args

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_port}/certs"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


@contextmanager
def cert_server(keys: list[SigningKey]) -> Iterator[CertServer]:
    server = CertServer(keys)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def mint(
    key: SigningKey,
    uid: str,
    *,
    project: str = PROJECT_ID,
    email: str | None = None,
    name: str | None = None,
    lifetime: int = 3600,
    **overrides: Any,
) -> str:
    """An ID token like Firebase's: RS256, kid header, aud/iss of the project."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": f"https://securetoken.google.com/{project}",
        "aud": project,
        "auth_time": now - 10,
        "user_id": uid,
        "sub": uid,
        "iat": now - 10,
        "exp": now + lifetime,
        "firebase": {"sign_in_provider": "password"},
    }
    if email is not None:
        claims["email"] = email
        claims["email_verified"] = True
    if name is not None:
        claims["name"] = name
    claims.update(overrides)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, key.private_key, algorithm="RS256", headers={"kid": key.kid})
