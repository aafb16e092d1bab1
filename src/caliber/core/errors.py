"""Domain errors, free of HTTP: ``api/errors.py`` maps each to a status code once."""

from __future__ import annotations

from typing import Any


class CaliberError(Exception):
    """Base of the domain errors: a stable code, a message for people, details for code."""

    code = "error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = details


class NotFound(CaliberError):  # noqa: N818 - the domain name reads better
    """Missing, or not the caller's (never told apart)."""

    code = "not_found"


class Conflict(CaliberError):  # noqa: N818
    """The object's state does not allow this now."""

    code = "conflict"


class PermissionDenied(CaliberError):  # noqa: N818
    code = "permission_denied"


class Unauthenticated(CaliberError):  # noqa: N818
    """No credentials, or credentials that do not verify."""

    code = "unauthenticated"


class InvalidInput(CaliberError):  # noqa: N818
    code = "invalid_input"


class PayloadTooLarge(CaliberError):  # noqa: N818
    code = "payload_too_large"


class UnsupportedMediaType(CaliberError):  # noqa: N818
    code = "unsupported_media_type"


class RateLimited(CaliberError):  # noqa: N818
    code = "rate_limited"

    def __init__(self, message: str, retry_after: int, **details: Any) -> None:
        super().__init__(message, retry_after=retry_after, **details)
        self.retry_after = retry_after


class UpstreamUnavailable(CaliberError):  # noqa: N818
    """A service we depend on (certificate server, LLM, storage) did not answer."""

    code = "upstream_unavailable"
