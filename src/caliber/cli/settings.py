"""Caliber's settings for the commands that run the service (serve, worker, beat, db):
a bad setting is a user error on one line, not a pydantic traceback."""

from __future__ import annotations

from typing import Any

from caliber.cli.output import fail


def load_settings() -> Any:
    """``get_settings()``, or exit status 2 naming every invalid setting."""
    from pydantic import ValidationError

    from caliber.core.settings import get_settings

    try:
        return get_settings()
    except ValidationError as exc:
        problems = "; ".join(str(e.get("msg", "")) for e in exc.errors())
        fail(f"invalid settings: {problems}")
