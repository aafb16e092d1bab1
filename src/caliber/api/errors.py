"""One mapping from domain and engine errors to HTTP answers, in the body of ``api.md``."""

from __future__ import annotations

import logging
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import DataError, InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from caliber.core import errors as core
from caliber.engine.errors import EngineError

logger = logging.getLogger(__name__)

STATUS: dict[type[core.CaliberError], int] = {
    core.NotFound: 404,
    core.Conflict: 409,
    core.PermissionDenied: 403,
    core.Unauthenticated: 401,
    core.InvalidInput: 422,
    core.PayloadTooLarge: 413,
    core.UnsupportedMediaType: 415,
    core.RateLimited: 429,
    core.UpstreamUnavailable: 503,
}


class ErrorBody(BaseModel):
    """The body of every error answer (documented in the OpenAPI schema)."""

    success: Literal[False] = False
    error: str = Field(description="A stable code: not_found, validation_error, ...")
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


def _documented(description: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description}


# The errors any route under the API prefix may answer (``create_app`` documents them on
# each router; a route's own ``responses`` entry wins).
RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _documented("A body that cannot be parsed (not UTF-8, broken multipart)"),
    401: _documented("No token, or a token that does not verify"),
    403: _documented("The caller's role in the organization may not do this (named)"),
    404: _documented("Missing, or not of an organization the caller belongs to"),
    409: _documented("The object's state does not allow this now"),
    413: _documented("The request body is too large"),
    415: _documented("The file is not of a supported type"),
    422: _documented("Invalid input: the fields and what is wrong with them"),
    429: _documented("Too many requests; see Retry-After"),
    503: _documented("A service we depend on did not answer"),
}


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"success": False, "error": code, "message": message, "details": details or {}}


def _request_id(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


async def _caliber_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, core.CaliberError)
    status = next((s for t, s in STATUS.items() if isinstance(exc, t)), 400)
    headers: dict[str, str] = {}
    if isinstance(exc, core.Unauthenticated):
        headers["WWW-Authenticate"] = "Bearer"
    if isinstance(exc, core.RateLimited):
        headers["Retry-After"] = str(exc.retry_after)
    return JSONResponse(error_body(exc.code, exc.message, exc.details), status, headers=headers)


async def _engine_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, EngineError)
    return JSONResponse(error_body(exc.code, exc.message, exc.details), 422)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [
        {
            "field": ".".join(str(p) for p in err.get("loc", ()) if p != "body"),
            "message": err.get("msg"),
        }
        for err in exc.errors()
    ]
    first = problems[0] if problems else {"field": "", "message": "invalid input"}
    message = f"{first['field']}: {first['message']}" if first["field"] else str(first["message"])
    return JSONResponse(error_body("validation_error", message, {"errors": problems}), 422)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    codes = {404: "not_found", 405: "method_not_allowed", 401: "unauthenticated"}
    code = codes.get(exc.status_code, "http_error")
    return JSONResponse(
        error_body(code, str(exc.detail)), exc.status_code, headers=getattr(exc, "headers", None)
    )


async def _database_down(request: Request, exc: Exception) -> JSONResponse:
    """The database refused or dropped the connection: a clean 503, not a 500; the pool
    pings connections, so the next request after it is back succeeds."""
    logger.warning("database unavailable (request %s): %s", _request_id(request), exc)
    return JSONResponse(
        error_body("database_unavailable", "the database is unavailable; try again shortly"),
        503,
        headers={"Retry-After": "5"},
    )


async def _data_error(request: Request, exc: Exception) -> JSONResponse:
    """A value the database refuses for its column (PostgreSQL: a NUL character in text,
    a number out of range) came from the request: a 422, not a 500."""
    assert isinstance(exc, DataError)
    logger.info("database refused a value (request %s): %s", _request_id(request), exc.orig)
    message = "a value cannot be stored (a NUL character in text, or a number out of range)"
    return JSONResponse(error_body("invalid_input", message), 422)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    request_id = _request_id(request)
    logger.exception("unhandled error (request %s)", request_id)
    return JSONResponse(
        error_body(
            "internal_error",
            "something went wrong on our side; quote the request id if you report it",
            {"request_id": request_id},
        ),
        500,
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(core.CaliberError, _caliber_error)
    app.add_exception_handler(EngineError, _engine_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(OperationalError, _database_down)
    app.add_exception_handler(InterfaceError, _database_down)
    app.add_exception_handler(DataError, _data_error)
    app.add_exception_handler(Exception, _unexpected)
