"""Sign-in with tokens in the browser: no way in without one, one user's campaign is
another's "not found", and hostile names render as text everywhere (title, results,
drawer, a domain's history, the dashboard)."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Browser, expect

from caliber.sample.export import write_sample
from tests.web.harness import Server, new_context, watch

XSS = "<img src=x onerror=alert(1)>"


def test_token_sign_in_isolation_and_xss(
    browser: Browser, token_server: Server, shots: Path, tmp_path: Path
) -> None:
    base = token_server.base
    dialogs: list[str] = []
    errors: list[str] = []

    # without a token there is no way in on this server
    anonymous = new_context(browser)
    page = anonymous.new_page()
    page.goto(base + "/")
    expect(page.get_by_role("heading", name="Sign in to Caliber")).to_be_visible()
    anonymous.close()

    alice = new_context(browser, token_server.token("alice-web"))
    page = alice.new_page()
    watch(page, dialogs, errors)
    page.goto(base + "/")
    expect(page.locator(".user-name")).to_have_text("Alice-Web")
    page.get_by_label("Campaign name").fill(XSS)
    page.get_by_role("button", name="Create campaign").click()
    expect(page.locator("#campaign-title")).to_have_text(XSS)
    campaign_id = page.url.rsplit("/", 1)[1]

    # a hostile domain name in the export renders as text too
    export = tmp_path / "hostile.csv"
    write_sample(export, "trade_desk", "display", rows=3000, seed=3)
    text = re.sub(
        r"(www\.)?thenewsherald\.com", XSS, export.read_text(encoding="utf-8"), flags=re.I
    )
    export.write_text(text, encoding="utf-8")
    page.locator("#file-input").set_input_files(export)
    expect(page.locator(".file-info")).to_contain_text("Uploaded hostile.csv")
    page.get_by_role("button", name="Start scoring").click()
    expect(page.get_by_role("progressbar")).to_have_attribute(
        "aria-valuenow", "100", timeout=60_000
    )
    first = page.locator("#results-table tbody tr").first
    expect(first.locator("td[data-col='domain']")).to_contain_text("<img")
    first.click()
    expect(page.get_by_role("dialog").locator("h2")).to_contain_text("<img")
    # its history over the runs is read by the name, encoded in the path
    expect(page.locator("#history-table tbody tr")).to_have_count(1)
    page.keyboard.press("Escape")
    page.goto(base + "/")
    expect(page.locator("a.campaign-link")).to_have_text(XSS)
    assert page.locator("main img").count() == 0
    page.screenshot(path=shots / "10-token-user-dashboard.png", full_page=True)

    # sign-out clears the token
    page.locator(".user-button").click()
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in to Caliber")).to_be_visible()
    assert page.evaluate("localStorage.getItem('caliber.token')") is None
    alice.close()

    bob = new_context(browser, token_server.token("bob-web"))
    page = bob.new_page()
    watch(page, dialogs, errors)
    page.goto(base + "/")
    expect(page.locator(".user-name")).to_have_text("Bob-Web")
    expect(page.get_by_text("No campaigns yet")).to_be_visible()
    page.goto(f"{base}/app/campaigns/{campaign_id}")
    expect(page.get_by_role("heading", name="Campaign not found")).to_be_visible()
    expect(page.locator(".not-found")).to_contain_text("belongs to another account")
    page.screenshot(path=shots / "11-not-found.png")
    bob.close()
    assert dialogs == []
    assert errors == []
