"""Logging: every line carries the request id, the signed-in user's id (never a token)
and the Celery task id when there is one; JSON lines in production (``LOG_FORMAT``).

Whatever a client controls (a request path, a filename, a campaign name) may end up in a
log line, so neither format lets a value start a line of its own: text lines escape
control characters and line separators in every field, and continuation lines of a
traceback are indented; JSON lines escape them inside strings.
"""

from __future__ import annotations

import json
import logging
import re
from contextvars import ContextVar
from datetime import UTC, datetime
from logging.handlers import WatchedFileHandler
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

# C0 controls (CR, LF, ESC...), DEL, C1 controls (NEL is U+0085) and the Unicode line and
# paragraph separators: everything a terminal, a log shipper or str.splitlines() may take
# for the end of a line or a cursor movement
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# json.dumps escapes C0 itself; with ensure_ascii=False it leaves these raw
_JSON_UNSAFE = re.compile(r"[\x7f-\x9f\u2028\u2029]")


def _escape_char(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_control(text: str) -> str:
    """``text`` on one line: control characters and line separators as escapes."""
    return _UNSAFE.sub(_escape_char, text)


def _indented(block: str) -> str:
    """A traceback or stack: each of its lines indented, so none can pass for a record."""
    return "\n".join("  " + escape_control(line) for line in block.splitlines())


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
        line = json.dumps(entry, default=str, ensure_ascii=False)
        # these can only occur inside JSON strings, where \uXXXX means the same character
        return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", line)


TEXT_FORMAT = (
    "%(asctime)s %(levelname)s [%(request_id)s %(user_id)s %(task_id)s] %(name)s: %(message)s"
)


class TextFormatter(logging.Formatter):
    """:data:`TEXT_FORMAT`, one line per record: the message (with its arguments) and every
    other field escaped; a traceback follows on indented lines."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        # a copy: the record goes on to other handlers (and their formatters) unchanged
        fields = {
            key: escape_control(value) if isinstance(value, str) else value
            for key, value in vars(record).items()
        }
        fields.update(
            msg=escape_control(record.getMessage()),
            args=None,
            exc_info=None,
            exc_text=None,
            stack_info=None,
        )
        line = super().format(logging.makeLogRecord(fields))
        if record.exc_info:
            line += "\n" + _indented(self.formatException(record.exc_info))
        elif record.exc_text:
            line += "\n" + _indented(record.exc_text)
        if record.stack_info:
            line += "\n" + _indented(self.formatStack(record.stack_info))
        return line


def configure_logging(
    level: str = "INFO", *, json_lines: bool = False, logfile: str | None = None
) -> None:
    """Once per process: a handler on the root logger with the ids; JSON lines or text,
    to stderr or to ``logfile`` (Celery's --logfile: a detached worker's stderr is
    /dev/null; reopened when logrotate moves the file)."""
    root = logging.getLogger()
    if any(isinstance(f, ContextFilter) for h in root.handlers for f in h.filters):
        return
    handler: logging.Handler = (
        WatchedFileHandler(logfile, encoding="utf-8") if logfile else logging.StreamHandler()
    )
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter() if json_lines else TextFormatter())
    root.addHandler(handler)
    root.setLevel(level)
