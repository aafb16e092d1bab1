"""Issue 16 in the browser: how the campaign's file is read, and the reading choices
changed before scoring."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
from playwright.sync_api import expect

from tests.web.figures import Flow


def test_choose_the_conversion_tags_of_a_per_tag_export_then_score(
    flow: Flow, tmp_path: Path
) -> None:
    """Issue 16: an action campaign, an export whose conversions come per tracking tag.
    The page says how the file is read and that conversions are missing, offers the
    tags; the user keeps the campaign's two tags (keyboard only), saves, scores, and
    gets the results of the plain twin."""
    from caliber.engine.config import Setup
    from caliber.engine.pipeline import score
    from tests.engine.column_exports import per_tag_twins, total

    plain, tagged = per_tag_twins(seed=31)
    expected_rows = score(plain, Setup.create("trade_desk", "action", "display")).results.height
    created = httpx.post(
        f"{flow.server.base}/api/v1/campaigns",
        json={
            "name": "Tagged action",
            "platform": "trade_desk",
            "goal": "action",
            "channel": "display",
        },
        timeout=10,
    )
    assert created.status_code == 201, created.text
    campaign_id = created.json()["data"]["id"]
    page = flow.page
    page.goto(f"{flow.server.base}/app/campaigns/{campaign_id}")
    export = tmp_path / "tagged.csv"
    export.write_bytes(tagged)
    page.locator("#file-input").set_input_files(export)
    expect(page.locator(".file-info")).to_contain_text("Uploaded tagged.csv")

    panel = page.locator("#reading-panel")
    expect(panel.locator("#reading-verdict")).to_contain_text("Not ready")
    expect(panel.locator("#reading-number-format-used")).to_contain_text("decimal point")
    expect(panel.locator("#reading-header-row-used")).to_contain_text("line 1")
    expect(panel.locator("#reading-inputs tr[data-input='domain']")).to_contain_text("Site")
    missing = panel.locator("[data-missing='conversion_rate']")
    expect(missing).to_contain_text("Missing Conversion rate")
    tags = missing.get_by_role("group", name=re.compile("Conversions: read from"))
    for tag in ("01", "02", "03"):
        expect(tags.get_by_label(total(tag))).to_be_checked()  # each tag's total suggested
    expect(tags.get_by_label("01 - Click Conversion")).not_to_be_checked()
    page.screenshot(path=flow.shots / "12-reading-missing.png", full_page=True)

    # tag 03 is another campaign's: untick it with the keyboard, save with Enter
    tags.get_by_label(total("03")).focus()
    page.keyboard.press("Space")
    expect(tags.get_by_label(total("03"))).not_to_be_checked()
    page.get_by_role("button", name="Save reading choices").focus()
    page.keyboard.press("Enter")
    expect(panel.locator("#reading-status")).to_have_text("Reading choices saved.")
    expect(panel.locator("#reading-verdict")).to_have_text("Ready to score.")
    conversions = panel.locator("#reading-inputs tr[data-input='conversions']")
    expect(conversions).to_contain_text(f"{total('01')} + {total('02')}")
    expect(conversions).to_contain_text("your choice · added up")
    page.screenshot(path=flow.shots / "13-reading-ready.png", full_page=True)

    page.get_by_role("button", name="Start scoring").click()
    expect(page.get_by_role("progressbar")).to_have_attribute(
        "aria-valuenow", "100", timeout=60_000
    )
    expect(page.locator("#results-count")).to_contain_text(f"of {expected_rows} rows")
    # the choice stays on the campaign: a reload shows it
    page.reload()
    expect(page.locator("#reading-inputs tr[data-input='conversions']")).to_contain_text(
        "your choice"
    )
