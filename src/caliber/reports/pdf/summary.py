"""The opening of the PDF report: the title page (the campaign's key facts) and the
Executive Summary (the overall level, the totals, the key insights and the analyst's
notes).
"""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors  # type: ignore[import-untyped]
from reportlab.lib.units import inch  # type: ignore[import-untyped]
from reportlab.platypus import Spacer  # type: ignore[import-untyped]

from caliber.reports.data import ReportData
from caliber.reports.pdf import theme
from caliber.reports.pdf.layout import (
    RULE,
    WIDTH,
    band,
    bullets,
    col_widths,
    facts_table,
    para,
    section,
)
from caliber.reports.pdf.text import (
    DASH,
    PLATFORMS,
    clip,
    date,
    finite,
    markup,
    money,
    noun,
    num,
    performance_level,
    share,
    words,
)

INSIGHT_CHARS = 1500
_LEVEL_STATUS = {"Excellent": "good", "Good": "good", "Moderate": "moderate", "Poor": "poor"}


def title_facts(data: ReportData) -> list[tuple[str, str]]:
    c = data.campaign
    return [
        ("Platform", PLATFORMS.get(c.platform, words(c.platform))),
        ("Goal", words(c.goal)),
        ("Channel", words(c.channel)),
        ("CTR sensitivity", "On" if c.ctr_sensitivity else "Off"),
        ("Analysis level", words(c.analysis_level)),
        ("Status", words(c.status)),
        ("Created", date(c.created_at)),
        ("Completed", date(c.completed_at)),
        ("Source file", clip(c.source_filename or DASH, 120)),
        ("Report generated", date(data.generated_at)),
    ]


def key_insights(data: ReportData) -> list[str]:
    """The Executive Summary bullets, as markup: only what the numbers hold."""
    s, what, items = data.summary, noun(data), []
    counts = {k: int(finite(v) or 0) for k, v in (s.get("status_counts") or {}).items()}
    good, total = counts.get("good", 0), sum(counts.values())
    if total:
        items.append(
            f"<b>{good:,} of {total:,} {what}</b> ({share(good, total)}) rated good, "
            f"{counts.get('moderate', 0):,} moderate and {counts.get('poor', 0):,} poor."
        )
    dist = s.get("score_distribution") or {}
    if finite(dist.get("min")) is not None and finite(dist.get("max")) is not None:
        items.append(
            f"Scores range from {num(dist['min'], 1)} to {num(dist['max'], 1)} "
            f"(median {num(dist.get('median'), 1)})."
        )
    if data.top_rows:
        best = data.top_rows[0]
        items.append(
            f"Best performer: <b>{markup(best.domain, 80)}</b>, score {num(best.score, 1)} on "
            f"{num(best.impressions)} impressions."
        )
    worst = next(iter(s.get("bottom_performers") or []), None)
    if isinstance(worst, dict):
        name = worst.get(data.campaign.analysis_level, worst.get("domain", DASH))
        items.append(
            f"Weakest performer: <b>{markup(name, 80)}</b>, score {num(worst.get('score'), 1)} "
            f"on {num(worst.get('impressions'))} impressions."
        )
    impressions = s.get("total_impressions")
    for snap in (data.whitelist, data.blacklist):
        part = share(snap.total_impressions, impressions)
        items.append(
            f"The {snap.list_type} holds {len(snap.entries):,} {noun(data, len(snap.entries))}"
            + (f" ({part} of impressions)." if snap.entries and part != DASH else ".")
        )
    black_spend = sum((finite(e.spend) or 0.0 for e in data.blacklist.entries), 0.0)
    if black_spend and finite(s.get("total_spend")):
        items.append(
            f"Blacklisted {what} absorbed {money(black_spend)} "
            f"({share(black_spend, s.get('total_spend'))}) of spend."
        )
    warnings = [w for w in data.data_quality.get("warnings") or [] if isinstance(w, dict)]
    if warnings:
        top = max(warnings, key=lambda w: finite(w.get("count")) or 0)
        items.append(
            f"Main data-quality note: {markup(top.get('message') or top.get('code'), 240)} "
            "(see Data Quality Notes)."
        )
    return items


def title_page(data: ReportData) -> list[Any]:
    c, facts = data.campaign, title_facts(data)
    title = "title" if len(c.name) <= 60 else "long_title"
    story = [Spacer(1, 1.1 * inch), para(markup(c.name, 120), title)]
    story.append(para("Campaign Performance Report", "subtitle"))
    if c.description:
        story += [para(markup(c.description, 600), "muted"), Spacer(1, 10)]
    return [*story, Spacer(1, 14), facts_table(facts)]


def executive_summary(data: ReportData) -> list[Any]:
    s = data.summary
    score = finite(s.get("campaign_level_score"))
    level = performance_level(score)
    colour = theme.STATUS_COLOURS.get(_LEVEL_STATUS.get(level, ""), theme.MUTED)
    verdict = para(
        f'Overall performance: <font color="{colour}"><b>{level}</b></font><br/>'
        f'<font size="8.5" color="{theme.MUTED}">The impression-weighted campaign score on a '
        "0–100 scale; the bands are explained in the Appendix.</font>"
    )
    big = para(f'{num(score, 1)}<font size="11"> / 100</font>', "big")
    callout = band(
        [big, verdict],
        col_widths(1.9, None),
        ("BACKGROUND", (0, 0), (-1, -1), colors.HexColor(theme.ACCENT_LIGHT)),
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
    strip = band(
        [[para(escape(k), "muted"), para(v, "kpi")] for k, v in kpis.items()],
        [WIDTH / 4] * 4,
        ("LINEAFTER", (0, 0), (-2, -1), 0.6, RULE),
        ("LINEBELOW", (0, 0), (-1, -1), 0.6, RULE),
        ("LEFTPADDING", (0, 0), (-1, -1), 10),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 8),
    )
    insights = bullets(key_insights(data))
    story = [section("Executive Summary", callout, Spacer(1, 12), strip)]
    story.append(section("Key Insights", *insights, level="H2"))
    if data.insights:
        story.append(para("Analyst notes", "H2"))
    for insight in data.insights:
        meta = f"{markup(words(insight.insight_type), 60)} · {date(insight.created_at)}"
        story.append(para(meta, "muted"))
        text = clip(insight.content.replace("\r\n", "\n").strip(), INSIGHT_CHARS)
        for block in filter(None, (b.strip() for b in text.split("\n\n"))):
            story.append(para(markup(block, INSIGHT_CHARS).replace("\n", "<br/>")))
        story.append(Spacer(1, 6))
    return story
