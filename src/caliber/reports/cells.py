"""One value as the text of a CSV cell, inert in a spreadsheet.

Every CSV cell goes through :func:`safe_cell`, which keeps spreadsheets from running a cell
as a formula (CSV/formula injection): a text cell whose first character, or first
character after leading whitespace, is ``= + - @`` tab, CR or LF gets a ``'`` in front,
unless the whole cell is a plain number such as ``-1.5``. JSON is not a spreadsheet and is
never altered. Floats are written exactly and without exponents; dicts and lists as compact
JSON (:func:`json_cell` for the JSON columns of stored results).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import orjson

FORMULA_PREFIXES = frozenset("=+-@\t\r\n")
"""Characters that make a spreadsheet treat a cell as a formula (OWASP CSV injection)."""

_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def is_plain_number(text: str) -> bool:
    """True when ``text`` is exactly a decimal number literal (no spaces, no inf/nan)."""
    return _NUMBER.fullmatch(text) is not None


def neutralise(text: str) -> str:
    """Prefix ``'`` to text a spreadsheet would run as a formula (see the module doc)."""
    if not text or is_plain_number(text):
        return text
    if text[0] in FORMULA_PREFIXES or text.lstrip()[:1] in FORMULA_PREFIXES:
        return "'" + text
    return text


def format_float(value: float) -> str:
    """Shortest text that reads back as the same float, written without an exponent for
    magnitudes a spreadsheet shows plainly (``1e-05`` -> ``0.00001``); NaN/inf -> ``""``."""
    if not math.isfinite(value):
        return ""
    text = repr(value)
    if "e" in text and -20 <= Decimal(text).adjusted() <= 20:
        return format(Decimal(text), "f")
    return text


def safe_cell(value: object) -> str:
    """One CSV cell as inert text: None -> "", bools -> true/false, numbers unchanged,
    dict/list -> compact JSON, text neutralised against formula injection."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format_float(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping | list | tuple):
        text = json.dumps(
            value, separators=(",", ":"), sort_keys=True, ensure_ascii=False, default=str
        )
        return neutralise(text)
    return neutralise(str(value))


_compact_json = json.JSONEncoder(
    separators=(",", ":"), sort_keys=True, ensure_ascii=False, default=str
).encode
# anything but plain JSON types goes to the standard library (orjson writes dates, enums
# and subclasses its own way, and raises for them with these options and no default)
_ORJSON_OPTIONS = (
    orjson.OPT_SORT_KEYS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)


def json_cell(value: dict[str, Any] | list[Any]) -> str:
    """A dict or list read from a JSON column as the compact JSON text of
    :func:`safe_cell` (keys sorted; never a formula: it starts with ``{`` or ``[``).

    orjson writes it about five times faster than the standard library and the same text
    (UTF-8, keys sorted by code point, the shortest round-tripping float digits), except
    for floats under 1e-4 in magnitude (``0.00001`` / ``1e-7`` where Python writes
    ``1e-05`` / ``1e-07``) and NaN (``null``): any text that may hold one of those (an
    ``e-``, a ``0.0000`` or a ``null`` anywhere, strings included) is written again by
    the standard library, as is a value orjson refuses."""
    try:
        text = orjson.dumps(value, option=_ORJSON_OPTIONS)
    except TypeError:  # orjson.JSONEncodeError included: a type or integer it refuses
        return _compact_json(value)
    if b"e-" in text or b"0.0000" in text or b"null" in text:
        return _compact_json(value)
    return text.decode()


def typed_cell(value: object) -> str:
    """:func:`safe_cell`, the types of stored results first."""
    kind = type(value)
    if kind is float:
        return format_float(value)  # type: ignore[arg-type]
    if value is None:
        return ""
    if kind is dict or kind is list:
        return json_cell(value)  # type: ignore[arg-type]
    return safe_cell(value)
