"""The client PDF report: sections, escaping, Unicode, charts, robustness and how pages render."""

from __future__ import annotations

import dataclasses
import io
import os
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PIL import Image
from pypdf import PdfReader

from caliber.reports.data import Insight, ListSnapshot, MetricStats
from caliber.reports.pdf import charts
from caliber.reports.pdf import text as pdf_text
from caliber.reports.pdf.document import render_campaign_pdf
from tests.reports.sample_data import HOSTILE_DOMAINS, LONG_DOMAIN, UNICODE_DOMAINS, sample_report

HEADINGS = (
    "Executive Summary",
    "Campaign Overview",
    "Performance Metrics",
    "Charts",
    "Detailed Results",
    "Optimization Recommendations",
    "Appendix",
)
HOSTILE_NAME = "<b>x</b><font size=40> & Co"
REPO = Path(__file__).resolve().parents[2]


def _reader(pdf: bytes) -> PdfReader:
    assert pdf.startswith(b"%PDF-")
    return PdfReader(io.BytesIO(pdf))


def _text(reader: PdfReader) -> str:
    return "\n".join(page.extract_text() for page in reader.pages)


def _image_count(reader: PdfReader) -> int:
    """Image XObjects drawn on the pages."""
    return sum(len(page.images.keys()) for page in reader.pages)


@pytest.fixture(scope="module")
def full_pdf() -> bytes:
    return render_campaign_pdf(sample_report())


@pytest.fixture(scope="module")
def full(full_pdf: bytes) -> PdfReader:
    return _reader(full_pdf)


@pytest.fixture(scope="module")
def full_text(full: PdfReader) -> str:
    return _text(full)


def _empty(kind: str) -> ListSnapshot:
    criteria = {"min_impressions": 250, "eligible_rows": 0}
    return ListSnapshot(kind, (), criteria, None, 0.0)


# --- structure -------------------------------------------------------------------------------


def test_full_report_has_every_section_in_order_on_letter_pages(
    full: PdfReader, full_text: str
) -> None:
    assert len(full.pages) >= 5
    box = full.pages[0].mediabox
    assert (float(box.width), float(box.height)) == (612.0, 792.0)
    lines = [line.strip() for line in full_text.splitlines()]
    positions = [lines.index(heading) if heading in lines else -1 for heading in HEADINGS]
    assert all(p >= 0 for p in positions), dict(zip(HEADINGS, positions, strict=True))
    assert positions == sorted(positions)
    for text in ("Campaign Performance Report", "Key Insights", "Scoring Methodology"):
        assert text in full_text
    assert "Data Quality Notes" in full_text
    assert "Holiday Awareness Q4 — Display" in full_text


def test_title_page_states_the_key_facts(full: PdfReader) -> None:
    first = full.pages[0].extract_text()
    for label in ("Platform", "Goal", "Channel", "CTR sensitivity", "Analysis level", "Status"):
        assert label in first
    for value in ("The Trade Desk", "Awareness", "Display", "ttd_site_report_2026-11-25.csv"):
        assert value in first
    assert "27 Nov 2026 14:05 UTC" in first
    assert "26 Nov 2026 09:30 UTC" in first


def test_later_pages_carry_header_and_page_number(full: PdfReader) -> None:
    for number, page in enumerate(full.pages[1:], start=2):
        text = page.extract_text()
        assert f"Page {number}" in text
        assert "Holiday Awareness Q4" in text
        assert "Generated 27 Nov 2026 14:05 UTC" in text


def test_summary_figures_and_insights(full_text: str) -> None:
    data = sample_report()
    counts = data.summary["status_counts"]
    assert f"{counts['good']} of 120 domains" in full_text
    assert "Overall performance:" in full_text
    assert data.top_rows[0].domain in full_text
    assert f"${data.summary['total_spend']:,.2f}" in full_text
    assert "Analyst notes" in full_text
    assert "Main data-quality note: 12 cell(s) of 'Clicks'" in full_text


def test_detailed_results_show_50_of_120_rows(full_text: str) -> None:
    assert "Showing 50 of 120 rows; the full list is in the results CSV export." in full_text


def test_metrics_are_formatted_by_unit(full_text: str) -> None:
    data = sample_report()
    ctr = next(m for m in data.metric_stats if m.label == "CTR")
    cpm = next(m for m in data.metric_stats if m.label == "CPM")
    assert pdf_text.pct(ctr.mean) in full_text
    assert f"${cpm.median:,.2f}" in full_text
    assert "What it means" in full_text


def test_recommendations_and_appendix(full_text: str) -> None:
    data = sample_report()
    assert f"Upload the whitelist ({len(data.whitelist.entries)} domains)" in full_text
    assert "as a block list" in full_text
    assert "Showing 15 of" in full_text
    assert "Higher is better" in full_text
    assert "Lower is better" in full_text
    assert "Excellent from 80" in full_text
    assert "IAS Display Fully In View 1 Second Rate" in full_text
    assert "2 value(s) of 'CPM <USD>' are above 1,000" in full_text


def test_outline_lists_the_sections(full: PdfReader) -> None:
    titles = [item.title for item in full.outline if not isinstance(item, list)]
    assert titles[: len(HEADINGS)] == list(HEADINGS)


# --- escaping and Unicode ------------------------------------------------------------------


def test_markup_in_names_domains_and_insights_appears_literally() -> None:
    insight = Insight(
        "summary", "Watch <script>alert(1)</script> & <font size=40>big</font>", _now()
    )
    data = sample_report(name=HOSTILE_NAME, source_filename="<i>x</i>.csv", insights=(insight,))
    text = _text(_reader(render_campaign_pdf(data)))
    assert HOSTILE_NAME in text
    assert "<i>x</i>.csv" in text
    assert "<script>alert(1)</script> & <font size=40>big</font>" in text
    for domain in HOSTILE_DOMAINS:
        assert domain in text


def test_unicode_domains_are_extractable(full_text: str) -> None:
    for domain in UNICODE_DOMAINS:
        assert domain in full_text


def test_long_domains_are_clipped_with_an_ellipsis(full_text: str) -> None:
    assert LONG_DOMAIN not in full_text.replace("\n", "")
    assert LONG_DOMAIN[:20] in full_text


def test_long_insights_are_truncated() -> None:
    text = "First paragraph.\n\n" + "word " * 800 + "THE-END"
    data = sample_report(insights=(Insight("performance_summary", text, _now()),))
    extracted = _text(_reader(render_campaign_pdf(data, include_charts=False)))
    assert "First paragraph." in extracted
    assert "THE-END" not in extracted
    assert "…" in extracted


def test_markup_helper_escapes_and_marks_cjk_runs() -> None:
    assert pdf_text.markup("<b>&</b>") == "&lt;b&gt;&amp;&lt;/b&gt;"
    assert pdf_text.markup('=HYPERLINK("x")') == '=HYPERLINK("x")'
    assert pdf_text.markup("a\x00b") == "a b"
    assert pdf_text.markup("例え.jp") == '<font name="HeiseiKakuGo-W5">例え</font>.jp'
    assert pdf_text.markup("x" * 10, 5) == "xxxx…"
    assert pdf_text.markup("한국.kr") == '<font name="HYGothic-Medium">한국</font>.kr'
    assert pdf_text.markup("<中文>") == '&lt;<font name="STSong-Light">中文</font>&gt;'


def test_cjk_campaign_names_and_bold_cjk_domains_render() -> None:
    data = sample_report(name="東京キャンペーン <秋>")
    rows = list(data.top_rows)
    rows[0] = dataclasses.replace(rows[0], domain="中文网.cn")
    text = _text(_reader(render_campaign_pdf(dataclasses.replace(data, top_rows=tuple(rows)))))
    assert "東京キャンペーン <秋>" in text
    assert "Best performer: 中文网.cn" in text


# --- charts ----------------------------------------------------------------------------------


def test_charts_are_embedded_only_when_asked(full: PdfReader) -> None:
    assert _image_count(full) >= 3
    without = _reader(render_campaign_pdf(sample_report(), include_charts=False))
    assert _image_count(without) == 0
    assert "Charts" not in _text(without)
    assert len(without.pages) < len(full.pages)


def test_details_can_be_left_out(full: PdfReader) -> None:
    reader = _reader(render_campaign_pdf(sample_report(), include_details=False))
    text = _text(reader)
    assert "Detailed Results" not in text
    assert "Showing 50 of" not in text
    assert len(reader.pages) < len(full.pages)
    bare = _reader(
        render_campaign_pdf(sample_report(), include_charts=False, include_details=False)
    )
    assert 3 <= len(bare.pages) < len(reader.pages)


def test_chart_pngs_are_opaque_and_sized_for_the_page() -> None:
    for png in (
        charts.score_histogram_png((0,) * 10),
        charts.quality_mix_png(0, 0, 0),
        charts.top_scores_png([]),
        charts.top_scores_png([("例え.jp", 91.0, "good"), ("x" * 80, 12.0, "poor")]),
    ):
        with Image.open(io.BytesIO(png)) as image:
            assert image.format == "PNG"
            assert image.mode == "RGB"
            assert image.width == charts.CHART_WIDTH * charts.DPI


def test_chart_labels_fall_back_to_idna_for_missing_glyphs() -> None:
    assert charts.drawable("例え.jp") == "xn--r8jz45g.jp"
    assert charts.drawable("bücher.de") == "bücher.de"
    assert charts.drawable("a" * 50, 10) == "a" * 9 + "…"


def test_rendering_never_imports_pyplot() -> None:
    code = (
        "import sys\n"
        "from caliber.reports.pdf.document import render_campaign_pdf\n"
        "from tests.reports.sample_data import sample_report\n"
        "assert render_campaign_pdf(sample_report(20)).startswith(b'%PDF')\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot was imported'\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)])}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )
    assert result.returncode == 0, result.stderr
    for module in sorted((REPO / "src" / "caliber" / "reports" / "pdf").glob("*.py")):
        source = module.read_text(encoding="utf-8")
        assert not re.search(
            r"^\s*(from|import)\s+matplotlib\.pyplot|import\s+pyplot", source, re.M
        )


# --- robustness ------------------------------------------------------------------------------


def test_empty_lists_and_all_zero_histogram_render() -> None:
    data = sample_report(
        whitelist=_empty("whitelist"), blacklist=_empty("blacklist"), score_histogram=(0,) * 10
    )
    reader = _reader(render_campaign_pdf(data))
    text = _text(reader)
    assert "No domain met the whitelist criteria" in text
    assert "No domain met the blacklist criteria" in text
    assert _image_count(reader) >= 3


def test_missing_summary_values_and_empty_rows_render_as_dashes() -> None:
    stats = (MetricStats("CTR", None, None, None, None, "fraction", "Clicks per impression"),)
    data = sample_report(
        summary={"campaign_level_score": None, "status_counts": None},
        top_rows=(),
        metric_stats=stats,
        score_histogram=(),
        whitelist=_empty("whitelist"),
        blacklist=_empty("blacklist"),
        data_quality={},
        insights=(),
        completed_at=None,
        source_filename=None,
        description=None,
    )
    text = _text(_reader(render_campaign_pdf(data)))
    assert "—" in text
    assert "Not available" in text
    assert "No scored rows to show." in text
    assert "No data-quality issues were recorded." in text
    assert "Analyst notes" not in text


def test_supply_vendor_campaigns_speak_of_supply_vendors() -> None:
    data = sample_report(40, analysis_level="supply_vendor", channel="ctv")
    text = _text(_reader(render_campaign_pdf(data, include_charts=False)))
    assert "Total supply vendors" in text
    assert "of 40 supply vendors" in text
    assert "Ctv" in text


def test_a_warning_free_processing_report_says_so() -> None:
    data = sample_report()
    quality = {**data.data_quality, "warnings": []}
    text = _text(_reader(render_campaign_pdf(dataclasses.replace(data, data_quality=quality))))
    assert "No data-quality issues were recorded." in text
    assert "Main data-quality note" not in text


def test_performance_levels_and_value_formats() -> None:
    levels = [pdf_text.performance_level(s) for s in (80, 79.99, 60, 40, 39.9, None, float("nan"))]
    assert levels == ["Excellent", "Good", "Good", "Moderate", "Poor"] + ["Not available"] * 2
    assert pdf_text.by_unit(0.00532, "fraction") == "0.532%"
    assert pdf_text.by_unit(0.1234, "fraction") == "12.34%"
    assert pdf_text.by_unit(5.5, "currency") == "$5.50"
    assert pdf_text.by_unit(1234567, "count") == "1,234,567"
    assert pdf_text.by_unit(54.87, "points") == "54.9"
    assert pdf_text.by_unit(None, "points") == "—"
    assert pdf_text.date(datetime(2026, 11, 27, 14, 5, tzinfo=UTC)) == "27 Nov 2026 14:05 UTC"
    assert pdf_text.date(datetime(2026, 11, 27, 14, 5)) == "27 Nov 2026 14:05 UTC"


# --- how the pages render -----------------------------------------------------------------


def test_pages_render_to_non_blank_letter_images(full_pdf: bytes, tmp_path: Path) -> None:
    pdftoppm = shutil.which("pdftoppm")
    if pdftoppm is None:
        if os.environ.get("CALIBER_REQUIRE_SERVICES") == "1":
            pytest.fail("pdftoppm (poppler-utils) is required but missing")
        pytest.skip("pdftoppm (poppler-utils) is not installed")
    source = tmp_path / "report.pdf"
    source.write_bytes(full_pdf)
    charts_page = 1 + next(
        i
        for i, page in enumerate(_reader(full_pdf).pages)
        if "Score distribution" in page.extract_text()
    )
    for page in (1, charts_page):
        prefix = tmp_path / f"page{page}"
        command = [pdftoppm, "-png", "-r", "60", "-f", str(page), "-l", str(page), "-singlefile"]
        subprocess.run([*command, str(source), str(prefix)], check=True, timeout=60)
        with Image.open(prefix.with_suffix(".png")) as image:
            assert abs(image.width / image.height - 8.5 / 11) < 0.01
            assert image.size == (510, 660)
            dark = sum(image.convert("L").histogram()[:200])
            assert dark > 0.01 * image.width * image.height


def _now() -> datetime:
    return datetime(2026, 11, 27, 14, 3, tzinfo=UTC)
