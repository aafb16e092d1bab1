"""The web app's routes: its page at ``/`` for browsers, its static files (in the
``caliber.web`` package, no build step), and the configuration it reads at start (which
sign-in to offer)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse

from caliber.api.deps import ContainerDep, dev_sign_in_applies

STATIC = Path(__file__).parents[2] / "web" / "static"
router = APIRouter(include_in_schema=False)


def index() -> FileResponse:
    return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})


@router.get("/app/config.json")
def app_config(request: Request, container: ContainerDep) -> dict[str, Any]:
    """What the page needs before signing in: the API prefix, whether dev sign-in is on,
    and the Firebase web configuration when a project is set."""
    settings = container.settings
    firebase = None
    if settings.FIREBASE_PROJECT_ID and settings.FIREBASE_WEB_API_KEY:
        firebase = {
            "apiKey": settings.FIREBASE_WEB_API_KEY,
            "authDomain": settings.FIREBASE_AUTH_DOMAIN
            or f"{settings.FIREBASE_PROJECT_ID}.firebaseapp.com",
            "projectId": settings.FIREBASE_PROJECT_ID,
        }
    return {
        "api": settings.API_V1_STR,
        "project": settings.PROJECT_NAME,
        "devSignIn": dev_sign_in_applies(request.scope, settings),
        "firebase": firebase,
        "maxUploadMb": settings.MAX_UPLOAD_MB,
    }


@router.get("/app/{path:path}")
def app_page(path: str) -> FileResponse:
    """Deep links (``/app/campaigns/<id>``) load the same page; it routes itself."""
    del path
    return index()
