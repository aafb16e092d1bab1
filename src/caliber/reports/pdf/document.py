"""The client PDF report of one completed campaign (ReportLab platypus, US Letter).

:func:`render_campaign_pdf` is a pure function of :class:`~caliber.reports.data.ReportData`:
it lays out the sections, each built by its own module (:mod:`.summary`, :mod:`.overview`,
:mod:`.results`, :mod:`.recommendations`, :mod:`.appendix`) from the blocks of
:mod:`.layout`, and draws the page furniture (cover band, running header and footer,
bookmarks). Every string from users or models goes through
:func:`~caliber.reports.pdf.text.markup`, which escapes it.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from typing import Any

from reportlab.lib import colors  # type: ignore[import-untyped]
from reportlab.lib.pagesizes import LETTER  # type: ignore[import-untyped]
from reportlab.lib.styles import ParagraphStyle  # type: ignore[import-untyped]
from reportlab.lib.units import inch  # type: ignore[import-untyped]
from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate  # type: ignore[import-untyped]

from caliber.reports.data import ReportData
from caliber.reports.pdf import appendix, overview, recommendations, results, summary
from caliber.reports.pdf import confidence as confidence_section
from caliber.reports.pdf.impact import impact_section
from caliber.reports.pdf.layout import (
    ACCENT,
    BOLD,
    FONT,
    MARGIN,
    MUTED,
    RULE,
    WIDTH,
    register_fonts,
)
from caliber.reports.pdf.text import date, markup

__all__ = ["render_campaign_pdf"]


def render_campaign_pdf(
    data: ReportData,
    *,
    include_charts: bool = True,
    include_details: bool = True,
    impact: Mapping[str, Any] | None = None,
) -> bytes:
    """The PDF report of a completed campaign: title page, Executive Summary, Campaign
    Overview, Performance Metrics, Charts (``include_charts``), Detailed Results
    (``include_details``), Optimization Recommendations, what applying the lists would do
    (with ``impact``: :mod:`caliber.scoring.impact`'s answer for the run) and Appendix."""
    register_fonts()
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
    story = [*summary.title_page(data), PageBreak(), *summary.executive_summary(data), PageBreak()]
    story += overview.campaign_overview(data) + overview.performance_metrics(data)
    if include_charts:
        story += [PageBreak(), *results.charts_section(data)]
    if include_details:
        story += [PageBreak(), *results.detailed_results(data)]
    story += [
        PageBreak(),
        *recommendations.optimization_recommendations(data),
        *confidence_section.how_sure(data),  # a run scored with list_confidence only
        *([PageBreak(), *impact_section(data, impact)] if impact is not None else []),
        PageBreak(),
        *appendix.appendix(data),
    ]
    doc.build(story, onFirstPage=_cover_decor(data), onLaterPages=_page_decor(data))
    return buffer.getvalue()


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
