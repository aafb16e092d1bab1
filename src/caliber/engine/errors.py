"""Errors raised by the scoring engine.

Every error carries a stable ``code``, a one-line ``message`` that names the problem
and how to fix it, and JSON-able ``details``. Callers (CLI, API, workers) map them to
their own conventions; the engine knows nothing of HTTP or exit codes.
"""

from __future__ import annotations

from typing import Any


class EngineError(Exception):
    """Base class: a problem with the input or the setup, never a bug."""

    code = "engine_error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = details

    def to_dict(self) -> dict[str, Any]:
        """The error as ``{"error": code, "message": ..., "details": {...}}``."""
        return {"error": self.code, "message": self.message, "details": self.details}


class UnsupportedSetupError(EngineError):
    """The (platform, goal, channel) combination has no scoring setup."""

    code = "unsupported_setup"


class InvalidWeightsError(EngineError):
    """Custom weights do not match the setup's metrics or do not sum to 1."""

    code = "invalid_weights"


class InvalidParameterError(EngineError):
    """A numeric parameter of the setup is out of range."""

    code = "invalid_parameter"


class UnreadableFileError(EngineError):
    """The bytes are not a delimited text file or an Excel workbook we can read."""

    code = "unreadable_file"


class EmptyFileError(EngineError):
    """The file has no header or no data rows."""

    code = "empty_file"


class UnsafeFileError(EngineError):
    """The file was refused before parsing (zip bomb, XML entities, size limits)."""

    code = "unsafe_file"


class MissingColumnError(EngineError):
    """A column the setup cannot do without (dimension, impressions) is absent."""

    code = "missing_column"


class MissingMetricError(EngineError):
    """A metric of the setup can be taken neither from counts nor from a rate column."""

    code = "missing_metric"


class NoDataError(EngineError):
    """A required column is present but holds no usable value."""

    code = "no_data"


class NoScorableRowsError(EngineError):
    """Nothing is left to score after cleaning and the volume filter."""

    code = "no_scorable_rows"
