"""ASGI middleware guarding request bodies: sign-in before the first byte is read, a size
cap, and a deadline.

FastAPI reads a route's whole body (and spools an upload to temporary files) before it
runs the route's dependencies, so the sign-in dependency alone would answer 401 only
after receiving up to ``MAX_UPLOAD_MB`` from anyone. The guard steps in when the app
first asks for the body, by which time the router has matched the route: if the route
needs a signed-in user, the token is checked then, and a request without a valid one is
refused without reading its body. While the body is read, it is counted (413 past the
cap) and timed (408 when it does not arrive within ``UPLOAD_BODY_TIMEOUT`` seconds, or
arrives slower than ``UPLOAD_MIN_RATE`` bytes a second once ``UPLOAD_RATE_GRACE`` seconds
have passed).

On a refusal the app is told the client went away (it stops reading and whatever it
answers is dropped) and the client gets the refusal with ``Connection: close``: the
server closes the connection instead of receiving the rest of a body it will not use.
"""

from __future__ import annotations

import time
from typing import Any

import anyio
from fastapi.dependencies.models import Dependant
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from caliber.api.deps import SIGN_IN_FIRST, current_user, resolve_claims
from caliber.api.errors import STATUS, error_body
from caliber.core.errors import CaliberError, Unauthenticated

_DISCONNECT: Message = {"type": "http.disconnect"}


def refusal(status: int, code: str, message: str, **details: Any) -> JSONResponse:
    """An error envelope that also closes the connection."""
    headers = {"Connection": "close"}
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(error_body(code, message, details), status, headers=headers)


def _needs_user(dependant: Dependant) -> bool:
    return any(d.call is current_user or _needs_user(d) for d in dependant.dependencies)


class BodyGuardMiddleware:
    """Sign-in before the body, at most ``limit`` bytes, within ``timeout`` seconds and,
    after ``grace`` seconds, at ``min_rate`` bytes a second on average (0: no minimum)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        limit: int,
        timeout: float | None = None,
        min_rate: int = 0,
        grace: float = 0.0,
    ) -> None:
        self.app = app
        self.limit = limit
        self.timeout = timeout
        self.min_rate = min_rate
        self.grace = grace
        self._needs_user: dict[int, bool] = {}  # by route: the routes live as long as the app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self.too_large()(scope, receive, send)
            return
        if declared in (None, b"0") and b"transfer-encoding" not in headers:
            await self.app(scope, receive, send)  # no body: nothing to guard
            return
        body = _GuardedBody(self, scope, receive)

        async def guarded_send(message: Message) -> None:
            if body.refused is None:
                await send(message)

        try:
            await self.app(scope, body.receive, guarded_send)
        except Exception:
            if body.refused is None:
                raise
        if body.refused is not None:
            await body.refused(scope, receive, send)

    def needs_user(self, scope: Scope) -> bool:
        """Whether the route the router matched needs a signed-in user."""
        route = scope.get("route")
        dependant = getattr(route, "dependant", None)
        if not isinstance(dependant, Dependant):
            return False
        key = id(route)
        if key not in self._needs_user:
            self._needs_user[key] = _needs_user(dependant)
        return self._needs_user[key]

    def too_large(self) -> JSONResponse:
        return refusal(
            413,
            "payload_too_large",
            f"the request body is larger than {self.limit:,} bytes",
            limit_bytes=self.limit,
        )

    def too_slow(self, reason: str, received: int) -> JSONResponse:
        if reason == "timeout":
            message = (
                f"the request body did not arrive within {self.timeout:g} s "
                "(UPLOAD_BODY_TIMEOUT); send it faster, or a smaller file"
            )
        else:
            message = (
                f"the request body arrived slower than {self.min_rate:,} bytes/s "
                f"(UPLOAD_MIN_RATE) after the first {self.grace:g} s"
            )
        return refusal(
            408,
            "request_timeout",
            message,
            timeout_seconds=self.timeout,
            min_bytes_per_second=self.min_rate,
            received_bytes=received,
        )


class _GuardedBody:
    """One request's body as the app reads it, and the refusal when there is one."""

    def __init__(self, guard: BodyGuardMiddleware, scope: Scope, receive: Receive) -> None:
        self.guard = guard
        self.scope = scope
        self.inner = receive
        self.started: float | None = None
        self.received = 0
        self.complete = False
        self.refused: JSONResponse | None = None

    async def receive(self) -> Message:
        if self.refused is not None:
            return _DISCONNECT
        if self.complete:  # past the body (an app waiting for a disconnect): no deadline
            return await self.inner()
        if self.started is None:
            self.refused = await self._check_sign_in()
            if self.refused is not None:
                return _DISCONNECT
            self.started = time.monotonic()
        wait, reason = self._wait()
        with anyio.move_on_after(wait) as waited:
            message = await self.inner()
        if waited.cancelled_caught:
            self.refused = self.guard.too_slow(reason, self.received)
            return _DISCONNECT
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.guard.limit:
                self.refused = self.guard.too_large()
                return _DISCONNECT
            self.complete = not message.get("more_body", False)
        return message

    def _wait(self) -> tuple[float | None, str]:
        """How long the next piece may take, and which limit that is."""
        assert self.started is not None
        guard = self.guard
        limits = []
        if guard.timeout is not None:
            limits.append((self.started + guard.timeout, "timeout"))
        if guard.min_rate > 0:
            limits.append((self.started + guard.grace + self.received / guard.min_rate, "rate"))
        if not limits:
            return None, ""
        until, reason = min(limits)
        return max(0.0, until - time.monotonic()), reason

    async def _check_sign_in(self) -> JSONResponse | None:
        """Before the first byte: the route's sign-in, as its dependency will check it."""
        if not self.guard.needs_user(self.scope):
            return None
        container = self.scope["app"].state.container
        try:
            # the verifier may fetch Google's certificates: not on the event loop
            claims = await run_in_threadpool(resolve_claims, Request(self.scope), container)
        except CaliberError as exc:
            status = next((s for t, s in STATUS.items() if isinstance(exc, t)), 400)
            return refusal(status, exc.code, exc.message, **exc.details)
        if claims is None:
            return refusal(401, Unauthenticated.code, SIGN_IN_FIRST)
        return None
