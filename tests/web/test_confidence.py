"""Issue 17 in the browser: a campaign scored with confidence (the form's level and its
reason, each row's likely range and decision, what an undecided row needs, the
decisions' figures against the classic lists, the score-against-impressions scatter),
every figure checked against the API's own answer."""

from __future__ import annotations

import csv
import math
import re
from pathlib import Path

from playwright.sync_api import expect

from caliber.sample.export import write_sample
from tests.web.figures import Flow, decision_note, money, score, score_file, whole


# ---- issue 17: confidence -------------------------------------------------------------------
def test_a_confident_campaign_shows_intervals_decisions_and_the_scatter(
    flow: Flow, tmp_path: Path
) -> None:
    page = flow.page
    page.goto(flow.server.base + "/")
    hint = page.locator("#list-confidence-hint")
    expect(hint).to_contain_text("at 0.8 a domain is listed only when Caliber is at least 80% sure")
    expect(page.get_by_label("List confidence")).to_have_value("")  # classic stays the default
    # a template keeps the level, and a campaign from it shows it
    page.get_by_label("List confidence").select_option(label="0.8 (recommended)")
    page.get_by_label("Template name").fill("Confident TTD")
    page.get_by_role("button", name="Save setup as template").click()
    expect(page.locator(".template-list li")).to_contain_text("confidence 0.8")
    templates = flow.get("/campaigns/templates")["data"]
    assert [t["list_confidence"] for t in templates if t["name"] == "Confident TTD"] == [0.8]
    page.get_by_label("List confidence").select_option("")
    page.get_by_role("button", name="Use Confident TTD").click()
    expect(page.get_by_label("List confidence")).to_have_value("0.8")
    page.get_by_label("Start from a template").select_option("")
    page.get_by_label("Campaign name").fill("Confident display")
    page.get_by_label("List confidence").select_option(label="0.8 (recommended)")
    page.get_by_role("button", name="Create campaign").click()
    expect(page.locator("#campaign-title")).to_have_text("Confident display")
    expect(page.locator(".page-head")).to_contain_text("confidence 0.8")
    campaign_id = page.url.rsplit("/", 1)[1]
    assert flow.get(f"/campaigns/{campaign_id}")["data"]["list_confidence"] == 0.8

    export = tmp_path / "confident.csv"
    write_sample(export, "trade_desk", "display", rows=3000, seed=3)
    score_file(flow, export, "Start scoring")
    summary = flow.get(f"/scoring/summary/{campaign_id}")["data"]
    decisions = summary["confidence"]["decisions"]
    min_impressions = summary["lists"]["min_impressions"]

    # the decisions' figures and the classic lists beside the confident ones
    panel = page.locator("#confidence-panel")
    expect(panel).to_contain_text("at least 80% sure")
    for name, figures in decisions.items():
        cells = panel.locator(f"tr[data-decision='{name}'] td")
        expect(cells).to_have_text(
            [whole(figures["count"]), whole(figures["impressions"]), money(figures["spend"])]
        )
    classic = summary["confidence"]["classic_lists"]
    expect(panel.locator("li[data-list='whitelist']")).to_contain_text(
        f"{whole(summary['lists']['whitelist_count'])} entries with confidence against "
        f"{whole(classic['whitelist_count'])} classic"
    )

    expect(page.locator("#range-hint")).to_contain_text("below the range 20% of the time")

    # every row of the first page: its likely range and decision, as the API gives them
    rows = flow.get(f"/scoring/results/{campaign_id}", per_page=25)["data"]
    expect(page.locator("#results-table tbody tr")).to_have_count(25)
    intervals = page.locator("#results-table tbody td[data-col='interval']").all_text_contents()
    assert intervals == [f"{score(r['score_low'])}–{score(r['score_high'])}" for r in rows]
    shown = page.locator("#results-table tbody td[data-col='decision']").all_text_contents()
    assert [s.strip() for s in shown] == [
        f"{r['decision']} {decision_note(r, min_impressions)}".strip() for r in rows
    ]

    # the undecided rows alone, and what each would need
    page.get_by_label("Decision").select_option("undecided")
    undecided = decisions["undecided"]["count"]
    expect(page.locator("#results-count")).to_have_text(
        f"Showing 1–{min(25, undecided)} of {undecided} rows"
    )
    rows = flow.get(f"/scoring/results/{campaign_id}", per_page=25, decision="undecided")["data"]
    notes = page.locator("#results-table tbody td[data-col='decision'] .needs").all_text_contents()
    expected = [decision_note(r, min_impressions) for r in rows]
    assert [n.strip() for n in notes] == expected
    assert any(n.startswith("needs about") for n in expected), expected  # the sample has some

    # the drawer of an undecided row that more data would decide
    needing = next(r for r in rows if r["impressions_needed"] is not None)
    page.locator(f"#results-table tbody tr[data-domain='{needing['domain']}']").click()
    drawer = page.get_by_role("dialog")
    expect(drawer.locator("#drawer-interval")).to_have_text(
        f"{score(needing['score_low'])}–{score(needing['score_high'])}"
    )
    expect(drawer.locator("#drawer-decision-note")).to_have_text(
        f"Not listed: {decision_note(needing, min_impressions)}."
    )
    page.screenshot(path=flow.shots / "20-confidence-drawer.png")
    page.keyboard.press("Escape")

    # score against impressions: every one of the 74 rows, each with its range
    scatter = page.locator("#score-scatter svg.chart")
    expect(scatter.locator("circle.dot")).to_have_count(summary["row_count"])
    expect(scatter.locator("line.whisker")).to_have_count(summary["row_count"])
    expect(scatter).to_have_attribute(
        "aria-label", re.compile("74 rows; impressions on a log scale")
    )
    page.locator("#confidence-panel").scroll_into_view_if_needed()
    page.screenshot(path=flow.shots / "21-confidence.png", full_page=True)


def test_a_big_campaigns_scatter_is_a_sample_over_every_rank(flow: Flow, tmp_path: Path) -> None:
    """About 3,000 domains: the scatter draws ten whole pages of 100 spread evenly over
    the ranks, the first and the last page among them; the histogram counts every row
    (issue 20: the API's bins of the whole run)."""
    export = tmp_path / "many-sites.csv"
    write_sample(export, "trade_desk", "display", rows=3000, seed=5)
    with export.open(newline="", encoding="utf-8") as handle:
        lines = list(csv.reader(handle))
    site = lines[0].index("Site")
    for number, line in enumerate(lines[1:]):
        line[site] = f"site-{number:04d}.example.com"  # every row its own domain
    with export.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(lines)
    created = flow.server.api(
        "POST",
        "/campaigns",
        json={
            "name": "Many sites",
            "platform": "trade_desk",
            "goal": "awareness",
            "channel": "display",
        },
    )
    campaign_id = created.json()["data"]["id"]
    page = flow.page
    page.goto(f"{flow.server.base}/app/campaigns/{campaign_id}")
    score_file(flow, export, "Start scoring")
    total = flow.get(f"/scoring/summary/{campaign_id}")["data"]["row_count"]
    assert total > 2000  # some rows are dropped (no impressions), most are kept
    expect(page.locator("#results-count")).to_have_text(f"Showing 1–25 of {whole(total)} rows")
    pages = math.ceil(total / 100)
    drawn = 900 + total - 100 * (pages - 1)  # nine whole pages and the last one
    scatter = page.locator("#score-scatter svg.chart")
    expect(scatter).to_have_attribute(
        "aria-label", re.compile(f"a sample of {whole(drawn)} of {whole(total)} rows")
    )
    expect(scatter.locator("circle.dot")).to_have_count(drawn)
    last = flow.get(f"/scoring/results/{campaign_id}", page=pages, per_page=100)["data"][-1]
    titles = scatter.locator("circle.dot title").all_text_contents()
    assert any(t.startswith(f"{last['domain']}: ") for t in titles)  # the lowest score too
    bars = page.locator("figure", has_text="Score distribution").locator("rect.bar title")
    found = [re.search(r": ([\d,]+) rows?$", t) for t in bars.all_text_contents()]
    counts = [int(m.group(1).replace(",", "")) if m else -1 for m in found]
    bins = flow.get(f"/scoring/histogram/{campaign_id}")["data"]["bins"]
    assert counts == [b["count"] for b in bins]
    assert sum(counts) == total
