"""Firebase ID token verification, the way Firebase documents it for third-party JWT
libraries: RS256 only; ``kid`` among the certificates published at
``FIREBASE_CERTS_URL`` (fetched once and cached for as long as its Cache-Control
``max-age`` allows); ``aud`` = project id; ``iss`` =
``https://securetoken.google.com/<project id>``; a non-empty ``sub`` of at most 128
characters; ``exp`` in the future; ``iat`` and ``auth_time`` in the past.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from caliber.core.errors import Unauthenticated, UpstreamUnavailable

CLOCK_SKEW_SECONDS = 60
DEFAULT_CACHE_SECONDS = 300
STALE_GRACE_SECONDS = 600
_MAX_AGE = re.compile(r"max-age=(\d+)")


@dataclass(frozen=True)
class Claims:
    """Who a verified token says the caller is."""

    uid: str
    email: str | None = None
    name: str | None = None
    email_verified: bool = False


class CertificateCache:
    """The public keys by ``kid``, refreshed when Cache-Control says they expire."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._url = url
        self._timeout = timeout
        self._clock = clock
        self._transport = transport
        self._keys: dict[str, RSAPublicKey] = {}
        self._expires_at = 0.0
        self._lock = threading.Lock()
        self.fetches = 0

    def keys(self) -> dict[str, RSAPublicKey]:
        with self._lock:
            now = self._clock()
            if now >= self._expires_at:
                try:
                    self._refresh()
                except UpstreamUnavailable:
                    # Google rotates keys slowly: keys that expired a moment ago are still
                    # better than refusing every sign-in while the endpoint hiccups.
                    if not self._keys or now >= self._expires_at + STALE_GRACE_SECONDS:
                        raise
            return self._keys

    def _refresh(self) -> None:
        try:
            with httpx.Client(timeout=self._timeout, transport=self._transport) as client:
                response = client.get(self._url)
                response.raise_for_status()
                payload = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise UpstreamUnavailable(
                "the sign-in certificate server is unavailable; try again shortly",
                reason=type(exc).__name__,
            ) from None
        self.fetches += 1
        if not isinstance(payload, dict):
            raise UpstreamUnavailable("the sign-in certificate server answered garbage")
        keys: dict[str, RSAPublicKey] = {}
        for kid, pem in payload.items():
            try:
                public_key = x509.load_pem_x509_certificate(str(pem).encode()).public_key()
            except ValueError:
                continue
            if isinstance(public_key, RSAPublicKey):
                keys[str(kid)] = public_key
        match = _MAX_AGE.search(response.headers.get("cache-control", ""))
        max_age = int(match.group(1)) if match else DEFAULT_CACHE_SECONDS
        self._keys = keys
        self._expires_at = self._clock() + max_age


class FirebaseTokenVerifier:
    """Verifies Firebase ID tokens for one project."""

    def __init__(
        self,
        project_id: str,
        certificates: CertificateCache,
        *,
        clock: Callable[[], float] = time.time,
        skew: int = CLOCK_SKEW_SECONDS,
    ) -> None:
        self.project_id = project_id
        self._certificates = certificates
        self._clock = clock
        self._skew = skew

    def verify(self, token: str) -> Claims:
        """The token's claims, or :class:`Unauthenticated` naming what is wrong."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthenticated("the ID token is malformed") from None
        if header.get("alg") != "RS256":
            raise Unauthenticated("the ID token must be signed with RS256")
        kid = header.get("kid")
        keys = self._certificates.keys()
        if not isinstance(kid, str) or kid not in keys:
            raise Unauthenticated("the ID token was not signed by a current Firebase key")
        issuer = f"https://securetoken.google.com/{self.project_id}"
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=keys[kid],
                algorithms=["RS256"],
                audience=self.project_id,
                issuer=issuer,
                leeway=self._skew,
                options={"require": ["exp", "iat", "aud", "iss", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("the ID token has expired") from None
        except jwt.InvalidAudienceError:
            raise Unauthenticated("the ID token is for another Firebase project") from None
        except jwt.InvalidIssuerError:
            raise Unauthenticated("the ID token has the wrong issuer") from None
        except jwt.ImmatureSignatureError:
            raise Unauthenticated("the ID token was issued in the future") from None
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"the ID token is invalid: {exc}") from None
        now = self._clock()
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub or len(sub) > 128:
            raise Unauthenticated("the ID token has no valid subject")
        for field in ("iat", "auth_time"):
            value = claims.get(field)
            if field == "auth_time" and value is None:
                continue
            if not isinstance(value, int | float) or value > now + self._skew:
                raise Unauthenticated(f"the ID token's {field} is in the future")
        return Claims(
            uid=sub,
            email=claims.get("email") if isinstance(claims.get("email"), str) else None,
            name=claims.get("name") if isinstance(claims.get("name"), str) else None,
            email_verified=claims.get("email_verified") is True,
        )
