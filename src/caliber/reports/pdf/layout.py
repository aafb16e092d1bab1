"""The building blocks of the PDF report's pages (ReportLab platypus): fonts and paragraph
styles, escaped paragraphs, zebra tables, headings kept with what follows them, bullets, the
table of result rows. A ``str`` table cell always becomes a Paragraph of escaped text
(:func:`~caliber.reports.pdf.text.markup`), so nothing in the data is ever read as markup.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors  # type: ignore[import-untyped]
from reportlab.lib.enums import TA_RIGHT  # type: ignore[import-untyped]
from reportlab.lib.pagesizes import LETTER  # type: ignore[import-untyped]
from reportlab.lib.styles import ParagraphStyle  # type: ignore[import-untyped]
from reportlab.lib.units import inch  # type: ignore[import-untyped]
from reportlab.pdfbase import pdfmetrics  # type: ignore[import-untyped]
from reportlab.pdfbase.cidfonts import UnicodeCIDFont  # type: ignore[import-untyped]
from reportlab.pdfbase.ttfonts import TTFont  # type: ignore[import-untyped]
from reportlab.platypus import KeepTogether, Paragraph, Table, TableStyle  # type: ignore[import-untyped]

from caliber.reports.data import ReportData, ResultLine
from caliber.reports.pdf import theme
from caliber.reports.pdf.text import clip, markup, money, noun, num, pct, words

FONT, BOLD = "CaliberSans", "CaliberSans-Bold"
MARGIN = 0.75 * inch
WIDTH = LETTER[0] - 2 * MARGIN
DOMAIN_CHARS = 64
ACCENT, INK, MUTED, RULE = (
    colors.HexColor(c) for c in (theme.ACCENT, theme.INK, theme.MUTED, theme.RULE)
)
HEADER_BG, ZEBRA = colors.HexColor("#EEF1F4"), colors.HexColor("#F7F8FA")


@cache
def register_fonts() -> None:
    faces = {
        FONT: theme.FONT_REGULAR,
        BOLD: theme.FONT_BOLD,
        f"{FONT}-Oblique": theme.FONT_OBLIQUE,
        f"{FONT}-BoldOblique": theme.FONT_BOLD_OBLIQUE,
    }
    for face, path in faces.items():
        pdfmetrics.registerFont(TTFont(face, str(path)))
    pdfmetrics.registerFontFamily(
        FONT, normal=FONT, bold=BOLD, italic=f"{FONT}-Oblique", boldItalic=f"{FONT}-BoldOblique"
    )
    for cid in theme.CJK_FONTS.values():
        pdfmetrics.registerFont(UnicodeCIDFont(cid))


@cache
def _styles() -> dict[str, Any]:
    body = ParagraphStyle("body", fontName=FONT, fontSize=9.5, leading=13.5, textColor=INK)
    specs: dict[str, dict[str, Any]] = {
        "title": {"fontName": BOLD, "fontSize": 26, "leading": 31, "spaceAfter": 8},
        "long_title": {"fontName": BOLD, "fontSize": 19, "leading": 23, "spaceAfter": 8},
        "subtitle": {"fontSize": 14, "leading": 18, "textColor": ACCENT, "spaceAfter": 14},
        "H1": {"fontName": BOLD, "fontSize": 17, "leading": 21, "textColor": ACCENT},
        "H2": {"fontName": BOLD, "fontSize": 11.5, "leading": 15, "spaceBefore": 14},
        "H3": {"fontName": BOLD, "fontSize": 9.5, "leading": 13, "spaceBefore": 10},
        "muted": {"fontSize": 8.5, "leading": 12, "textColor": MUTED},
        "cell": {"fontSize": 8.5, "leading": 10.5},
        "num": {"fontSize": 8.5, "leading": 10.5, "alignment": TA_RIGHT},
        "head": {"fontName": BOLD, "fontSize": 8, "leading": 10},
        "headnum": {"fontName": BOLD, "fontSize": 8, "leading": 10, "alignment": TA_RIGHT},
        "bullet": {"leftIndent": 12, "bulletIndent": 2, "spaceAfter": 4, "bulletFontName": FONT},
        "big": {"fontName": BOLD, "fontSize": 30, "leading": 34, "textColor": ACCENT},
        "kpi": {"fontName": BOLD, "fontSize": 13, "leading": 16},
    }
    after = {"H1": 10, "H2": 6, "H3": 4}
    styles = {"body": body}
    for name, spec in specs.items():
        spec.setdefault("spaceAfter", after.get(name, 0))
        styles[name] = ParagraphStyle(name, parent=body, **spec)
    return styles


def para(text: str, style: str = "body") -> Any:
    """A Paragraph of ``text``, which must already be markup (escaped)."""
    return Paragraph(text, _styles()[style])


def col_widths(*widths: float | None) -> list[float]:
    """Column widths in inches; the one None column takes the rest of the text width."""
    rest = WIDTH - sum(w * inch for w in widths if w is not None)
    return [rest if w is None else w * inch for w in widths]


def zebra_table(
    header: Sequence[str],
    rows: Sequence[Sequence[Any]],
    widths: Sequence[float],
    numeric: Sequence[int] = (),
) -> Any:
    """A zebra table with a grey header row (none when ``header`` is empty). str cells
    become escaped Paragraphs, right-aligned in the ``numeric`` columns; so they wrap
    instead of overflowing and are never read as markup."""

    def cell(value: Any, column: int, style: str) -> Any:
        right = column in numeric
        if not isinstance(value, str):
            return value
        return para(markup(value), style + ("num" if right and style == "head" else ""))

    data = [[cell(v, c, "num" if c in numeric else "cell") for c, v in enumerate(r)] for r in rows]
    if header:
        data.insert(0, [cell(v, c, "head") for c, v in enumerate(header)])
    first = 1 if header else 0
    style = [
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("TOPPADDING", (0, 0), (-1, -1), 3.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 3.5),
        ("LEFTPADDING", (0, 0), (-1, -1), 6),
        ("RIGHTPADDING", (0, 0), (-1, -1), 6),
        ("ROWBACKGROUNDS", (0, first), (-1, -1), [colors.white, ZEBRA]),
        ("LINEBELOW", (0, -1), (-1, -1), 0.5, RULE),
    ]
    if header:
        style += [("BACKGROUND", (0, 0), (-1, 0), HEADER_BG)]
        style += [("LINEBELOW", (0, 0), (-1, 0), 0.8, ACCENT)]
    table = Table(data, colWidths=list(widths), repeatRows=first, hAlign="LEFT")
    table.setStyle(TableStyle(style))
    return table


def facts_table(pairs: Sequence[tuple[str, str]]) -> Any:
    """A two-column label / value table."""
    return zebra_table(
        (), [[para(f"<b>{escape(k)}</b>", "cell"), v] for k, v in pairs], col_widths(1.9, None)
    )


def section(title: str, *flowables: Any, level: str = "H1") -> Any:
    """A heading kept on the same page as what follows it."""
    return KeepTogether([para(escape(title), level), *flowables])


def bullets(items: Sequence[str]) -> list[Any]:
    return [Paragraph(item, _styles()["bullet"], bulletText="•") for item in items]


def status_dot(status: str) -> Any:
    colour = theme.STATUS_COLOURS.get(status, theme.MUTED)
    return para(f'<font color="{colour}">●</font> {markup(words(status), 20)}', "cell")


def rows_table(
    data: ReportData, rows: Sequence[ResultLine], *, status: bool, number: bool = False
) -> Any:
    """Result rows as a table: rank (or list position), name, score, [status,] impressions,
    CTR, CPM."""
    head = ["#" if number else "Rank", words(noun(data, 1)), "Score", "Impressions", "CTR", "CPM"]
    widths: list[float | None] = [0.5, None, 0.65, 1.05, 0.85, 0.8]
    body: list[list[Any]] = [
        [str(i if number else r.rank), clip(r.domain, DOMAIN_CHARS), num(r.score, 1)]
        for i, r in enumerate(rows, start=1)
    ]
    for cells, r in zip(body, rows, strict=True):
        cells.extend([status_dot(r.quality_status)] if status else [])
        cells.extend([num(r.impressions), pct(r.ctr), money(r.cpm)])
    if status:
        head.insert(3, "Status")
        widths.insert(3, 0.95)
    numeric = [c for c, h in enumerate(head) if h not in {"Status", head[1]}]
    return zebra_table(head, body, col_widths(*widths), numeric)


def band(cells: list[Any], widths: Sequence[float], *style: tuple[Any, ...]) -> Any:
    """A one-row layout table (the score call-out, the KPI strip)."""
    table = Table([cells], colWidths=list(widths), hAlign="LEFT")
    table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "MIDDLE"), *style]))
    return table
