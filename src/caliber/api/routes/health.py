"""Liveness, readiness and the root (outside the versioned prefix, no auth)."""

from __future__ import annotations

import hmac
import os
import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from sqlalchemy import text

from caliber.api.deps import ContainerDep
from caliber.api.errors import error_body
from caliber.api.routes.web import index as web_index
from caliber.core import metrics
from caliber.core.settings import Settings
from caliber.jobs.broker import embedded_folders, is_embedded

router = APIRouter()


def _ping_redis(url: str, timeout: float = 2.0) -> str:
    """PING over RESP on a plain socket (the Redis client arrives with the workers)."""
    parsed = urlparse(url)
    try:
        with socket.create_connection(
            (parsed.hostname or "127.0.0.1", parsed.port or 6379), timeout
        ) as conn:
            if parsed.password:
                user = parsed.username or "default"
                conn.sendall(_resp("AUTH", user, parsed.password))
                if not conn.recv(64).startswith(b"+OK"):
                    return "unavailable: authentication failed"
            conn.sendall(_resp("PING"))
            answer = conn.recv(64)
    except OSError as exc:
        return f"unavailable: {type(exc).__name__}"
    return "ok" if answer.startswith(b"+PONG") else "unavailable: unexpected answer"


def _jobs_mode(settings: Settings) -> str:
    """threads | celery-embedded (file broker, worker run by `caliber serve`) | celery."""
    if settings.JOB_RUNNER == "threads":
        return "threads"
    return "celery-embedded" if is_embedded(settings) else "celery"


def _check_folder(folder: Path) -> str:
    if folder.is_dir() and os.access(folder, os.W_OK):
        return "ok"
    return "unavailable: broker folder missing or read-only"


def _resp(*parts: str) -> bytes:
    encoded = [p.encode() for p in parts]
    return b"*%d\r\n" % len(encoded) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in encoded)


@router.get("/", response_model=None)
def root(request: Request, container: ContainerDep) -> dict[str, Any] | FileResponse:
    """The web app for a browser (Accept: text/html); the service's facts as JSON else."""
    if "text/html" in request.headers.get("accept", ""):
        return web_index()
    settings = container.settings
    return {
        "success": True,
        "data": {
            "name": settings.PROJECT_NAME,
            "api": settings.API_V1_STR,
            "docs": "/docs",
        },
        "message": None,
    }


@router.get("/health")
def health() -> dict[str, Any]:
    """The process answers."""
    return {"success": True, "data": {"status": "ok"}, "message": None}


@router.get("/metrics", include_in_schema=False)
def prometheus_metrics(request: Request, container: ContainerDep) -> Response:
    """Prometheus metrics of the server: every API process's added up under
    ``caliber serve --workers N`` (off with METRICS_ENABLED=false; with METRICS_TOKEN set,
    only for ``Authorization: Bearer <token>``)."""
    settings = container.settings
    if not settings.METRICS_ENABLED:
        return JSONResponse(error_body("not_found", "Not Found", {}), 404)
    if settings.METRICS_TOKEN:
        sent = request.headers.get("authorization", "")
        if not hmac.compare_digest(sent.encode(), f"Bearer {settings.METRICS_TOKEN}".encode()):
            return JSONResponse(
                error_body("unauthorized", "metrics need the METRICS_TOKEN bearer token", {}),
                401,
                headers={"WWW-Authenticate": "Bearer"},
            )
    body, content_type = metrics.exposition()
    return Response(body, media_type=content_type)


@router.get("/ready", response_model=None)
def ready(container: ContainerDep) -> dict[str, Any] | JSONResponse:
    """Database and storage reachable, and Redis and the broker when configured."""
    checks: dict[str, str] = {}
    try:
        with container.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # readiness reports any failure, it does not raise
        checks["database"] = f"unavailable: {type(exc).__name__}"
    try:
        container.storage.ping()
        checks["storage"] = "ok"
    except Exception as exc:
        checks["storage"] = f"unavailable: {type(exc).__name__}"
    for name, url in (
        ("redis", container.settings.REDIS_URL),
        ("broker", container.settings.CELERY_BROKER_URL),
    ):
        if url and url.startswith(("redis://", "rediss://")):
            checks[name] = _ping_redis(url)
    jobs = _jobs_mode(container.settings)
    if jobs == "celery-embedded":
        checks["broker"] = _check_folder(embedded_folders(container.settings)["messages"])
    ready_ = all(v == "ok" for v in checks.values())
    body = {
        "success": ready_,
        "data": {"ready": ready_, "checks": checks, "jobs": jobs},
        "message": None,
    }
    if not ready_:
        body.update({"error": "not_ready", "message": "a dependency is unavailable"})
        return JSONResponse(body, 503)
    return body
