"""Logging: every line carries the request id, the signed-in user's id (never a token)
and the Celery task id when there is one; JSON lines in production (``LOG_FORMAT``)."""

from __future__ import annotations

import json
import logging
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
task_id_var: ContextVar[str | None] = ContextVar("task_id", default=None)
# a mutable holder set per request: the user dependency runs in a worker thread, where a
# plain ContextVar.set would not reach the middleware's context
request_user_var: ContextVar[dict[str, str] | None] = ContextVar("request_user", default=None)


def set_request_user(user_id: str) -> None:
    holder = request_user_var.get()
    if holder is not None:
        holder["user_id"] = user_id


def current_user_id() -> str | None:
    holder = request_user_var.get()
    return None if holder is None else holder.get("user_id")


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get() or "-"
        record.user_id = current_user_id() or "-"
        record.task_id = task_id_var.get() or "-"
        return True


_RESERVED = frozenset(vars(logging.makeLogRecord({})))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the ids, extras, error."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("request_id", "user_id", "task_id"):
            value = getattr(record, key, "-")
            if value and value != "-":
                entry[key] = value
        for key, value in vars(record).items():
            if (
                key not in _RESERVED
                and key not in entry
                and key not in ("request_id", "user_id", "task_id")
            ):
                entry[key] = value
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


TEXT_FORMAT = (
    "%(asctime)s %(levelname)s [%(request_id)s %(user_id)s %(task_id)s] %(name)s: %(message)s"
)


def configure_logging(level: str = "INFO", *, json_lines: bool = False) -> None:
    """Once per process: a handler on the root logger with the ids; JSON lines or text."""
    root = logging.getLogger()
    if any(isinstance(f, ContextFilter) for h in root.handlers for f in h.filters):
        return
    handler = logging.StreamHandler()
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter() if json_lines else logging.Formatter(TEXT_FORMAT))
    root.addHandler(handler)
    root.setLevel(level)
