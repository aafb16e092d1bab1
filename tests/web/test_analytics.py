"""Issue 20 §2 and §3 in the browser: the outliers view (method, contamination, the
flagged rows, what is unusual and what to do), what drives the scores (by method), a
row's exact attribution as a waterfall in the drawer, and comparing campaigns side by
side; every figure against the API's own answer."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, expect

from caliber.sample.export import write_sample
from tests.web.figures import Flow, money, pct, score, whole
from tests.web.harness import new_context


def metric_value(metric: str, value: float | None) -> str:
    """results.js metricValue."""
    if value is None:
        return "—"
    if metric.endswith("cpm"):
        return money(value)
    if metric.endswith(("rate", "ctr")):
        return pct(value)
    return f"{value:,.2f}"


def _scored(flow: Flow, tmp_path: Path, name: str, seed: int, goal: str = "action") -> str:
    """A campaign of the dev user scored through the API; its id."""
    created = flow.server.api(
        "POST",
        "/campaigns",
        json={"name": name, "platform": "trade_desk", "goal": goal, "channel": "display"},
    )
    assert created.status_code == 201, created.text
    campaign_id: str = created.json()["data"]["id"]
    export = tmp_path / f"{name}.csv"
    write_sample(export, "trade_desk", "display", rows=1200, seed=seed)
    with export.open("rb") as handle:
        uploaded = flow.server.api(
            "POST", f"/campaigns/{campaign_id}/upload", files={"file": (export.name, handle)}
        )
    assert uploaded.status_code in (200, 201), uploaded.text
    started = flow.server.api("POST", "/scoring/start", json={"campaign_id": campaign_id})
    assert started.status_code == 202, started.text
    deadline = time.monotonic() + 90
    while flow.get(f"/scoring/progress/{campaign_id}")["data"]["status"] != "completed":
        assert time.monotonic() < deadline, "scoring did not complete"
        time.sleep(0.3)
    return campaign_id


def _expect_outliers(flow: Flow, report: dict[str, Any]) -> None:
    page = flow.page
    expect(page.locator("#outliers-count")).to_have_text(
        f"{whole(report['count'])} of {whole(report['rows_used'])} rows flagged "
        f"({pct(report['share'], 1)})"
    )
    rows = page.locator("#outlier-comparisons tbody tr")
    expect(rows).to_have_count(len(report["comparisons"]))
    for index, c in enumerate(report["comparisons"]):
        cells = rows.nth(index).locator("td")
        expect(rows.nth(index)).to_have_attribute("data-column", c["column"])
        expect(cells.nth(0)).to_have_text(metric_value(c["column"], c["outlier_mean"]))
        expect(cells.nth(1)).to_have_text(metric_value(c["column"], c["inlier_mean"]))
    expect(page.locator("#outlier-recommendations li")).to_have_text(report["recommendations"])
    flagged = page.locator("#outlier-rows tbody tr")
    expect(flagged).to_have_count(min(len(report["names"]), 100))
    for index, row in enumerate(report["rows"][:10]):
        expect(flagged.nth(index)).to_have_attribute("data-name", report["names"][index])
        expect(flagged.nth(index).locator("td").nth(1)).to_have_text(whole(row["impressions"]))
        said = flagged.nth(index).locator("li")
        expect(said).to_have_count(len(row["unusual"]))
        for at, u in enumerate(row["unusual"]):
            side = "above" if u["deviations"] >= 0 else "below"
            expect(said.nth(at)).to_contain_text(
                f"{metric_value(u['column'], u['value'])} (median "
                f"{metric_value(u['column'], u['median'])}, "
                f"{score(abs(u['deviations']))} spreads {side})"
            )


def test_outliers_by_method_and_contamination(flow: Flow, tmp_path: Path) -> None:
    page = flow.page
    flow.campaign_id = _scored(flow, tmp_path, "Analytics", 21)
    page.goto(f"{flow.server.base}/app/campaigns/{flow.campaign_id}")
    path = f"/scoring/outliers/{flow.campaign_id}"
    _expect_outliers(flow, flow.get(path, method="combined", contamination=0.05)["data"])

    page.get_by_label("Outlier method").select_option("isolation_forest")
    page.get_by_label("Expected share of outliers").fill("0.12")
    page.get_by_role("button", name="Find outliers").click()
    _expect_outliers(flow, flow.get(path, method="isolation_forest", contamination=0.12)["data"])

    # z-score takes no contamination; a share out of range is refused on the page
    page.get_by_label("Outlier method").select_option("zscore")
    expect(page.get_by_label("Expected share of outliers")).to_be_disabled()
    page.get_by_role("button", name="Find outliers").click()
    _expect_outliers(flow, flow.get(path, method="zscore")["data"])
    page.get_by_label("Outlier method").select_option("local_outlier_factor")
    page.get_by_label("Expected share of outliers").fill("0.9")
    page.get_by_role("button", name="Find outliers").click()
    expect(page.locator("#outliers-panel .form-error")).to_contain_text("at most 0.5")
    page.locator("#outliers-panel").screenshot(path=flow.shots / "42-outliers.png")


def test_what_drives_the_scores_by_method(flow: Flow) -> None:
    page = flow.page
    for method in ("exact", "correlation"):
        if method != "exact":
            page.get_by_label("Explanation method").select_option(method)
            page.get_by_role("button", name="Explain").click()
        answer = flow.get(f"/scoring/explain/{flow.campaign_id}", method=method)["data"]
        expect(page.locator("#drivers-summary")).to_have_text(answer["summary"])
        rows = page.locator("#drivers-table tbody tr")
        expect(rows).to_have_count(len(answer["importances"]))
        for index, m in enumerate(answer["importances"]):
            expect(rows.nth(index)).to_have_attribute("data-metric", m["metric"])
            expect(rows.nth(index).locator("td").first).to_have_text(pct(m["share"], 1))
        bars = page.locator("#drivers-result svg rect.bar")
        expect(bars).to_have_count(len(answer["importances"]))
    page.locator("#drivers-panel").screenshot(path=flow.shots / "43-drivers.png")


def test_the_drawer_shows_the_exact_attribution_as_a_waterfall(flow: Flow) -> None:
    page = flow.page
    row = page.locator("#results-table tbody tr").nth(3)
    domain = row.get_attribute("data-domain") or ""
    row.click()
    drawer = page.get_by_role("dialog")
    answer = flow.get(f"/scoring/explain/{flow.campaign_id}/domain", name=domain)["data"]
    waterfall = drawer.locator("#attribution-waterfall")
    expect(waterfall.locator("rect.bar")).to_have_count(len(answer["attributions"]) + 2)
    titles = waterfall.locator("rect.bar title")
    expect(titles.first).to_have_text(
        f"Campaign average score: {answer['campaign_average_score']:.2f}"
    )
    expect(titles.last).to_have_text(f"{domain}: score {answer['score']:.2f}")
    points = drawer.locator("#attribution-table tbody tr")
    for index, a in enumerate(answer["attributions"]):
        expect(points.nth(index)).to_have_attribute("data-metric", a["metric"])
        sign = "+" if a["attribution"] >= 0 else "−"
        expect(points.nth(index).locator("td").last).to_have_text(
            f"{sign}{abs(a['attribution']):.2f}"
        )
    # the steps add up: from the average to the score
    total = answer["campaign_average_score"] + sum(a["attribution"] for a in answer["attributions"])
    assert abs(total - answer["score"]) < 0.01
    drawer.screenshot(path=flow.shots / "44-drawer-waterfall.png")
    page.keyboard.press("Escape")


def test_compare_campaigns_side_by_side(flow: Flow, tmp_path: Path) -> None:
    page = flow.page
    ids = [
        flow.campaign_id,
        _scored(flow, tmp_path, "Second", 22),
        _scored(flow, tmp_path, "Third", 23),
    ]
    names = ["Analytics", "Second", "Third"]
    page.goto(flow.server.base)
    page.get_by_role("link", name="Compare campaigns").click()
    page.get_by_role("button", name="Compare").click()
    expect(page.locator("#compare-error")).to_have_text("Pick at least two campaigns.")
    for name in names:  # the first picked is the base
        page.locator("#compare-pick label", has_text=name).locator("input").check()
    page.get_by_role("button", name="Compare").click()
    expect(page).to_have_url(f"{flow.server.base}/app/compare?ids={','.join(ids)}")

    summaries = [flow.get(f"/scoring/summary/{i}")["data"] for i in ids]
    pairs = [flow.get("/scoring/compare", before=ids[0], after=i)["data"] for i in ids[1:]]
    head = page.locator("#compare-scores thead th")
    expect(head).to_have_text(["Figure", "Analytics (base)", "Second", "Third"])
    cells = page.locator("#compare-scores tr[data-row=campaign_score] td")
    expect(cells).to_have_text([score(s["campaign_level_score"]) for s in summaries])
    changes = page.locator("#compare-scores tr[data-row=change] td")
    expect(changes).to_have_text(["—"] + [f"{p['change']:+.2f}" for p in pairs])
    expect(page.locator("#compare-summaries li")).to_have_text(
        [f"{n}: {p['summary']}" for n, p in zip(names[1:], pairs, strict=True)]
    )
    for change in pairs[0]["changes"]:
        row = page.locator(f"#compare-metrics tr[data-row='{change['metric']}'] td")
        expected = [metric_value(change["metric"], change["before"])]
        for pair in pairs:
            after = next(c for c in pair["changes"] if c["metric"] == change["metric"])
            expected.append(metric_value(change["metric"], after["after"]))
        expect(row).to_have_text(expected)

    lists = [
        {
            kind: set(flow.get(f"/scoring/{kind}/{i}")["data"]["domains"])
            for kind in ("whitelist", "blacklist")
        }
        for i in ids
    ]
    for i, j in ((0, 1), (0, 2), (1, 2)):
        row = page.locator(f"#compare-overlap tr[data-pair='{i}-{j}'] td")
        common = whole(pairs[j - 1]["common_rows"]) if i == 0 else "—"
        expect(row).to_have_text(
            [
                whole(len(lists[i]["whitelist"] & lists[j]["whitelist"])),
                whole(len(lists[i]["blacklist"] & lists[j]["blacklist"])),
                common,
            ]
        )
    in_all = set.intersection(*(lst["whitelist"] for lst in lists))
    expect(page.locator("#compare-in-all")).to_contain_text(
        f"On every campaign's whitelist: {whole(len(in_all))};"
    )
    page.screenshot(path=flow.shots / "45-compare.png", full_page=True)

    # another setup scores other metrics: its column says why it is not compared; an id
    # of no campaign of this user (unknown, or another user's) is left out
    other = _scored(flow, tmp_path, "Awareness", 24, goal="awareness")
    page.goto(f"{flow.server.base}/app/compare?ids={ids[0]},{other},{uuid.uuid4()}")
    expect(page.locator("#compare-scores thead th")).to_have_text(
        ["Figure", "Analytics (base)", "Awareness"]
    )
    refused = flow.server.api("GET", "/scoring/compare", params={"before": ids[0], "after": other})
    assert refused.status_code == 422
    expect(page.locator("#compare-summaries li")).to_have_text(
        [f"Awareness: {refused.json()['message']}"]
    )
    expect(page.locator("#compare-scores tr[data-row=change] td")).to_have_text(["—", "—"])
    expect(page.locator("#compare-pick input:checked")).to_have_count(2)


def test_the_new_screens_fit_a_tablet(flow: Flow, browser: Browser) -> None:
    """At tablet width the weights editor with its preview, the analytics and the
    comparison make nothing scroll sideways."""
    context = new_context(browser, width=820)
    tablet = context.new_page()
    tablet.goto(f"{flow.server.base}/app/campaigns/{flow.campaign_id}")
    tablet.get_by_role("button", name="Edit the weights").click()
    tablet.get_by_role("button", name="Preview the effect").click()
    expect(tablet.locator("#preview-score")).to_be_visible()
    expect(tablet.locator("#drivers-table")).to_be_visible()
    expect(tablet.locator("#outlier-comparisons")).to_be_visible()
    width = tablet.evaluate("document.documentElement.scrollWidth")
    assert width <= 820, f"the campaign page scrolls sideways at tablet width ({width}px)"
    tablet.locator("#weights-panel").screenshot(path=flow.shots / "46-tablet-weights.png")
    tablet.locator("#outliers-panel").screenshot(path=flow.shots / "47-tablet-outliers.png")
    tablet.locator("#results-table tbody tr").first.click()
    expect(tablet.locator("#attribution-waterfall")).to_be_visible()
    tablet.get_by_role("dialog").screenshot(path=flow.shots / "48-tablet-drawer.png")
    tablet.keyboard.press("Escape")
    tablet.goto(f"{flow.server.base}{flow.page.url.split(flow.server.base)[-1]}")
    expect(tablet.locator("#compare-overlap")).to_be_visible()
    width = tablet.evaluate("document.documentElement.scrollWidth")
    assert width <= 820, f"the comparison scrolls sideways at tablet width ({width}px)"
    tablet.screenshot(path=flow.shots / "49-tablet-compare.png", full_page=True)
    context.close()
