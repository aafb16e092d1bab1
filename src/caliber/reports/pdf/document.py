"""The client PDF report of one completed campaign (ReportLab platypus, US Letter).

:func:`render_campaign_pdf` is a pure function of :class:`~caliber.reports.data.ReportData`.
Every string from users or models (names, domains, file and column names, insight text,
warnings) goes through :func:`~caliber.reports.pdf.charts.markup`, which escapes it; table cells
are always Paragraphs built that way, so nothing in the data is ever read as markup.
Charts, palette and value formatting live in :mod:`caliber.reports.pdf.charts`.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
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
from reportlab.platypus import (  # type: ignore[import-untyped]
    Image,
    KeepTogether,
    PageBreak,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from caliber.reports.data import ListSnapshot, ReportData, ResultLine
from caliber.reports.pdf import charts
from caliber.reports.pdf.charts import (
    DASH,
    by_unit,
    clip,
    date,
    field_name,
    finite,
    markup,
    money,
    noun,
    num,
    pct,
    performance_level,
    share,
    words,
)

__all__ = ["render_campaign_pdf"]

FONT, BOLD = "CaliberSans", "CaliberSans-Bold"
MARGIN = 0.75 * inch
WIDTH = LETTER[0] - 2 * MARGIN
DETAIL_ROWS, LIST_ROWS, TOP_ROWS, INSIGHT_CHARS, DOMAIN_CHARS = 50, 15, 10, 1500, 64
ACCENT, INK, MUTED, RULE = (
    colors.HexColor(c) for c in (charts.ACCENT, charts.INK, charts.MUTED, charts.RULE)
)
HEADER_BG, ZEBRA = colors.HexColor("#EEF1F4"), colors.HexColor("#F7F8FA")
_LEVEL_STATUS = {"Excellent": "good", "Good": "good", "Moderate": "moderate", "Poor": "poor"}


def render_campaign_pdf(
    data: ReportData, *, include_charts: bool = True, include_details: bool = True
) -> bytes:
    """The PDF report of a completed campaign: title page, Executive Summary, Campaign
    Overview, Performance Metrics, Charts (``include_charts``), Detailed Results
    (``include_details``), Optimization Recommendations and Appendix."""
    _register_fonts()
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=LETTER,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=0.95 * inch,
        bottomMargin=0.85 * inch,
        title=f"{data.campaign.name} – Campaign Performance Report",
        author="Caliber",
        subject="Campaign Performance Report",
        creator="Caliber",
    )
    doc.afterFlowable = _outline(doc)
    story = [*_title_page(data), PageBreak(), *_executive_summary(data), PageBreak()]
    story += _overview(data) + _metrics(data)
    if include_charts:
        story += [PageBreak(), *_charts(data)]
    if include_details:
        story += [PageBreak(), *_details(data)]
    story += [PageBreak(), *_recommendations(data), PageBreak(), *_appendix(data)]
    doc.build(story, onFirstPage=_cover_decor(data), onLaterPages=_page_decor(data))
    return buffer.getvalue()


# --- fonts, styles and building blocks -------------------------------------------------------


@cache
def _register_fonts() -> None:
    faces = {
        FONT: charts.FONT_REGULAR,
        BOLD: charts.FONT_BOLD,
        f"{FONT}-Oblique": charts.FONT_OBLIQUE,
        f"{FONT}-BoldOblique": charts.FONT_BOLD_OBLIQUE,
    }
    for face, path in faces.items():
        pdfmetrics.registerFont(TTFont(face, str(path)))
    pdfmetrics.registerFontFamily(
        FONT, normal=FONT, bold=BOLD, italic=f"{FONT}-Oblique", boldItalic=f"{FONT}-BoldOblique"
    )
    for cid in charts.CJK_FONTS.values():
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


def _p(text: str, style: str = "body") -> Any:
    """A Paragraph of ``text``, which must already be markup (escaped)."""
    return Paragraph(text, _styles()[style])


def _cols(*widths: float | None) -> list[float]:
    """Column widths in inches; the one None column takes the rest of the text width."""
    rest = WIDTH - sum(w * inch for w in widths if w is not None)
    return [rest if w is None else w * inch for w in widths]


def _table(
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
        return _p(markup(value), style + ("num" if right and style == "head" else ""))

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


def _facts(pairs: Sequence[tuple[str, str]]) -> Any:
    """A two-column label / value table."""
    return _table((), [[_p(f"<b>{escape(k)}</b>", "cell"), v] for k, v in pairs], _cols(1.9, None))


def _section(title: str, *flowables: Any, level: str = "H1") -> Any:
    """A heading kept on the same page as what follows it."""
    return KeepTogether([_p(escape(title), level), *flowables])


def _bullets(items: Sequence[str]) -> list[Any]:
    return [Paragraph(item, _styles()["bullet"], bulletText="•") for item in items]


def _status(status: str) -> Any:
    colour = charts.STATUS_COLOURS.get(status, charts.MUTED)
    return _p(f'<font color="{colour}">●</font> {markup(words(status), 20)}', "cell")


def _image(png: bytes, height: float) -> Any:
    return Image(io.BytesIO(png), width=charts.CHART_WIDTH * inch, height=height * inch)


def _rows_table(
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
        cells.extend([_status(r.quality_status)] if status else [])
        cells.extend([num(r.impressions), pct(r.ctr), money(r.cpm)])
    if status:
        head.insert(3, "Status")
        widths.insert(3, 0.95)
    numeric = [c for c, h in enumerate(head) if h not in {"Status", head[1]}]
    return _table(head, body, _cols(*widths), numeric)


def _band(cells: list[Any], widths: Sequence[float], *style: tuple[Any, ...]) -> Any:
    """A one-row layout table (the score call-out, the KPI strip)."""
    table = Table([cells], colWidths=list(widths), hAlign="LEFT")
    table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "MIDDLE"), *style]))
    return table


# --- page furniture --------------------------------------------------------------------------


def _outline(doc: Any) -> Callable[[Any], None]:
    """PDF bookmarks for the H1 and H2 headings."""

    def after(flowable: Any) -> None:
        level = {"H1": 0, "H2": 1}.get(getattr(getattr(flowable, "style", None), "name", ""))
        if isinstance(flowable, Paragraph) and level is not None:
            key = f"h{id(flowable)}"
            doc.canv.bookmarkPage(key)
            doc.canv.addOutlineEntry(flowable.getPlainText(), key, level=level, closed=True)

    return after


def _cover_decor(data: ReportData) -> Callable[[Any, Any], None]:
    def draw(canvas: Any, _doc: Any) -> None:
        width, height = LETTER
        canvas.saveState()
        canvas.setFillColor(ACCENT)
        canvas.rect(0, height - 1.55 * inch, width, 1.55 * inch, stroke=0, fill=1)
        canvas.setFillColor(colors.white)
        canvas.setFont(BOLD, 13)
        canvas.drawString(MARGIN, height - 0.8 * inch, "CALIBER")
        canvas.setFont(FONT, 9)
        canvas.drawRightString(width - MARGIN, height - 0.8 * inch, "Programmatic media quality")
        canvas.setStrokeColor(RULE)
        canvas.line(MARGIN, 0.9 * inch, width - MARGIN, 0.9 * inch)
        canvas.setFillColor(MUTED)
        canvas.setFont(FONT, 8)
        canvas.drawString(MARGIN, 0.7 * inch, f"Generated {date(data.generated_at)}")
        canvas.drawRightString(width - MARGIN, 0.7 * inch, "Confidential · prepared with Caliber")
        canvas.restoreState()

    return draw


def _page_decor(data: ReportData) -> Callable[[Any, Any], None]:
    style = ParagraphStyle("header", fontName=FONT, fontSize=8, leading=10, textColor=MUTED)
    # a Paragraph (for the CJK fallback), clipped to one line
    fits = (markup(data.campaign.name, n) for n in (90, 70, 55, 40, 30, 20, 10))
    one_line = next(m for m in fits if Paragraph(m, style).wrap(WIDTH * 0.7, 99)[1] <= 10)

    def draw(canvas: Any, doc: Any) -> None:
        width, height = LETTER
        canvas.saveState()
        name = Paragraph(one_line, style)
        name.wrapOn(canvas, WIDTH * 0.7, 12)
        name.drawOn(canvas, MARGIN, height - 0.6 * inch)
        canvas.setFont(FONT, 8)
        canvas.setFillColor(MUTED)
        canvas.drawRightString(width - MARGIN, height - 0.6 * inch, "Campaign Performance Report")
        canvas.setStrokeColor(RULE)
        canvas.setLineWidth(0.6)
        canvas.line(MARGIN, height - 0.68 * inch, width - MARGIN, height - 0.68 * inch)
        canvas.line(MARGIN, 0.62 * inch, width - MARGIN, 0.62 * inch)
        canvas.drawString(MARGIN, 0.45 * inch, f"Generated {date(data.generated_at)}")
        canvas.drawRightString(width - MARGIN, 0.45 * inch, f"Page {doc.page}")
        canvas.restoreState()

    return draw


# --- sections --------------------------------------------------------------------------------


def _title_page(data: ReportData) -> list[Any]:
    c, facts = data.campaign, charts.title_facts(data)
    title = "title" if len(c.name) <= 60 else "long_title"
    story = [Spacer(1, 1.1 * inch), _p(markup(c.name, 120), title)]
    story.append(_p("Campaign Performance Report", "subtitle"))
    if c.description:
        story += [_p(markup(c.description, 600), "muted"), Spacer(1, 10)]
    return [*story, Spacer(1, 14), _facts(facts)]


def _executive_summary(data: ReportData) -> list[Any]:
    s = data.summary
    score = finite(s.get("campaign_level_score"))
    level = performance_level(score)
    colour = charts.STATUS_COLOURS.get(_LEVEL_STATUS.get(level, ""), charts.MUTED)
    verdict = _p(
        f'Overall performance: <font color="{colour}"><b>{level}</b></font><br/>'
        f'<font size="8.5" color="{charts.MUTED}">The impression-weighted campaign score on a '
        "0–100 scale; the bands are explained in the Appendix.</font>"
    )
    big = _p(f'{num(score, 1)}<font size="11"> / 100</font>', "big")
    callout = _band(
        [big, verdict],
        _cols(1.9, None),
        ("BACKGROUND", (0, 0), (-1, -1), colors.HexColor(charts.ACCENT_LIGHT)),
        ("LEFTPADDING", (0, 0), (-1, -1), 14),
        ("TOPPADDING", (0, 0), (-1, -1), 12),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 12),
    )
    kpis = {
        "Impressions": num(s.get("total_impressions")),
        "Spend": money(s.get("total_spend")),
        "Average CPM": money(s.get("average_cpm")),
        "Rows scored": num(s.get("row_count", data.total_rows)),
    }
    strip = _band(
        [[_p(escape(k), "muted"), _p(v, "kpi")] for k, v in kpis.items()],
        [WIDTH / 4] * 4,
        ("LINEAFTER", (0, 0), (-2, -1), 0.6, RULE),
        ("LINEBELOW", (0, 0), (-1, -1), 0.6, RULE),
        ("LEFTPADDING", (0, 0), (-1, -1), 10),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 8),
    )
    insights = _bullets(charts.key_insights(data))
    story = [_section("Executive Summary", callout, Spacer(1, 12), strip)]
    story.append(_section("Key Insights", *insights, level="H2"))
    if data.insights:
        story.append(_p("Analyst notes", "H2"))
    for insight in data.insights:
        meta = f"{markup(words(insight.insight_type), 60)} · {date(insight.created_at)}"
        story.append(_p(meta, "muted"))
        text = clip(insight.content.replace("\r\n", "\n").strip(), INSIGHT_CHARS)
        for block in filter(None, (b.strip() for b in text.split("\n\n"))):
            story.append(_p(markup(block, INSIGHT_CHARS).replace("\n", "<br/>")))
        story.append(Spacer(1, 6))
    return story


def _overview(data: ReportData) -> list[Any]:
    return [_section("Campaign Overview", _facts(charts.overview_facts(data)))]


def _metrics(data: ReportData) -> list[Any]:
    rows = [
        [
            _p(f"<b>{markup(m.label, 40)}</b>", "cell"),
            by_unit(m.mean, m.unit),
            by_unit(m.median, m.unit),
            f"{by_unit(m.minimum, m.unit)} – {by_unit(m.maximum, m.unit)}",
            m.description,
        ]
        for m in data.metric_stats
    ]
    header = ("Metric", "Average", "Median", "Range", "What it means")
    table = _table(header, rows, _cols(1.1, 0.85, 0.85, 1.6, None), (1, 2, 3))
    content = table if rows else _p("No metric statistics were recorded.")
    return [Spacer(1, 10), _section("Performance Metrics", content)]


def _charts(data: ReportData) -> list[Any]:
    what, counts = noun(data), data.summary.get("status_counts") or {}
    good, moderate, poor = (int(finite(counts.get(k)) or 0) for k in ("good", "moderate", "poor"))
    top = data.top_rows[:TOP_ROWS]
    bars = [(r.domain, r.score, r.quality_status) for r in top]
    intro = f"How the {data.total_rows:,} scored {what} spread over the 0–100 score range."
    mix = (
        "Good: the top quarter of the campaign by score percentile; moderate: the middle half; "
        "poor: the bottom quarter."
    )
    histogram = charts.score_histogram_png(data.score_histogram, what)
    story = [
        _section("Charts", _p(escape(intro), "muted"), _p("Score distribution", "H2")),
        _image(histogram, 2.6),
        _section("Quality mix", _p(mix, "muted"), level="H2"),
        _image(charts.quality_mix_png(good, moderate, poor), 2.1),
    ]
    if not top:
        return [*story, _section(f"Top 10 {what}", _p("No scored rows to show."), level="H2")]
    chart = _image(charts.top_scores_png(bars), charts.top_height(len(top)))
    table = _rows_table(data, top, status=False)
    return [*story, _section(f"Top 10 {what} by score", chart, level="H2"), Spacer(1, 10), table]


def _details(data: ReportData) -> list[Any]:
    rows = data.top_rows[:DETAIL_ROWS]
    if not rows:
        return [_section("Detailed Results", _p("No scored rows to show."))]
    note = f"All {len(rows)} rows, best first."
    if data.total_rows > len(rows):
        note = (
            f"Showing {len(rows)} of {data.total_rows:,} rows; "
            "the full list is in the results CSV export."
        )
    table = _rows_table(data, rows, status=True)
    return [_section("Detailed Results", _p(escape(note), "muted"), Spacer(1, 6)), table]


def _list_block(data: ReportData, snap: ListSnapshot) -> list[Any]:
    kind, crit, what = snap.list_type, snap.criteria, noun(data)
    white = kind == "whitelist"
    limit = finite(crit.get("whitelist_min_score" if white else "blacklist_max_score"))
    rule = "" if limit is None else f"score {'≥' if white else '≤'} {num(limit, 1)}"
    criteria = (
        f"Criteria: at least {num(crit.get('min_impressions'))} impressions "
        f"({num(crit.get('eligible_rows'))} {what} eligible){' and ' + rule if rule else ''}."
    )
    stats = [
        num(len(snap.entries)),
        num(snap.average_score, 1),
        num(snap.total_impressions),
        share(snap.total_impressions, data.summary.get("total_impressions")),
    ]
    head = ("Entries", "Average score", "Impressions", "Share of impressions")
    summary = _table(head, [stats], [WIDTH / 4] * 4, (0, 1, 2, 3))
    title = "Whitelist: target list" if white else "Blacklist: block list"
    parts = [_p(escape(criteria), "muted"), Spacer(1, 4), summary, Spacer(1, 8)]
    if not snap.entries:
        why = f" (no eligible {what} scored {rule})" if rule else ""
        use = "target" if white else "block"
        text = f"No {noun(data, 1)} met the {kind} criteria{why}: there is no {use} list yet."
        return [_section(title, *parts, _p(escape(text)), level="H2")]
    shown = snap.entries[:LIST_ROWS]
    story = [
        _section(title, *parts, _rows_table(data, shown, status=False, number=True), level="H2")
    ]
    if len(snap.entries) > len(shown):
        more = (
            f"Showing {len(shown)} of {len(snap.entries):,}; the full list is in the {kind} export."
        )
        story.append(_p(escape(more), "muted"))
    return story


def _recommendations(data: ReportData) -> list[Any]:
    intro = (
        f"The lists are built from the {noun(data)} with enough impressions to judge: the best "
        "quarter by score forms the whitelist, the weakest quarter the blacklist."
    )
    actions = _bullets(charts.recommended_actions(data))
    return [
        _section("Optimization Recommendations", _p(escape(intro))),
        _section("Recommended actions", *actions, level="H2"),
        *_list_block(data, data.whitelist),
        *_list_block(data, data.blacklist),
    ]


def _appendix(data: ReportData) -> list[Any]:
    ordered = sorted(data.weights.items(), key=lambda kv: -(finite(kv[1]) or 0))
    lower = {m for m, d in data.directions.items() if d == "lower_is_better"}
    weights = [
        [charts.metric_name(m), pct(w, 0), "Lower is better" if m in lower else "Higher is better"]
        for m, w in ordered
    ]
    table = _table(("Metric", "Weight", "Direction"), weights, _cols(None, 1.0, 1.8), (1,))
    method = [_p("Scoring Methodology", "H2"), _p(charts.methodology(data)), Spacer(1, 8)]
    return [_section("Appendix", *method, table), *_data_quality(data)]


def _data_quality(data: ReportData) -> list[Any]:
    dq = data.data_quality
    none = _p("No data-quality issues were recorded.")
    if not dq:
        return [_section("Data Quality Notes", none, level="H2")]
    pairs = charts.processing_facts(dq)
    story = [_section("Data Quality Notes", _facts(pairs), level="H2")]
    mapping = [[str(k), field_name(str(v))] for k, v in (dq.get("column_mapping") or {}).items()]
    if mapping:
        table = _table(("Column in the file", "Read as"), mapping, [WIDTH / 2] * 2)
        story.append(_section("Column mapping", table, level="H3"))
    unmapped = ", ".join(map(str, dq.get("unmapped_columns") or []))
    if unmapped:
        story.append(_p(f"Columns not used: {markup(unmapped, 600)}.", "muted"))
    warnings = [w for w in dq.get("warnings") or [] if isinstance(w, dict)]
    notes = [markup(w.get("message") or w.get("code") or DASH, 400) for w in warnings]
    story.append(_section("Warnings", *(_bullets(notes) if notes else [none]), level="H3"))
    return story
