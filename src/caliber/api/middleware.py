"""ASGI middleware: request ids, access logs and metrics (request bodies: ``bodies.py``)."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from caliber.api.deps import dev_sign_in_applies
from caliber.core import metrics
from caliber.core.logging import request_id_var, request_user_var
from caliber.core.settings import Settings

access_log = logging.getLogger("caliber.access")


def route_template(scope: Scope) -> str:
    """The matched route with its parameters as ``{name}`` (bounded metric labels)."""
    params: dict[str, Any] = scope.get("path_params") or {}
    if scope.get("route") is None:
        return "unmatched"
    values = {str(v): k for k, v in params.items()}
    return "/".join(
        f"{{{values[part]}}}" if part in values else part for part in scope["path"].split("/")
    )


DEV_SIGN_IN_HEADER = (b"x-caliber-dev-sign-in", b"on")


class RequestIdMiddleware:
    """Take ``X-Request-ID`` (if sane) or make one; expose it to logs and the response;
    log each request once and count it in the metrics. While requests without a token
    act as the development user, every response says so (``X-Caliber-Dev-Sign-In: on``)."""

    def __init__(self, app: ASGIApp, settings: Settings | None = None) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if incoming.isalnum() and len(incoming) <= 64 else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        token = request_id_var.set(request_id)
        user_token = request_user_var.set({})
        started = time.perf_counter()
        status = 500
        dev = self.settings is not None and dev_sign_in_applies(scope, self.settings)

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = message.setdefault("headers", [])
                headers.append((b"x-request-id", request_id.encode()))
                if dev:
                    headers.append(DEV_SIGN_IN_HEADER)
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = route_template(scope)
            method = scope.get("method", "-")
            metrics.HTTP_REQUESTS.labels(method, route, str(status)).inc()
            metrics.HTTP_LATENCY.labels(method, route).observe(elapsed)
            access_log.info(
                "%s %s %s %.1f ms",
                method,
                scope.get("path", ""),
                status,
                elapsed * 1000,
                extra={
                    "method": method,
                    "route": route,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 1),
                },
            )
            request_user_var.reset(user_token)
            request_id_var.reset(token)
