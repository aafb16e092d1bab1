"""Issue 18 §4 in the browser: one campaign scored two weeks running (the run history,
the run selector every view honours, what changed since the last run and its download,
a domain's history, the impact panel), then again with confidence; every figure checked
against the API's own answer."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Route, expect

from caliber.sample.export import write_sample
from tests.web.figures import Flow, money, pct, score, score_file, whole
from tests.web.harness import new_context


# ---- issue 18: two weeks of one campaign -------------------------------------------------------
def test_two_uploads_make_two_runs_and_the_selector_reads_the_first(
    flow: Flow, tmp_path: Path
) -> None:
    page = flow.page
    created = flow.server.api(
        "POST",
        "/campaigns",
        json={
            "name": "Weekly display",
            "platform": "trade_desk",
            "goal": "awareness",
            "channel": "display",
        },
    )
    assert created.status_code == 201, created.text
    flow.campaign_id = campaign_id = created.json()["data"]["id"]
    page.goto(f"{flow.server.base}/app/campaigns/{campaign_id}")
    expect(page.locator("#run-history")).to_be_hidden()  # no run yet
    week1 = tmp_path / "week-1.csv"
    write_sample(week1, "trade_desk", "display", rows=3000, seed=3)
    score_file(flow, week1, "Start scoring")
    expect(page.locator("#runs-table tbody tr")).to_have_count(1)
    expect(page.locator("#changes-none")).to_contain_text("Nothing to compare yet")
    week2 = tmp_path / "week-2.csv"
    write_sample(week2, "trade_desk", "display", rows=3000, seed=4)
    score_file(flow, week2, "Score again")
    expect(page.locator("#runs-table tbody tr .badge-completed")).to_have_count(2)

    flow.runs = runs = flow.get(f"/campaigns/{campaign_id}/runs")["data"]
    assert [r["file_name"] for r in runs] == ["week-2.csv", "week-1.csv"]
    table = page.locator("#runs-table tbody tr")
    for index, run in enumerate(runs):
        cells = table.nth(index).locator("td")
        expect(cells.nth(1)).to_have_text(run["file_name"])
        expect(cells.nth(3)).to_have_text(score(run["campaign_level_score"]))
        expect(cells.nth(4)).to_have_text(whole(run["row_count"]))
        expect(cells.nth(5)).to_have_text(whole(run["whitelist_count"]))
        expect(cells.nth(6)).to_have_text(whole(run["blacklist_count"]))
    expect(table.nth(0)).to_have_attribute("aria-current", "true")
    page.screenshot(path=flow.shots / "22-run-history.png", full_page=True)

    # the first week, chosen in the selector: every view reads it
    first = runs[1]
    page.get_by_label("Run shown").select_option(first["id"])
    expect(page).to_have_url(re.compile(rf"\?run={first['id']}$"))
    expect(page.locator("#stale-results")).to_contain_text("You are looking at an earlier run")
    expect(table.nth(1)).to_have_attribute("aria-current", "true")
    expect(page.locator("#changes-none")).to_have_text(
        "This is the campaign's first run: there is no earlier run to compare it with."
    )
    _expect_run_on_screen(flow, first)

    # its drawer: the row's history marks the first run; the explanation is the latest's
    page.locator("#results-table tbody tr").first.click()
    drawer = page.get_by_role("dialog")
    expect(drawer.locator(".sentence")).to_contain_text("for the latest run only")
    expect(drawer.locator("#history-table tbody tr").first).to_have_attribute(
        "aria-current", "true"
    )
    page.keyboard.press("Escape")

    # a download of the first run is the first run's file
    with page.expect_download() as info:
        page.locator("button[data-download='Whitelist CSV']").click()
    expected = flow.server.api(
        "GET",
        f"/reports/export/campaigns/{campaign_id}/whitelist/csv",
        params={"run_id": first["id"]},
    )
    assert Path(info.value.path()).read_bytes() == expected.content

    # the PDF and the other downloads ask for that run
    with page.expect_request(re.compile(r"/pdf\?")) as request, page.expect_download():
        page.locator("button[data-download='PDF report']").click()
    assert f"run_id={first['id']}" in request.value.url

    # an address naming no run of this campaign shows the latest, and drops the name
    page.goto(f"{flow.server.base}/app/campaigns/{campaign_id}?run={flow.campaign_id[::-1]}")
    expect(page).to_have_url(re.compile(rf"/app/campaigns/{campaign_id}$"))
    _expect_run_on_screen(flow, runs[0])
    page.goto(f"{flow.server.base}/app/campaigns/{campaign_id}?run={first['id']}")

    # a reload keeps it; "Show the latest run" goes back
    page.reload()
    expect(page.get_by_label("Run shown")).to_have_value(first["id"])
    _expect_run_on_screen(flow, first)
    page.get_by_role("button", name="Show the latest run").click()
    expect(page).to_have_url(re.compile(rf"/app/campaigns/{campaign_id}$"))
    expect(page.locator("#stale-results")).to_have_count(0)
    _expect_run_on_screen(flow, runs[0])


def _expect_run_on_screen(flow: Flow, run: dict[str, Any]) -> None:
    page = flow.page
    query = {"run_id": run["id"]}
    summary = flow.get(f"/scoring/summary/{flow.campaign_id}", **query)["data"]
    expect(page.locator(".completed .stat").first).to_contain_text(
        score(summary["campaign_level_score"])
    )
    rows = flow.get(f"/scoring/results/{flow.campaign_id}", per_page=25, **query)["data"]
    expect(page.locator("#results-table tbody td[data-col='domain']")).to_have_text(
        [r["domain"] + (" ⚑" if r["is_outlier"] else "") for r in rows]
    )
    for kind in ("whitelist", "blacklist"):
        listed = flow.get(f"/scoring/{kind}/{flow.campaign_id}", **query)["data"]["domains"]
        expect(page.locator(f"#list-{kind} .domain-list li")).to_have_text(listed)


def test_since_last_run_lists_the_changes_and_downloads_them(flow: Flow) -> None:
    page = flow.page
    diff = flow.get(f"/scoring/diff/{flow.campaign_id}")["data"]
    panel = page.locator("#changes-panel")
    expect(panel.locator("#changes-runs")).to_contain_text("week-1.csv")
    expect(panel.locator("#changes-runs")).to_contain_text("week-2.csv")
    for kind in ("whitelist", "blacklist"):
        change = diff["lists"][kind]
        assert change["added"] or change["removed"], kind  # the two weeks differ
        for side in ("added", "removed"):
            names = [f"{e['domain']} {score(e['score'])}" for e in change[side][:12]]
            expect(
                panel.locator(f"#changes-{kind} [data-change='{side}'] li[data-domain]")
            ).to_have_text(names)
        expect(panel.locator(f"#changes-{kind} h4")).to_have_text(
            f"{kind.title()}: {len(change['added'])} join, "
            f"{len(change['removed'])} leave, {change['kept']} kept"
        )
    campaign = diff["campaign"]["campaign_score"]
    expect(panel.locator("#diff-metrics tr[data-metric='campaign_score'] td")).to_have_text(
        [
            score(campaign["base"]),
            score(campaign["head"]),
            f"{'+' if campaign['change'] > 0 else ''}{score(campaign['change'])}",
        ]
    )
    page.screenshot(path=flow.shots / "23-since-last-run.png", full_page=True)
    with page.expect_download() as info:
        panel.locator("button[data-download='List changes Trade Desk JSON']").click()
    expected = flow.server.api(
        "GET",
        f"/scoring/diff/{flow.campaign_id}/export",
        params={"format": "ttd", "base": flow.runs[1]["id"], "head": flow.runs[0]["id"]},
    )
    assert expected.status_code == 200, expected.text
    assert json.loads(Path(info.value.path()).read_bytes()) == expected.json()


def test_a_domains_history_in_its_drawer(flow: Flow) -> None:
    page = flow.page
    row = page.locator("#results-table tbody tr").first
    domain = row.get_attribute("data-domain")
    assert domain
    history = flow.get(f"/scoring/history/{flow.campaign_id}/{domain}")["data"]["runs"]
    assert len(history) == 2
    row.click()
    rows = page.get_by_role("dialog").locator("#history-table tbody tr")
    expect(rows).to_have_count(2)
    for index, entry in enumerate(history):
        cells = rows.nth(index).locator("td")
        if entry["present"]:
            expect(cells.nth(0)).to_have_text(score(entry["score"]))
            expect(cells.nth(2)).to_have_text(whole(entry["impressions"]))
            expect(cells.nth(4)).to_have_text(entry["list"] or "—")
        else:
            expect(cells.nth(0)).to_have_text("not in this run's file")
    expect(rows.nth(1)).to_have_attribute("aria-current", "true")  # the latest run, oldest first
    page.screenshot(path=flow.shots / "24-domain-history.png")
    page.keyboard.press("Escape")


def test_the_impact_panel_shows_the_apis_figures(flow: Flow) -> None:
    page = flow.page
    for run in flow.runs:
        if run is flow.runs[1]:
            page.get_by_label("Run shown").select_option(run["id"])
        impact = flow.get(f"/scoring/impact/{flow.campaign_id}", run_id=run["id"])["data"]
        panel = page.locator("#impact-panel")
        removed = impact["removed"]
        expect(panel.locator("#impact-removed")).to_contain_text(
            f"removes {removed['domains']} domains"
        )
        expect(panel.locator("tr[data-removed='impressions'] td")).to_have_text(
            [whole(removed["impressions"]["value"]), pct(removed["impressions"]["share"], 1)]
        )
        expect(panel.locator("tr[data-removed='spend'] td")).to_have_text(
            [money(removed["spend"]["value"]), pct(removed["spend"]["share"], 1)]
        )
        sides = (impact["before"], impact["after_block"], impact["after_move"])
        expect(panel.locator("tr[data-metric='campaign_score'] td")).to_have_text(
            [score(side["campaign_score"]) for side in sides]
        )
        expect(panel.locator("tr[data-metric='cpm'] td")).to_have_text(
            [money(side["cpm"]) for side in sides]
        )
        expect(panel.locator("tr[data-metric='ctr'] td")).to_have_text(
            [pct(side["ctr"]) for side in sides]
        )
        expect(panel.locator("#impact-assumptions li")).to_have_text(impact["assumptions"])
    page.locator("#impact-panel").scroll_into_view_if_needed()
    page.screenshot(path=flow.shots / "25-impact.png", full_page=True)


def test_confidence_turned_on_for_the_next_scoring(flow: Flow, browser: Browser) -> None:
    """The campaign page sets the level before the next scoring; scoring the same file
    again with it shows the confident lists, and since the last run they differ from the
    classic ones exactly as the summary counts."""
    page = flow.page
    page.goto(f"{flow.server.base}/app/campaigns/{flow.campaign_id}")
    expect(page.locator("#confidence-panel")).to_have_count(0)  # a classic run
    page.get_by_label("List confidence").select_option("0.8")
    page.get_by_role("button", name="Save confidence").click()
    expect(page.locator("#confidence-status")).to_have_text(
        "Confidence 0.8 from the next scoring: score again to apply it."
    )
    page.get_by_role("button", name="Score again").click()
    expect(page.locator("#runs-table tbody tr .badge-completed")).to_have_count(3, timeout=60_000)
    expect(page.locator("#confidence-panel")).to_be_visible()
    changes = flow.get(f"/scoring/summary/{flow.campaign_id}")["data"]["confidence"]["changes"]
    diff = flow.get(f"/scoring/diff/{flow.campaign_id}")["data"]["lists"]
    for kind in ("whitelist", "blacklist"):
        assert len(diff[kind]["removed"]) == changes[kind]["dropped"]
        assert len(diff[kind]["added"]) == changes[kind]["added"]
        expect(page.locator(f"#changes-{kind} h4")).to_have_text(
            f"{kind.title()}: {changes[kind]['added']} join, "
            f"{changes[kind]['dropped']} leave, {changes[kind]['kept']} kept"
        )

    # at tablet width nothing makes the page scroll sideways
    context = new_context(browser, width=820)
    tablet = context.new_page()
    tablet.goto(f"{flow.server.base}/app/campaigns/{flow.campaign_id}")
    expect(tablet.locator("#impact-metrics")).to_be_visible()
    expect(tablet.locator("#diff-metrics")).to_be_visible()
    expect(tablet.locator("#score-scatter svg")).to_be_visible()
    width = tablet.evaluate("document.documentElement.scrollWidth")
    assert width <= 820, f"the page scrolls sideways at tablet width ({width}px)"
    tablet.screenshot(path=flow.shots / "26-tablet-runs.png", full_page=True)
    context.close()


def test_a_busy_server_is_asked_again(flow: Flow) -> None:
    """The server turns a heavy read away with 429 and Retry-After while the user's
    slots are taken (HEAVY_REQUESTS_PER_USER): the page asks again instead of showing
    the refusal. The first diff request is answered 429 as the server words it."""
    page = flow.page
    refused: list[str] = []

    def busy_once(route: Route) -> None:
        if refused:
            route.continue_()
            return
        refused.append(route.request.url)
        route.fulfill(
            status=429,
            headers={"Retry-After": "1", "Content-Type": "application/json"},
            body=json.dumps(
                {
                    "success": False,
                    "error": "rate_limited",
                    "message": "too many heavy requests (exports, reports, analytics) at once",
                    "details": {"retry_after": 1, "limit": 2},
                }
            ),
        )

    page.route(re.compile(r"/api/v1/scoring/diff/[^/?]+(\?.*)?$"), busy_once)
    page.reload()
    expect(page.locator("#changes-whitelist h4")).to_be_visible()
    assert len(refused) == 1
    expect(page.locator("#changes-panel .form-error")).to_have_count(0)
    page.unroute(re.compile(r"/api/v1/scoring/diff/[^/?]+(\?.*)?$"))
