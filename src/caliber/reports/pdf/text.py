"""Values as text in the PDF report: numbers, money, percentages, dates, names in words,
and every untrusted string as safe ReportLab Paragraph markup (:func:`markup`). Free of
ReportLab.
"""

from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape

from caliber.reports.data import ReportData
from caliber.reports.pdf.theme import CJK_FONTS, font_charset

# the Unicode blocks of Han, kana and Hangul text: DejaVu Sans lacks their glyphs
_CJK_RANGES = (
    (0x1100, 0x11FF), (0x2E80, 0x9FFF), (0xA960, 0xA97F), (0xAC00, 0xD7FF),
    (0xF900, 0xFAFF), (0xFE30, 0xFE4F), (0xFF00, 0xFFEF), (0x20000, 0x2FFFF),
)  # fmt: skip

DASH = "—"
LEVELS = ((80.0, "Excellent"), (60.0, "Good"), (40.0, "Moderate"), (-math.inf, "Poor"))
PLATFORMS = {"trade_desk": "The Trade Desk", "pulsepoint": "PulsePoint"}
_ACRONYMS = {"ctr", "cpm", "ecpm", "cpc", "cpa", "ias", "id", "ids", "tv", "xl", "url"}


def performance_level(score: float | None) -> str:
    """Excellent (>= 80), Good (>= 60), Moderate (>= 40) or Poor; "Not available" for None."""
    number = finite(score)
    if number is None:
        return "Not available"
    return next(label for floor, label in LEVELS if number >= floor)


def finite(value: Any) -> float | None:
    """``value`` as a float when it is a finite number, else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def num(value: Any, decimals: int = 0) -> str:
    number = finite(value)
    return DASH if number is None else f"{number:,.{decimals}f}"


def money(value: Any, decimals: int = 2) -> str:
    number = finite(value)
    if number is None:
        return DASH
    return f"{'-' if number < 0 else ''}${abs(number):,.{decimals}f}"


def pct(value: Any, decimals: int | None = None) -> str:
    """A fraction as a percentage: 3 decimals below 1 %, else 2 (or ``decimals``)."""
    number = finite(value)
    if number is None:
        return DASH
    places = decimals if decimals is not None else (3 if abs(number) < 0.01 else 2)
    return f"{100 * number:.{places}f}%"


def share(part: Any, whole: Any) -> str:
    top, bottom = finite(part), finite(whole)
    return DASH if top is None or not bottom else pct(top / bottom, 1)


def by_unit(value: Any, unit: str) -> str:
    """ "fraction" as %, "currency" as $, "count" with separators, "points" with 1 decimal."""
    if unit == "fraction":
        return pct(value)
    if unit == "currency":
        return money(value)
    return num(value, {"count": 0, "points": 1}.get(unit, 2))


def date(value: datetime | None) -> str:
    """``27 Nov 2026 14:05 UTC`` (naive datetimes are taken as UTC)."""
    if value is None:
        return DASH
    moment = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return moment.strftime("%d %b %Y %H:%M UTC")


def words(value: str) -> str:
    """``supply_vendor`` -> ``Supply Vendor``."""
    return value.replace("_", " ").strip().title() or DASH


def field_name(value: str) -> str:
    """``ias_display_fully_in_view_1s_rate`` -> ``IAS display fully in view 1s rate``."""
    parts = [p.upper() if p in _ACRONYMS else p for p in value.lower().split("_") if p]
    text = " ".join(parts) or DASH
    return text[0].upper() + text[1:]


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis, at a word end when one is near."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ", max(0, limit - 30))
    return (cut[:space] if space > 0 else cut).rstrip() + "…"


def _is_cjk(ch: str) -> bool:
    return any(low <= ord(ch) <= high for low, high in _CJK_RANGES)


def markup(value: object, limit: int = 400) -> str:
    """Untrusted ``value`` as safe reportlab Paragraph markup: control characters blanked,
    clipped to ``limit``, escaped, and CJK runs (which DejaVu Sans lacks) set in a CID font so
    they show and extract as text."""
    text = "".join(ch if ch.isprintable() or ch == "\n" else " " for ch in str(value))
    text = clip(text, limit)
    charset = font_charset()
    if all(ord(ch) in charset for ch in text):
        return escape(text)
    japanese = any(0x3040 <= ord(ch) <= 0x30FF for ch in text)  # kana: Han runs are Japanese
    parts = []
    for fallback, run in itertools.groupby(text, lambda c: ord(c) not in charset and _is_cjk(c)):
        chunk = "".join(run)
        if not fallback:
            parts.append(escape(chunk))
            continue
        korean = any(0xAC00 <= ord(ch) <= 0xD7FF or 0x1100 <= ord(ch) <= 0x11FF for ch in chunk)
        cjk = CJK_FONTS["ko" if korean else "ja" if japanese else "zh"]
        parts.append(f'<font name="{cjk}">{escape(chunk)}</font>')
    return "".join(parts)


def noun(data: ReportData, count: int = 2) -> str:
    """What a result row names: "domain(s)" or "supply vendor(s)"."""
    word = "supply vendor" if data.campaign.analysis_level == "supply_vendor" else "domain"
    return word if count == 1 else word + "s"
