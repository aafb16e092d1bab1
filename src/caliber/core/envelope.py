"""The response envelope of ``api.md``, defined once for everything that writes it.

Every JSON answer is ``{"success": true, "data": ..., "message": ...}``; a page adds
``total``, ``page``, ``per_page``, ``has_next`` and ``has_prev``. The routes return these
dicts (the models describe them in the OpenAPI document), and the results service
encodes its pages and lists ahead of the routes, once per run
(:mod:`caliber.scoring.results`): so the shape lives here, below both, where a service
may import it without reaching into the API.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel

T = TypeVar("T")


class Envelope(BaseModel, Generic[T]):
    success: bool = True
    data: T
    message: str | None = None


class Page(BaseModel, Generic[T]):
    success: bool = True
    data: list[T]
    message: str | None = None
    total: int
    page: int
    per_page: int
    has_next: bool
    has_prev: bool


def ok(data: Any, message: str | None = None) -> dict[str, Any]:
    """An :class:`Envelope` as a plain dict (encoded as is, not validated)."""
    return {"success": True, "data": data, "message": message}


def page(items: list[Any], *, total: int, page: int, per_page: int) -> dict[str, Any]:
    """A :class:`Page` as a plain dict: ``items`` is page ``page`` (from 1) of ``total``."""
    return {
        "success": True,
        "data": items,
        "message": None,
        "total": total,
        "page": page,
        "per_page": per_page,
        "has_next": page * per_page < total,
        "has_prev": page > 1,
    }
