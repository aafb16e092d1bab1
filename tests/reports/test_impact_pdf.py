"""The PDF's "What applying the lists would do" section (issue 18 §3): the removed shares,
before / after blocking / after moving and the assumptions, from the impact of the
hand-worked campaign of tests/engine/test_impact.py; absent without an impact."""

from __future__ import annotations

import io
import re
from typing import Any

from pypdf import PdfReader

from caliber.engine.impact import impact
from caliber.reports.pdf.document import render_campaign_pdf
from tests.engine.test_impact import METRICS, _lists, _results
from tests.reports.sample_data import sample_report

TITLE = "What applying the lists would do"


def _text(pdf: bytes) -> str:
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    return re.sub(r"\s+", " ", text)  # table cells are extracted one a line


def _impact(white: list[str], black: list[str], level: float | None = None) -> dict[str, Any]:
    results = _results()
    lists = _lists(results, white, black, level)
    return {
        "run_id": "r",
        "min_impressions": 250,
        **impact(results, "domain", lists, METRICS).to_dict(),
    }


def test_the_section_states_the_removed_shares_the_figures_and_the_assumptions() -> None:
    found = _impact(["a", "d"], ["c", "e"])
    text = _text(render_campaign_pdf(sample_report(), include_charts=False, impact=found))
    assert TITLE in text
    section = text[text.index(TITLE) :]
    assert "with the classic lists" in section
    # removed: 2 domains, 3,000 impressions (30.0 %), $9.00 of spend (36.0 %), 1 conversion (25.0 %)
    assert "Removed by the blacklist" in section
    assert "Domains 2 —" in section
    assert "Impressions 3,000 30.0%" in section
    assert "Spend $9.00 36.0%" in section
    assert "Conversions 1 25.0%" in section
    # before / after blocking / after moving: CPM 25/10000, 16/7000, 25/11500 × 1000
    assert "Before After blocking After moving" in section
    assert "CPM $2.50 $2.29 $2.17" in section
    assert "Campaign score 58.0 75.7 78.2" in section
    assert "CTR 0.370% 0.486% 0.530%" in section
    assert "Q 52.00% 60.00% 61.57%" in section  # the setup's quality rate, by name
    assert "Impressions 10,000 7,000 11,500" in section
    assert "Conversions 4 3 5.7" in section  # 1.9 + 3.8 after moving
    assert "After moving: $9.00 goes to 2 whitelisted domains, each growing by x1.90." in section
    assert "Assumptions" in section
    assert "in proportion to each one's current spend" in section
    assert "nothing is scored again" in section
    # the appendix still follows
    assert "Appendix" in section


def test_no_move_and_confident_lists_are_said() -> None:
    found = _impact([], ["c", "e"], level=0.8)
    text = _text(render_campaign_pdf(sample_report(), include_charts=False, impact=found))
    section = text[text.index(TITLE) :]
    assert "confident lists (listed only when at least 80% sure)" in section
    assert (
        "Nothing is moved: the whitelist is empty: there is nowhere to move the removed spend."
        in section
    )


def test_without_an_impact_there_is_no_section() -> None:
    assert TITLE not in _text(render_campaign_pdf(sample_report(), include_charts=False))
