"""The response envelope of ``api.md``."""

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
    return {"success": True, "data": data, "message": message}


def page(items: list[Any], *, total: int, page: int, per_page: int) -> dict[str, Any]:
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
