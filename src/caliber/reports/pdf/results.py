"""The Charts (score distribution, quality mix, top 10) and the Detailed Results (the best
rows, noting how many more) of the PDF report.
"""

from __future__ import annotations

import io
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib.units import inch  # type: ignore[import-untyped]
from reportlab.platypus import Image, Spacer  # type: ignore[import-untyped]

from caliber.reports.data import ReportData
from caliber.reports.pdf import charts
from caliber.reports.pdf.layout import para, rows_table, section
from caliber.reports.pdf.text import finite, noun

DETAIL_ROWS, TOP_ROWS = 50, 10


def chart_image(png: bytes, height: float) -> Any:
    return Image(io.BytesIO(png), width=charts.CHART_WIDTH * inch, height=height * inch)


def charts_section(data: ReportData) -> list[Any]:
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
        section("Charts", para(escape(intro), "muted"), para("Score distribution", "H2")),
        chart_image(histogram, 2.6),
        section("Quality mix", para(mix, "muted"), level="H2"),
        chart_image(charts.quality_mix_png(good, moderate, poor), 2.1),
    ]
    if not top:
        return [*story, section(f"Top 10 {what}", para("No scored rows to show."), level="H2")]
    chart = chart_image(charts.top_scores_png(bars), charts.top_height(len(top)))
    table = rows_table(data, top, status=False)
    return [*story, section(f"Top 10 {what} by score", chart, level="H2"), Spacer(1, 10), table]


def detailed_results(data: ReportData) -> list[Any]:
    rows = data.top_rows[:DETAIL_ROWS]
    if not rows:
        return [section("Detailed Results", para("No scored rows to show."))]
    note = f"All {len(rows)} rows, best first."
    if data.total_rows > len(rows):
        note = (
            f"Showing {len(rows)} of {data.total_rows:,} rows; "
            "the full list is in the results CSV export."
        )
    table = rows_table(data, rows, status=True)
    return [section("Detailed Results", para(escape(note), "muted"), Spacer(1, 6)), table]
