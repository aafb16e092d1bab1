"""The web app as a buyer meets it: a real Chromium against `caliber serve` on loopback.

The whole flow with dev sign-in (straight in): dashboard, campaign, upload, scoring,
results, drawer, downloads, the AI panel, a failed re-run. Sign-in with tokens is in
test_token.py, the reading choices in test_reading.py, confidence in test_confidence.py
and runs in test_runs.py. Each step asserts what the user sees; screenshots of every
page go to ``CALIBER_SCREENSHOTS`` (default: a pytest temporary directory).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from caliber.sample.export import write_sample
from tests.web.harness import Server, new_context, watch


@dataclass
class Shared:
    """What the dev-sign-in flow hands from one test to the next."""

    page: Page
    shots: Path
    campaign_id: str = ""
    dialogs: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def dev(browser: Browser, dev_server: Server, shots: Path) -> Iterator[Shared]:
    context = new_context(browser)
    page = context.new_page()
    errors: list[str] = []
    shared = Shared(page, shots)
    watch(page, shared.dialogs, errors)
    page.goto(dev_server.base + "/", wait_until="domcontentloaded")
    yield shared
    context.close()
    assert errors == [], errors


# ---- dev sign-in: the whole flow -------------------------------------------------------


def test_dev_sign_in_dashboard_and_create(dev: Shared) -> None:
    page = dev.page
    expect(page.locator(".user-name")).to_have_text("Development User")
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    expect(page.get_by_text("No campaigns yet")).to_be_visible()
    expect(page.locator(".stat").first).to_contain_text("Campaigns")
    page.screenshot(path=dev.shots / "01-dashboard-empty.png", full_page=True)

    # the user menu: profile and name edit
    page.locator(".user-button").click()
    expect(page.locator(".user-email")).to_have_text("dev@caliber.local")
    page.get_by_label("Display name").fill("Dana Buyer")
    page.get_by_role("button", name="Save name").click()
    expect(page.locator(".user-name")).to_have_text("Dana Buyer")
    page.keyboard.press("Escape")
    expect(page.locator("#user-panel")).to_be_hidden()

    # an unsupported setup: the server's message next to the form
    page.get_by_label("Campaign name").fill("Podcast push")
    page.get_by_label("Platform").select_option("pulsepoint")
    page.get_by_label("Channel").select_option("audio")
    expect(page.locator(".advice")).to_contain_text("PulsePoint supports display and video")
    page.get_by_role("button", name="Create campaign").click()
    expect(page.locator("#create-error")).to_contain_text("pulsepoint has no audio setup")

    # a template, then a campaign from it
    page.get_by_label("Platform").select_option("trade_desk")
    page.get_by_label("Channel").select_option("display")
    page.get_by_label("Template name").fill("TTD display awareness")
    page.get_by_role("button", name="Save setup as template").click()
    expect(page.locator(".template-list li")).to_contain_text("TTD display awareness")
    page.get_by_label("Start from a template").select_option(label="TTD display awareness")
    expect(page.get_by_label("Platform")).to_be_disabled()
    page.get_by_label("Campaign name").fill("Spring display")
    page.get_by_role("button", name="Create campaign").click()

    expect(page).to_have_url(re.compile(r"/app/campaigns/[0-9a-f-]{36}$"))
    expect(page.locator("#campaign-title")).to_have_text("Spring display")
    expect(page.locator(".title-row .badge")).to_have_text("pending")
    expect(page.locator("#start-scoring")).to_be_disabled()
    dev.campaign_id = page.url.rsplit("/", 1)[1]
    page.screenshot(path=dev.shots / "02-campaign-before-upload.png", full_page=True)


def test_bad_uploads_show_what_is_wrong(dev: Shared, tmp_path: Path) -> None:
    page = dev.page
    picker = page.locator("#file-input")
    # refused before sending: the extension
    notes = tmp_path / "notes.pdf"
    notes.write_bytes(b"%PDF-1.4 not an export")
    picker.set_input_files(notes)
    expect(page.locator("#upload-error")).to_contain_text("is not a supported file")
    # refused by the server: an .xlsx that is not a workbook (415)
    fake = tmp_path / "export.xlsx"
    fake.write_text("Site,Impressions\nexample.com,10\n")
    picker.set_input_files(fake)
    expect(page.locator("#upload-error")).to_contain_text(re.compile(r"xlsx|workbook|zip", re.I))
    # accepted, but scoring names the missing column (422 at start)
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("a,b\n1,2\n")
    picker.set_input_files(wrong)
    expect(page.locator(".file-info")).to_contain_text("Uploaded wrong.csv")
    page.get_by_role("button", name="Start scoring").click()
    expect(page.locator("#upload-error")).to_contain_text("no domain column")


def test_upload_a_real_export_and_watch_it_score(dev: Shared, tmp_path: Path) -> None:
    page = dev.page
    export = tmp_path / "trade-desk-export.csv"
    write_sample(export, "trade_desk", "display", rows=3000, seed=3)
    # drag and drop: dispatch a drop event carrying the file
    payload = export.read_text(encoding="utf-8")
    handle = page.evaluate_handle(
        """(text) => { const dt = new DataTransfer();
            dt.items.add(new File([text], "trade-desk-export.csv", {type: "text/csv"}));
            return dt; }""",
        payload,
    )
    page.dispatch_event("#dropzone", "drop", {"dataTransfer": handle})
    expect(page.locator(".file-info")).to_contain_text("Uploaded trade-desk-export.csv")
    page.get_by_role("button", name="Start scoring").click()
    progress = page.get_by_role("progressbar")
    expect(progress).to_be_visible()
    page.screenshot(path=dev.shots / "03-progress.png", full_page=True)
    expect(progress).to_have_attribute("aria-valuenow", "100", timeout=60_000)
    expect(page.locator("#progress-status")).to_contain_text("completed")
    expect(page.locator(".title-row .badge")).to_have_text("completed")

    # summary cards and charts
    cards = page.locator(".completed .stat")
    expect(cards.first).to_contain_text("Campaign score")
    expect(cards.filter(has_text="Rows scored")).to_contain_text("74")
    expect(page.locator(".chart-grid svg.chart")).to_have_count(5)
    expect(page.locator(".chart-grid svg.chart rect.bar title").first).to_contain_text("Score 0–10")
    expect(page.locator("figure", has_text="Top domains").locator("text.label").first).to_have_text(
        "thenewsherald.com"
    )
    expect(page.locator("#results-count")).to_have_text("Showing 1–25 of 74 rows")
    expect(page.locator("#outliers-panel .outlier-facts")).to_contain_text(
        "flagged", timeout=30_000
    )
    page.wait_for_timeout(300)
    page.screenshot(path=dev.shots / "04-campaign-completed.png", full_page=True)


def _column(page: Page, col: str) -> list[str]:
    return page.locator(f"#results-table tbody td[data-col='{col}']").all_text_contents()


def _number(text: str) -> float:
    return float(re.sub(r"[^0-9.\-]", "", text))


def test_sort_and_filter_the_results(dev: Shared) -> None:
    page = dev.page
    scores = [_number(s) for s in _column(page, "score")]
    assert scores == sorted(scores, reverse=True)
    first_domain = _column(page, "domain")[0]

    page.get_by_role("button", name=re.compile("^Impressions")).click()
    header = page.locator("th[data-sort='impressions']")
    expect(header).to_have_attribute("aria-sort", "descending")
    expect(page.locator("#results-table tbody td[data-col='domain']").first).not_to_have_text(
        first_domain
    )
    impressions = [_number(s) for s in _column(page, "impressions")]
    assert impressions == sorted(impressions, reverse=True)
    assert impressions[0] == 11_495_793  # the campaign's largest domain leads
    page.get_by_role("button", name=re.compile("^Impressions")).click()
    expect(header).to_have_attribute("aria-sort", "ascending")
    ascending = [_number(s) for s in _column(page, "impressions")]
    assert ascending == sorted(ascending)
    assert ascending[0] < impressions[-1]

    page.get_by_label("Quality status").select_option("poor")
    expect(page.locator("#results-count")).to_have_text("Showing 1–18 of 18 rows")
    statuses = _column(page, "quality_status")
    assert len(statuses) == 18
    assert set(statuses) == {"poor"}
    page.get_by_label("Min. impressions").fill("30000")
    page.get_by_role("button", name="Apply filters").click()
    expect(page.locator("#results-count")).not_to_have_text("Showing 1–18 of 18 rows")
    assert all(_number(s) >= 30000 for s in _column(page, "impressions"))
    assert set(_column(page, "quality_status")) == {"poor"}
    page.get_by_role("button", name="Reset").click()
    expect(page.locator("#results-count")).to_have_text("Showing 1–25 of 74 rows")
    page.get_by_role("button", name="Next").last.click()
    expect(page.locator("#results-count")).to_have_text("Showing 26–50 of 74 rows")
    page.locator("th[data-sort='score'] button").click()


def test_domain_drawer_shows_breakdown_and_sentence(dev: Shared) -> None:
    page = dev.page
    expect(page.locator("th[data-sort='score']")).to_have_attribute("aria-sort", "descending")
    row = page.locator("#results-table tbody tr").first
    expect(row).to_have_attribute("data-domain", "thenewsherald.com")
    row.focus()
    page.keyboard.press("Enter")
    drawer = page.get_by_role("dialog")
    expect(drawer).to_be_visible()
    expect(drawer.locator("h2")).to_have_text("thenewsherald.com")
    expect(page.get_by_role("button", name="Close details")).to_be_focused()
    expect(drawer.locator(".sentence")).to_contain_text(
        "thenewsherald.com scored 89.7, 26.5 above the campaign average"
    )
    breakdown = drawer.locator("table.breakdown tbody tr")
    expect(breakdown).to_have_count(5)
    expect(breakdown.first).to_contain_text("CPM")
    expect(drawer.locator("tfoot")).to_contain_text("89.72")
    # the waterfall: the campaign average, one step per metric, the score
    expect(drawer.locator("#attribution-waterfall rect.bar")).to_have_count(7)
    page.screenshot(path=dev.shots / "05-drawer.png")
    page.keyboard.press("Escape")
    expect(drawer).to_be_hidden()
    expect(row).to_be_focused()


EXPECTED_DOWNLOADS: list[tuple[str, str]] = [
    ("Whitelist CSV", ".csv"),
    ("Whitelist JSON", ".json"),
    ("Whitelist DSP text (web)", ".txt"),
    ("Whitelist DSP text (apps)", ".txt"),
    ("Whitelist Trade Desk JSON", ".json"),
    ("Whitelist DV360 JSON", ".json"),
    ("Blacklist CSV", ".csv"),
    ("Blacklist JSON", ".json"),
    ("Blacklist DSP text (web)", ".txt"),
    ("Blacklist DSP text (apps)", ".txt"),
    ("Blacklist Trade Desk JSON", ".json"),
    ("Blacklist DV360 JSON", ".json"),
    ("Results CSV", ".csv"),
    ("Summary CSV", ".csv"),
    ("Campaign JSON", ".json"),
    ("PDF report", ".pdf"),
]


def _check_download(label: str, name: str, body: bytes) -> None:
    assert name.startswith("caliber-spring-display"), name
    if label.endswith("CSV"):
        header = next(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
        first = {"Results": "campaign_name", "Summary": "campaign_id"}.get(label.partition(" ")[0])
        assert header[0] == (first or "domain"), header
    elif label.endswith("report"):
        assert body.startswith(b"%PDF")
    elif "text" in label:
        lines = body.decode("utf-8").splitlines()
        assert lines, label
        assert all(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", line) for line in lines), lines
        web = "(web)" in label
        assert all(("." in line and not line.startswith("com.")) == web for line in lines), lines
    else:
        data = json.loads(body)
        keys = {
            "Trade Desk": "BidLines",
            "DV360": "newSites",
            "Campaign": "campaign_summary",
        }
        expected = next((v for k, v in keys.items() if k in label), "entries")
        assert expected in data, (label, list(data))


def test_every_export_downloads(dev: Shared) -> None:
    page = dev.page
    seen = []
    for index, (label, suffix) in enumerate(EXPECTED_DOWNLOADS):
        if index and index % 6 == 0:
            # Chromium stops a page's automatic downloads after about ten (it would ask
            # the user); a reload starts a fresh count
            page.reload()
        with page.expect_download() as info:
            page.locator(f"button[data-download='{label}']").click()
        download = info.value
        name = download.suggested_filename
        assert name.endswith(suffix), (label, name)
        path = download.path()
        _check_download(label, name, Path(path).read_bytes())
        seen.append(name)
        expect(page.locator("#download-status")).to_contain_text("Downloaded")
    assert len(set(seen)) == len(seen)
    assert any("whitelist-apps" in n for n in seen)


def test_ai_panel_insight_and_chat(dev: Shared) -> None:
    page = dev.page
    panel = page.locator("#ai-panel")
    panel.scroll_into_view_if_needed()
    page.get_by_label("Insight type").select_option("performance")
    page.get_by_role("button", name="Generate insight").click()
    insight = panel.locator("article.insight").first
    expect(insight).to_contain_text("Key insights: Spring display")
    expect(insight.locator("ol li").first).to_be_visible()
    expect(insight.locator("strong").first).to_be_visible()

    page.get_by_label("Ask the analyst").fill("What should I change first?")
    page.get_by_role("button", name="Send").click()
    answer = panel.locator(".msg.assistant")
    expect(answer).to_have_count(1, timeout=20_000)
    expect(answer).to_contain_text("Block the blacklist")
    expect(panel.locator(".msg.user")).to_have_text(re.compile("What should I change first"))
    page.screenshot(path=dev.shots / "06-ai-panel.png", full_page=False)
    panel.screenshot(path=dev.shots / "06-ai-panel-card.png")

    # the conversation survives a reload, and clearing forgets it
    page.reload()
    expect(page.locator(".msg.assistant")).to_have_count(1)
    page.get_by_role("button", name="Clear conversation").click()
    expect(page.locator(".msg")).to_have_count(0)
    expect(page.locator(".empty-chat")).to_be_visible()


def test_dashboard_lists_the_scored_campaign_and_tablet_layout(
    dev: Shared, browser: Browser, dev_server: Server
) -> None:
    page = dev.page
    page.get_by_role("link", name="All campaigns").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    row = page.locator("table.campaigns tbody tr", has_text="Spring display")
    expect(row).to_contain_text("completed")
    expect(row).to_contain_text("100%")
    expect(row.locator("td.num")).to_have_text(re.compile(r"^\d+\.\d$"))
    page.get_by_label("Status", exact=True).select_option("pending")
    expect(page.get_by_text("No pending campaigns")).to_be_visible()
    page.get_by_label("Status", exact=True).select_option("")
    page.screenshot(path=dev.shots / "07-dashboard.png", full_page=True)

    context = new_context(browser, width=820)
    tablet = context.new_page()
    tablet.goto(f"{dev_server.base}/app/campaigns/{dev.campaign_id}")
    expect(tablet.locator("#results-count")).to_have_text("Showing 1–25 of 74 rows")
    expect(tablet.locator(".chart-grid svg.chart")).to_have_count(5)
    width = tablet.evaluate("document.documentElement.scrollWidth")
    assert width <= 820, f"the page scrolls sideways at tablet width ({width}px)"
    tablet.screenshot(path=dev.shots / "08-tablet-campaign.png", full_page=True)
    tablet.goto(dev_server.base + "/")
    expect(tablet.locator("table.campaigns")).to_be_visible()
    assert tablet.evaluate("document.documentElement.scrollWidth") <= 820
    tablet.screenshot(path=dev.shots / "09-tablet-dashboard.png", full_page=True)
    context.close()
    assert dev.dialogs == []


def test_a_failed_rerun_keeps_the_results_on_screen_marked(
    dev: Shared, dev_server: Server, tmp_path: Path
) -> None:
    from tests.api.test_notifications import negative_impressions

    page = dev.page
    page.goto(f"{dev_server.base}/app/campaigns/{dev.campaign_id}")
    expect(page.locator("#results-count")).to_have_text("Showing 1–25 of 74 rows")
    bad = tmp_path / "next-week.csv"
    bad.write_bytes(negative_impressions())  # passes the start check, fails in the run
    page.locator("#file-input").set_input_files(bad)
    expect(page.locator(".file-info")).to_contain_text("Uploaded next-week.csv")
    page.get_by_role("button", name="Score again").click()
    expect(page.locator("#progress-status")).to_contain_text("failed", timeout=60_000)
    expect(page.locator("#stale-results")).to_contain_text("the latest run failed")
    expect(page.locator("#results-count")).to_have_text("Showing 1–25 of 74 rows")
    page.reload()
    expect(page.locator("#stale-results")).to_contain_text("the latest run failed")
    expect(page.locator(".completed .stat").first).to_contain_text("Campaign score")
    page.screenshot(path=dev.shots / "10-stale-results.png", full_page=True)
