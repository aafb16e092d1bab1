"""The PDF's "How sure are these lists" section (issue 17): present only for a run scored
with list_confidence, it states the level in a plain sentence, the rows, impressions and
spend of each decision, how the lists differ from the classic ones and each metric's
prior; a campaign whose data leaves most rows undecided is told why its lists are short."""

from __future__ import annotations

import dataclasses
import io
import re
from typing import Any

import pytest
from pypdf import PdfReader

from caliber.engine.config import Setup
from caliber.engine.pipeline import score
from caliber.reports.data import ReportData
from caliber.reports.pdf.document import render_campaign_pdf
from tests.engine.exports import make_export
from tests.reports.sample_data import sample_report

HEADING = "How sure are these lists"


def _text(pdf: bytes) -> str:
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    return re.sub(r"\s+", " ", text)


@pytest.fixture(scope="module")
def confident_summary() -> dict[str, Any]:
    data = make_export("trade_desk", "display", seed=71, names=80).encode()
    setup = Setup.create("trade_desk", "action", "display", list_confidence=0.8)
    summary: dict[str, Any] = score(data, setup, filename="x.csv").summary()
    return summary


def _with(summary: dict[str, Any]) -> ReportData:
    report = sample_report()
    return dataclasses.replace(report, summary={**report.summary, **summary})


def test_a_classic_report_has_no_confidence_section() -> None:
    assert HEADING not in _text(render_campaign_pdf(sample_report(), include_charts=False))


def test_the_section_states_the_level_decisions_changes_and_priors(
    confident_summary: dict[str, Any],
) -> None:
    block = confident_summary["confidence"]
    text = _text(render_campaign_pdf(_with(confident_summary), include_charts=False))
    assert HEADING in text
    assert "at least 80% sure its score clears the whitelist's bar" in text
    assert text.index(HEADING) < text.index("Appendix", text.index(HEADING))
    decisions = block["decisions"]
    for label, key in (
        ("Whitelist (decided)", "whitelist"),
        ("Blacklist (decided)", "blacklist"),
        ("Undecided: not enough evidence", "undecided"),
    ):
        found = decisions[key]
        row = f"{label} {found['count']:,} "
        assert row in text, row
        assert f"{found['impressions']:,}" in text
        assert f"${found['spend']:,.2f}" in text
    classic, changes = block["classic_lists"], block["changes"]
    white = changes["whitelist"]
    assert (
        f"Whitelist: {white['kept'] + white['added']} domains against "
        f"{classic['whitelist_count']} by the classic rule ({white['kept']} kept, "
        f"{white['dropped']} left out for lack of evidence"
    ) in text
    ctr = block["priors"]["ctr"]
    assert f"{100 * ctr['mean']:.3f}%" in text
    assert f"{ctr['strength']:,.0f} impressions" in text
    # 55 of 80 rows undecided: the report says why the lists are short
    assert "are undecided: the lists are short because most domains have too few" in text


def test_no_warning_when_most_rows_are_decided(confident_summary: dict[str, Any]) -> None:
    block = confident_summary["confidence"]
    decided = {
        **block,
        "decisions": {
            "whitelist": {"count": 40, "impressions": 1000, "spend": 10.0},
            "blacklist": {"count": 30, "impressions": 1000, "spend": 10.0},
            "undecided": {"count": 10, "impressions": 100, "spend": 1.0},
        },
    }
    text = _text(render_campaign_pdf(_with({"confidence": decided}), include_charts=False))
    assert HEADING in text
    assert "the lists are short" not in text


def test_the_recommendations_state_the_confident_rule(confident_summary: dict[str, Any]) -> None:
    report = _with(confident_summary)
    criteria = confident_summary["lists"]
    white = dataclasses.replace(report.whitelist, criteria=criteria)
    black = dataclasses.replace(report.blacklist, criteria=criteria)
    report = dataclasses.replace(report, whitelist=white, blacklist=black)
    text = _text(render_campaign_pdf(report, include_charts=False))
    bar = criteria["whitelist_min_score"]
    assert f"at least 80% sure of a shrunk score ≥ {bar:.1f}" in text
    assert "the rest is undecided (see How sure are these lists)" in text
    classic = _text(render_campaign_pdf(sample_report(), include_charts=False))
    assert "sure of a shrunk" not in classic
