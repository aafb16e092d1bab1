"""The Appendix of the PDF report: the scoring methodology with the weights used, and the
data-quality notes (row counts, column mapping, the reader's warnings).
"""

from __future__ import annotations

from typing import Any

from reportlab.platypus import Spacer  # type: ignore[import-untyped]

from caliber.engine.columns import INPUTS
from caliber.reports.data import ReportData
from caliber.reports.pdf.layout import (
    WIDTH,
    bullets,
    col_widths,
    facts_table,
    para,
    section,
    zebra_table,
)
from caliber.reports.pdf.text import DASH, field_name, finite, markup, noun, num, pct, words


def metric_name(metric: str) -> str:
    """The export header of a standard metric (``CTR``), else its name in words."""
    known = INPUTS.get(metric)
    return known.header if known else field_name(metric)


def methodology(data: ReportData) -> str:
    """The Scoring Methodology paragraph, as markup."""
    return (
        "Each metric is normalized within the campaign to a 0–1 scale (inverted when lower is "
        f"better), multiplied by its weight and summed, giving every {noun(data, 1)} a score "
        "from 0 to 100. Labels follow the score percentile within the campaign: good from the "
        "75th percentile, moderate from the 25th, poor below. The campaign score is the "
        "impression-weighted average score; its level is <b>Excellent</b> from 80, <b>Good</b> "
        "from 60, <b>Moderate</b> from 40 and <b>Poor</b> below 40."
    )


def processing_facts(dq: dict[str, Any]) -> list[tuple[str, str]]:
    """Row counts of the engine's processing report (``ProcessingReport.to_dict()``)."""
    dropped = {str(k): v for k, v in (dq.get("rows_dropped") or {}).items()}
    reasons = ", ".join(f"{words(k).lower()}: {num(v)}" for k, v in dropped.items())
    total_dropped = dq.get("rows_dropped_total", sum(finite(v) or 0 for v in dropped.values()))
    return [
        ("Rows read", num(dq.get("rows_read"))),
        ("Rows scored", num(dq.get("rows_scored"))),
        ("Rows dropped", num(total_dropped) + (f" ({reasons})" if reasons else "")),
        ("Rows aggregated", num(dq.get("rows_aggregated"))),
        ("Rows filtered", num(dq.get("rows_filtered"))),
        ("File", " · ".join(str(dq[k]) for k in ("file_format", "encoding") if dq.get(k)) or DASH),
    ]


def appendix(data: ReportData) -> list[Any]:
    ordered = sorted(data.weights.items(), key=lambda kv: -(finite(kv[1]) or 0))
    lower = {m for m, d in data.directions.items() if d == "lower_is_better"}
    weights = [
        [metric_name(m), pct(w, 0), "Lower is better" if m in lower else "Higher is better"]
        for m, w in ordered
    ]
    table = zebra_table(
        ("Metric", "Weight", "Direction"), weights, col_widths(None, 1.0, 1.8), (1,)
    )
    method = [para("Scoring Methodology", "H2"), para(methodology(data)), Spacer(1, 8)]
    return [section("Appendix", *method, table), *_data_quality(data)]


def _data_quality(data: ReportData) -> list[Any]:
    dq = data.data_quality
    none = para("No data-quality issues were recorded.")
    if not dq:
        return [section("Data Quality Notes", none, level="H2")]
    pairs = processing_facts(dq)
    story = [section("Data Quality Notes", facts_table(pairs), level="H2")]
    mapping = [[str(k), field_name(str(v))] for k, v in (dq.get("column_mapping") or {}).items()]
    if mapping:
        table = zebra_table(("Column in the file", "Read as"), mapping, [WIDTH / 2] * 2)
        story.append(section("Column mapping", table, level="H3"))
    unmapped = ", ".join(map(str, dq.get("unmapped_columns") or []))
    if unmapped:
        story.append(para(f"Columns not used: {markup(unmapped, 600)}.", "muted"))
    warnings = [w for w in dq.get("warnings") or [] if isinstance(w, dict)]
    notes = [markup(w.get("message") or w.get("code") or DASH, 400) for w in warnings]
    story.append(section("Warnings", *(bullets(notes) if notes else [none]), level="H3"))
    return story
