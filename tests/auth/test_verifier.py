"""The Firebase ID token verifier against a local certificate server with local keys."""

from __future__ import annotations

import base64
import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest

from caliber.auth.verifier import (
    DEFAULT_CACHE_SECONDS,
    STALE_GRACE_SECONDS,
    CertificateCache,
    Claims,
    FirebaseTokenVerifier,
)
from caliber.core.errors import Unauthenticated, UpstreamUnavailable
from tests.api.firebase import PROJECT_ID, CertServer, SigningKey, cert_server, make_key, mint

ISSUER = f"https://securetoken.google.com/{PROJECT_ID}"


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return make_key("key-a")


@pytest.fixture(scope="module")
def other_key() -> SigningKey:
    return make_key("key-b")


@pytest.fixture(scope="module")
def server(key: SigningKey) -> Iterator[CertServer]:
    with cert_server([key]) as running:
        yield running


@pytest.fixture
def certs(server: CertServer, key: SigningKey) -> Iterator[CertServer]:
    """The module's server, with its keys and state restored after the test (starting and
    stopping a server per test costs half a second each)."""
    server.keys, server.up = [key], True
    yield server
    server.keys, server.up = [key], True


@pytest.fixture
def verifier(certs: CertServer) -> FirebaseTokenVerifier:
    return FirebaseTokenVerifier(PROJECT_ID, CertificateCache(certs.url))


def _b64(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _claims(uid: str = "alice", **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": PROJECT_ID,
        "sub": uid,
        "iat": now - 10,
        "auth_time": now - 10,
        "exp": now + 3600,
    }
    claims.update(overrides)
    return claims


# --- valid tokens ---------------------------------------------------------------------------


def test_a_valid_token_gives_uid_email_and_name(
    verifier: FirebaseTokenVerifier, key: SigningKey
) -> None:
    token = mint(key, "alice", email="alice@example.com", name="Alice Liddell")
    assert verifier.verify(token) == Claims(
        uid="alice", email="alice@example.com", name="Alice Liddell", email_verified=True
    )


def test_a_token_without_email_or_name_is_still_valid(
    verifier: FirebaseTokenVerifier, key: SigningKey
) -> None:
    claims = verifier.verify(mint(key, "anon"))
    assert claims == Claims(uid="anon", email=None, name=None, email_verified=False)


def test_a_128_character_subject_passes(verifier: FirebaseTokenVerifier, key: SigningKey) -> None:
    uid = "u" * 128
    assert verifier.verify(mint(key, uid)).uid == uid


def test_small_clock_skew_is_tolerated(verifier: FirebaseTokenVerifier, key: SigningKey) -> None:
    now = int(time.time())
    token = mint(key, "alice", iat=now + 30, auth_time=now + 30)
    assert verifier.verify(token).uid == "alice"


# --- rejected tokens ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        pytest.param({"aud": "another-project"}, "another Firebase project", id="wrong-audience"),
        pytest.param(
            {"iss": "https://securetoken.google.com/another-project"},
            "wrong issuer",
            id="wrong-issuer",
        ),
        pytest.param({"iss": "https://evil.example/caliber-test"}, "issuer", id="foreign-issuer"),
        pytest.param({"exp": int(time.time()) - 3600}, "expired", id="expired"),
        pytest.param({"iat": int(time.time()) + 3600}, "future", id="future-iat"),
        pytest.param({"auth_time": int(time.time()) + 3600}, "auth_time", id="future-auth-time"),
        pytest.param({"auth_time": "yesterday"}, "auth_time", id="auth-time-not-a-number"),
        pytest.param({"sub": ""}, "subject", id="empty-sub"),
        pytest.param({"sub": "u" * 129}, "subject", id="sub-129-chars"),
        pytest.param({"exp": None}, "exp", id="missing-exp"),
        pytest.param({"iat": None}, "iat", id="missing-iat"),
    ],
)
def test_bad_claims_are_unauthenticated(
    verifier: FirebaseTokenVerifier, key: SigningKey, overrides: dict[str, Any], reason: str
) -> None:
    token = mint(key, "alice", **overrides)
    with pytest.raises(Unauthenticated, match=reason):
        verifier.verify(token)


def test_a_token_minted_for_another_project_is_refused(
    verifier: FirebaseTokenVerifier, key: SigningKey
) -> None:
    with pytest.raises(Unauthenticated):
        verifier.verify(mint(key, "alice", project="another-project"))


def test_an_unknown_kid_is_refused(verifier: FirebaseTokenVerifier, other_key: SigningKey) -> None:
    with pytest.raises(Unauthenticated, match="current Firebase key"):
        verifier.verify(mint(other_key, "alice"))


def test_a_missing_kid_is_refused(verifier: FirebaseTokenVerifier, key: SigningKey) -> None:
    token = jwt.encode(_claims(), key.private_key, algorithm="RS256")
    with pytest.raises(Unauthenticated, match="current Firebase key"):
        verifier.verify(token)


def test_a_known_kid_with_another_keys_signature_is_refused(
    verifier: FirebaseTokenVerifier, key: SigningKey, other_key: SigningKey
) -> None:
    forged = jwt.encode(
        _claims(), other_key.private_key, algorithm="RS256", headers={"kid": key.kid}
    )
    with pytest.raises(Unauthenticated, match="invalid"):
        verifier.verify(forged)


def test_a_tampered_payload_is_refused(verifier: FirebaseTokenVerifier, key: SigningKey) -> None:
    header, _, signature = mint(key, "alice").split(".")
    tampered = f"{header}.{_b64(_claims('mallory'))}.{signature}"
    with pytest.raises(Unauthenticated):
        verifier.verify(tampered)


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
def test_alg_none_is_refused(verifier: FirebaseTokenVerifier, key: SigningKey, alg: str) -> None:
    token = f"{_b64({'alg': alg, 'typ': 'JWT', 'kid': key.kid})}.{_b64(_claims())}."
    with pytest.raises(Unauthenticated, match="RS256"):
        verifier.verify(token)


def test_hs256_with_a_shared_secret_is_refused(
    verifier: FirebaseTokenVerifier, key: SigningKey
) -> None:
    secret = "a-shared-secret-long-enough-for-hmac-sha256-0123456789"
    token = jwt.encode(_claims(), secret, algorithm="HS256", headers={"kid": key.kid})
    with pytest.raises(Unauthenticated, match="RS256"):
        verifier.verify(token)


@pytest.mark.parametrize("garbage", ["", "abc", "a.b.c", "a.b", "...", "Bearer x.y.z", "😀"])
def test_garbage_is_unauthenticated(verifier: FirebaseTokenVerifier, garbage: str) -> None:
    with pytest.raises(Unauthenticated):
        verifier.verify(garbage)


def test_garbage_does_not_fetch_certificates(server: CertServer) -> None:
    cache = CertificateCache(server.url)
    verifier = FirebaseTokenVerifier(PROJECT_ID, cache)
    with pytest.raises(Unauthenticated):
        verifier.verify("a.b.c")
    assert cache.fetches == 0


# --- the certificate server -----------------------------------------------------------------


def test_certificate_server_down_is_upstream_unavailable(
    certs: CertServer, key: SigningKey
) -> None:
    certs.up = False
    before = certs.requests
    verifier = FirebaseTokenVerifier(PROJECT_ID, CertificateCache(certs.url))
    with pytest.raises(UpstreamUnavailable):
        verifier.verify(mint(key, "alice"))
    assert certs.requests == before + 1


def test_certificate_server_unreachable_is_upstream_unavailable(key: SigningKey) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    cache = CertificateCache(f"http://127.0.0.1:{port}/certs", timeout=2)
    with pytest.raises(UpstreamUnavailable):
        FirebaseTokenVerifier(PROJECT_ID, cache).verify(mint(key, "alice"))


def test_a_failed_fetch_is_not_cached(certs: CertServer, key: SigningKey) -> None:
    certs.up = False
    verifier = FirebaseTokenVerifier(PROJECT_ID, CertificateCache(certs.url))
    token = mint(key, "alice")
    with pytest.raises(UpstreamUnavailable):
        verifier.verify(token)
    certs.up = True
    assert verifier.verify(token).uid == "alice"


def _mock_cache(handler: Any, clock: FakeClock | None = None) -> CertificateCache:
    return CertificateCache(
        "https://certs.test/x509",
        transport=httpx.MockTransport(handler),
        clock=clock or FakeClock(),
    )


def test_a_garbage_answer_is_upstream_unavailable(key: SigningKey) -> None:
    for body in (b"<html>oops</html>", b"[1, 2, 3]"):
        cache = _mock_cache(lambda _request, body=body: httpx.Response(200, content=body))
        with pytest.raises(UpstreamUnavailable):
            FirebaseTokenVerifier(PROJECT_ID, cache).verify(mint(key, "alice"))


def test_without_cache_control_the_keys_are_kept_for_the_default_time(key: SigningKey) -> None:
    clock = FakeClock()
    cache = _mock_cache(
        lambda _request: httpx.Response(200, json={key.kid: key.certificate_pem}), clock
    )
    assert set(cache.keys()) == {key.kid}
    clock.advance(DEFAULT_CACHE_SECONDS - 1)
    cache.keys()
    assert cache.fetches == 1
    clock.advance(1)
    cache.keys()
    assert cache.fetches == 2


def test_unparseable_certificates_are_skipped(key: SigningKey) -> None:
    payload = {key.kid: key.certificate_pem, "broken": "not a certificate"}
    cache = _mock_cache(lambda _request: httpx.Response(200, json=payload))
    assert set(cache.keys()) == {key.kid}


# --- caching --------------------------------------------------------------------------------


def test_many_verifications_fetch_once_while_max_age_holds(
    certs: CertServer, key: SigningKey
) -> None:
    clock = FakeClock()
    cache = CertificateCache(certs.url, clock=clock)
    verifier = FirebaseTokenVerifier(PROJECT_ID, cache)
    before = certs.requests
    token = mint(key, "alice")
    for _ in range(25):
        assert verifier.verify(token).uid == "alice"
        clock.advance(certs.max_age / 30)
    assert cache.fetches == 1
    assert certs.requests == before + 1


def test_keys_are_fetched_again_after_max_age(certs: CertServer, key: SigningKey) -> None:
    clock = FakeClock()
    cache = CertificateCache(certs.url, clock=clock)
    verifier = FirebaseTokenVerifier(PROJECT_ID, cache)
    before = certs.requests
    token = mint(key, "alice")
    verifier.verify(token)
    clock.advance(certs.max_age - 1)
    verifier.verify(token)
    assert certs.requests == before + 1
    clock.advance(1)
    verifier.verify(token)
    assert certs.requests == before + 2
    assert cache.fetches == 2


def test_a_new_key_is_picked_up_after_expiry(
    certs: CertServer, key: SigningKey, other_key: SigningKey
) -> None:
    clock = FakeClock()
    verifier = FirebaseTokenVerifier(PROJECT_ID, CertificateCache(certs.url, clock=clock))
    assert verifier.verify(mint(key, "alice")).uid == "alice"
    certs.keys = [key, other_key]
    rotated = mint(other_key, "bob")
    with pytest.raises(Unauthenticated, match="current Firebase key"):
        verifier.verify(rotated)  # still the cached set
    clock.advance(certs.max_age)
    assert verifier.verify(rotated).uid == "bob"


def test_a_retired_key_is_dropped_after_expiry(
    certs: CertServer, key: SigningKey, other_key: SigningKey
) -> None:
    clock = FakeClock()
    certs.keys = [key, other_key]
    verifier = FirebaseTokenVerifier(PROJECT_ID, CertificateCache(certs.url, clock=clock))
    old = mint(key, "alice")
    assert verifier.verify(old).uid == "alice"
    certs.keys = [other_key]
    clock.advance(certs.max_age)
    with pytest.raises(Unauthenticated, match="current Firebase key"):
        verifier.verify(old)


def test_expired_keys_serve_a_short_outage_then_fail(key: SigningKey) -> None:
    server = CertServer([key], max_age=60)
    server.start()
    try:
        now = [1000.0]
        cache = CertificateCache(server.url, clock=lambda: now[0])
        verifier = FirebaseTokenVerifier(PROJECT_ID, cache)
        token = mint(key, "outage-user")
        assert verifier.verify(token).uid == "outage-user"
        server.up = False
        now[0] += 61  # expired, and the server is down: the old keys still work
        assert verifier.verify(token).uid == "outage-user"
        now[0] += STALE_GRACE_SECONDS  # too long: sign-in is refused as unavailable
        with pytest.raises(UpstreamUnavailable):
            verifier.verify(token)
    finally:
        server.stop()
