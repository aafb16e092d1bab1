"""Issue 20 §3 in the browser: usable by everyone. axe-core (npm, pinned in
tests/web/package.json, installed by `npm ci`) finds no serious or critical violation on
the dashboard, the campaign page, the domain drawer, the weights editor and the
housekeeping screens; every control is reached by the keyboard, shows where the focus
is, and the bell, the drawer and a confirmation work from the keyboard alone; statuses
and lists say what they are in words, not only in colour."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from caliber.sample.export import write_sample
from tests.web.figures import Flow, score_file

AXE = Path(__file__).parent / "node_modules" / "axe-core" / "axe.min.js"
SERIOUS = ("serious", "critical")
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]


@pytest.fixture(scope="module")
def axe() -> Path:
    if not AXE.exists():
        message = f"{AXE} is missing: run `npm ci --prefix tests/web` (make test does)"
        if os.environ.get("CALIBER_REQUIRE_SERVICES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return AXE


def _violations(page: Page, axe: Path, context: str = "document") -> list[str]:
    """axe's serious and critical violations on the page (or in ``context``, a CSS
    selector), one line each: the rule, its help and the elements."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(axe))
    found: list[dict[str, Any]] = page.evaluate(
        """async ([context, tags]) => {
            const root = context === "document" ? document : document.querySelector(context);
            const result = await axe.run(root, { runOnly: { type: "tag", values: tags } });
            return result.violations.map((v) => ({
              id: v.id, impact: v.impact, help: v.help,
              nodes: v.nodes.map((n) => n.target.join(" ")).slice(0, 5),
            }));
        }""",
        [context, TAGS],
    )
    return [
        f"{v['impact']} {v['id']}: {v['help']} at {v['nodes']}"
        for v in found
        if v["impact"] in SERIOUS
    ]


def _tab_walk(page: Page, limit: int = 400) -> list[dict[str, Any]]:
    """Tab from the top of the page until the focus comes back round: each element
    reached, whether it shows a focus ring (outline or shadow) and is on screen."""
    page.locator("body").focus()
    page.evaluate("document.activeElement && document.activeElement.blur()")
    seen: list[dict[str, Any]] = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        info: dict[str, Any] = page.evaluate(
            """() => {
                const el = document.activeElement;
                if (!el || el === document.body) return { key: "body" };
                const s = getComputedStyle(el);
                const r = el.getBoundingClientRect();
                const ring = (s.outlineStyle !== "none" && parseFloat(s.outlineWidth) > 0)
                  || (s.boxShadow && s.boxShadow !== "none");
                const path = [];
                for (let n = el; n && n !== document.body; n = n.parentElement) {
                  path.unshift(n.tagName + (n.id ? "#" + n.id : ""));
                }
                return { key: path.join(">") + "|" + (el.textContent || "").slice(0, 40),
                         label: el.getAttribute("aria-label")
                           || (el.textContent || "").trim().slice(0, 60),
                         tag: el.tagName, ring, size: r.width > 0 && r.height > 0 };
            }"""
        )
        if seen and info["key"] == seen[0]["key"]:
            break
        seen.append(info)
    return seen


def _interactive(page: Page) -> int:
    """The visible controls a keyboard user must reach (disabled ones aside)."""
    count: int = page.evaluate(
        """() => [...document.querySelectorAll(
              "a[href], button, input, select, textarea, [tabindex]:not([tabindex='-1'])")]
            .filter((el) => !el.disabled && el.offsetParent !== null
              && !el.closest("[hidden], dialog:not([open])")
              && getComputedStyle(el).visibility !== "hidden").length"""
    )
    return count


def _keyboard_reaches_everything(page: Page) -> None:
    walk = _tab_walk(page)
    reached = [w for w in walk if w.get("tag")]
    unringed = [w["label"] for w in reached if not w["ring"]]
    assert unringed == [], f"no visible focus on: {unringed}"
    # a hidden input (the file picker) shows its focus on its label: counted, not sized
    assert len(reached) >= _interactive(page), (len(reached), _interactive(page))


def test_the_dashboard_is_usable_by_everyone(flow: Flow, axe: Path) -> None:
    page = flow.page
    page.goto(f"{flow.server.base}/")
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    expect(page.get_by_text("No campaigns yet")).to_be_visible()
    assert _violations(page, axe) == []
    _keyboard_reaches_everything(page)


def test_the_campaign_page_drawer_and_weights(flow: Flow, axe: Path, tmp_path: Path) -> None:
    page = flow.page
    created = flow.server.api(
        "POST",
        "/campaigns",
        json={"name": "Access", "platform": "trade_desk", "goal": "action", "channel": "display"},
    )
    flow.campaign_id = campaign_id = created.json()["data"]["id"]
    page.goto(f"{flow.server.base}/app/campaigns/{campaign_id}")
    export = tmp_path / "access.csv"
    write_sample(export, "trade_desk", "display", rows=3000, seed=12)
    score_file(flow, export, "Start scoring")
    expect(page.locator("#results-count")).to_contain_text("Showing 1–25")
    expect(page.locator("text=Loading")).to_have_count(0, timeout=30_000)
    expect(page.locator("text=Looking for")).to_have_count(0, timeout=30_000)
    assert _violations(page, axe) == []
    _keyboard_reaches_everything(page)

    # statuses and lists say what they are in words
    expect(page.locator("#results-table tbody tr").first.locator(".badge")).to_have_text("good")
    mix = page.locator("figure", has_text="Quality mix").locator("text.legend")
    expect(mix).to_have_text([re.compile(rf"^{s} \d+$") for s in ("good", "moderate", "poor")])
    # the scatter's colours are named (a classic run: by quality status), and each dot says it
    expect(page.locator("#score-scatter text.legend")).to_have_text(["good", "moderate", "poor"])
    first = page.locator("#score-scatter circle.dot title").first
    expect(first).to_have_text(re.compile(r", (good|moderate|poor), [\d,]+ impressions$"))
    expect(page.locator("#list-whitelist h3")).to_have_text("Whitelist")
    expect(page.locator("#list-blacklist h3")).to_have_text("Blacklist")

    # the drawer, from the keyboard: Enter opens it, Escape closes it and gives focus back
    row = page.locator("#results-table tbody tr").first
    row.focus()
    page.keyboard.press("Enter")
    drawer = page.get_by_role("dialog")
    expect(drawer).to_be_visible()
    expect(drawer.get_by_role("button", name="Close details")).to_be_focused()
    expect(drawer.locator(".sentence")).not_to_have_text("Explaining this score…")
    assert _violations(page, axe, "#domain-drawer") == []
    page.keyboard.press("Escape")
    expect(drawer).to_be_hidden()
    expect(row).to_be_focused()

    # the weights editor
    page.locator("#open-weights").click()
    expect(page.locator("#weights-panel input.weight-number").first).to_be_visible()
    assert _violations(page, axe, "#weights-panel") == []
    page.screenshot(path=flow.shots / "60-a11y-weights.png", full_page=True)


def test_housekeeping_from_the_keyboard(flow: Flow, axe: Path) -> None:
    page = flow.page
    deadline = time.monotonic() + 60  # the run's notification is sent by a background task
    while flow.get("/notifications", unread="true")["total"] < 1 and time.monotonic() < deadline:
        time.sleep(0.3)
    page.goto(f"{flow.server.base}/app/campaigns/{flow.campaign_id}")
    bell = page.locator("#notifications-button")
    expect(bell).to_have_accessible_name("Notifications 1 unread")
    bell.focus()
    page.keyboard.press("Enter")
    panel = page.locator("#notifications-panel")
    expect(panel.locator("li")).to_have_count(1)
    assert _violations(page, axe, "#notifications-panel") == []
    panel.get_by_role("button", name="Mark all as read").focus()
    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    expect(bell).to_be_focused()

    # a confirmation: focus inside, Escape cancels and gives focus back
    delete = page.locator("#delete-campaign")
    delete.focus()
    page.keyboard.press("Enter")
    dialog = page.locator("#confirm-dialog")
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    assert _violations(page, axe, "#confirm-dialog") == []
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    expect(delete).to_be_focused()

    page.goto(f"{flow.server.base}/")
    expect(page.locator("#files tbody tr")).to_have_count(1)
    page.locator("#files").get_by_role("button", name="Preview access.csv").click()
    expect(page.locator("#file-preview")).to_be_visible()
    assert _violations(page, axe) == []
    _keyboard_reaches_everything(page)


def test_the_organization_screens_are_usable_by_everyone(flow: Flow, axe: Path) -> None:
    """Issue 21: the organizations list, a members page with an open invitation, the
    invitation's acceptance page and the audit log."""
    page = flow.page
    created = flow.server.api("POST", "/organizations", json={"name": "Access team"})
    org_id = created.json()["data"]["id"]
    invited = flow.server.api(
        "POST",
        f"/organizations/{org_id}/invitations",
        json={"email": "colleague@example.com", "role": "analyst"},
    )
    assert invited.status_code == 201, invited.text
    page.goto(f"{flow.server.base}/app/organizations")
    expect(page.locator("#organizations-table tbody tr")).to_have_count(2)
    assert _violations(page, axe) == []
    _keyboard_reaches_everything(page)

    page.goto(f"{flow.server.base}/app/organizations/{org_id}")
    expect(page.locator("#invitations-table tbody tr")).to_have_count(1)
    assert _violations(page, axe) == []
    _keyboard_reaches_everything(page)
    page.screenshot(path=flow.shots / "73-a11y-members.png", full_page=True)

    page.goto(f"{flow.server.base}/app/invitations/{invited.json()['data']['id']}")
    expect(page.get_by_role("button", name="Accept the invitation")).to_be_visible()
    assert _violations(page, axe) == []

    page.goto(f"{flow.server.base}/app/organizations/{org_id}/audit")
    expect(page.locator("#audit-table tbody tr")).to_have_count(2)
    assert _violations(page, axe) == []
    _keyboard_reaches_everything(page)
