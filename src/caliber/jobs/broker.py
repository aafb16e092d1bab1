"""Which broker Celery uses (no Celery import: the API reads this for /ready)."""

from __future__ import annotations

from pathlib import Path

from caliber.core.settings import Settings

EMBEDDED_BROKER = "filesystem://"


def broker_url(settings: Settings) -> str:
    """CELERY_BROKER_URL, else REDIS_URL, else the embedded broker (files in DATA_DIR)."""
    return settings.CELERY_BROKER_URL or settings.REDIS_URL or EMBEDDED_BROKER


def is_embedded(settings: Settings) -> bool:
    """True when no broker is configured: Celery runs on kombu's filesystem transport,
    whose messages are files under DATA_DIR/broker, and ``caliber serve`` runs the worker."""
    return broker_url(settings) == EMBEDDED_BROKER


def embedded_folders(settings: Settings) -> dict[str, Path]:
    """The embedded broker's folders (created on first use)."""
    root = (settings.DATA_DIR / "broker").resolve()
    return {"messages": root / "messages", "control": root / "control"}
