"""Liveness, readiness and the root (outside the versioned prefix, no auth)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from caliber.api.deps import ContainerDep

router = APIRouter()


@router.get("/")
def root(container: ContainerDep) -> dict[str, Any]:
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


@router.get("/ready", response_model=None)
def ready(container: ContainerDep) -> dict[str, Any] | JSONResponse:
    """Database and storage reachable (and Redis, when configured)."""
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
    ready_ = all(v == "ok" for v in checks.values())
    body = {"success": ready_, "data": {"ready": ready_, "checks": checks}, "message": None}
    if not ready_:
        body.update({"error": "not_ready", "message": "a dependency is unavailable"})
        return JSONResponse(body, 503)
    return body
