"""The Campaign Overview (totals, score and processing date) and the Performance Metrics
(each metric's average, median and range) of the PDF report.
"""

from __future__ import annotations

from typing import Any

from reportlab.platypus import Spacer  # type: ignore[import-untyped]

from caliber.reports.data import ReportData
from caliber.reports.pdf.layout import col_widths, facts_table, para, section, zebra_table
from caliber.reports.pdf.text import (
    by_unit,
    date,
    finite,
    markup,
    money,
    noun,
    num,
    performance_level,
)


def overview_facts(data: ReportData) -> list[tuple[str, str]]:
    s, score = data.summary, data.summary.get("campaign_level_score")
    return [
        ("Impressions", num(s.get("total_impressions"))),
        ("Spend", money(s.get("total_spend"))),
        ("Average CPM", money(s.get("average_cpm"))),
        ("Campaign score", f"{num(score, 1)} / 100 ({performance_level(finite(score))})"),
        (f"Total {noun(data)}", num(data.total_rows)),
        ("Processing date", date(data.campaign.completed_at)),
    ]


def campaign_overview(data: ReportData) -> list[Any]:
    return [section("Campaign Overview", facts_table(overview_facts(data)))]


def performance_metrics(data: ReportData) -> list[Any]:
    rows = [
        [
            para(f"<b>{markup(m.label, 40)}</b>", "cell"),
            by_unit(m.mean, m.unit),
            by_unit(m.median, m.unit),
            f"{by_unit(m.minimum, m.unit)} – {by_unit(m.maximum, m.unit)}",
            m.description,
        ]
        for m in data.metric_stats
    ]
    header = ("Metric", "Average", "Median", "Range", "What it means")
    table = zebra_table(header, rows, col_widths(1.1, 0.85, 0.85, 1.6, None), (1, 2, 3))
    content = table if rows else para("No metric statistics were recorded.")
    return [Spacer(1, 10), section("Performance Metrics", content)]
