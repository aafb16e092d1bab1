"""Issue 21 §4 in the browser: organizations. Two signed-in users (tokens with verified
emails): the owner creates an organization from the switcher's page, invites the second
user as viewer (the link to send, the invitation's status), the viewer accepts with that
email, switches organization (kept across a reload), sees the owner's campaign and no
edit control; the owner makes them analyst and they upload; demoted again, the page they
still have open shows the API's 403 naming the role; the last owner's demotion is refused
in the API's words; removal ends access (the page says so and falls back to the personal
organization); the audit log lists every event as the API does. Every effect is checked
against the API's own answers."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Browser, Page, expect

from caliber.sample.export import write_sample
from tests.web.harness import Server, new_context, watch

EDIT = re.compile(
    r"^(Delete|Save|Start scoring|Score again|Generate|Send|Prepare|Create|Change role|"
    r"Remove|Invite|Revoke|Mark|Choose a file|Use\b|Clear)"
)


def _api(
    server: Server, token: str, method: str, path: str, org: str | None = None, **kw: Any
) -> Any:
    headers = {"Authorization": f"Bearer {token}"}
    if org is not None:
        headers["X-Organization-Id"] = org
    answer = httpx.request(method, f"{server.base}/api/v1{path}", headers=headers, timeout=30, **kw)
    assert answer.status_code < 300, answer.text
    return answer.json()


def _edit_buttons(page: Page) -> list[str]:
    """The visible buttons and button-like links of the page whose words change
    something."""
    names: list[str] = page.evaluate(
        """() => [...document.querySelectorAll("main button, main label.btn, main a.btn")]
            .filter((el) => el.offsetParent !== null)
            .map((el) => (el.textContent || "").trim())"""
    )
    return [n for n in names if EDIT.match(n)]


def _score(page: Page, export: Path, button: str) -> None:
    page.locator("#file-input").set_input_files(export)
    expect(page.locator(".file-info")).to_contain_text(f"Uploaded {export.name}")
    page.get_by_role("button", name=button).click()
    expect(page.locator("#progress-status")).to_contain_text("completed", timeout=60_000)


def test_an_organization_shared_with_roles(
    browser: Browser, token_server: Server, shots: Path, tmp_path: Path
) -> None:
    base = token_server.base
    owner_token = token_server.token("owner-org")
    guest_token = token_server.token("guest-org")  # guest-org@example.com, verified
    dialogs: list[str] = []
    errors: list[str] = []

    # ---- the owner creates an organization and invites a viewer ------------------------
    owner_ctx = new_context(browser, owner_token)
    owner = owner_ctx.new_page()
    watch(owner, dialogs, errors)
    owner.goto(base + "/")
    expect(owner.locator(".user-name")).to_have_text("Owner-Org")
    switch = owner.locator("#org-switcher select")
    expect(switch.locator("option")).to_have_text(["Personal · owner"])
    owner.locator("#organizations-link").click()
    owner.locator("#new-organization-name").fill("Agency Web")
    owner.get_by_role("button", name="Create organization").click()
    expect(owner.locator("#organization-title")).to_have_text("Agency Web")
    expect(owner.locator("#my-role")).to_have_text("your role: owner")
    mine = _api(token_server, owner_token, "GET", "/organizations")["data"]
    org = next(o for o in mine if o["name"] == "Agency Web")
    org_id = org["id"]
    assert org["role"] == "owner"
    expect(switch).to_have_value(org_id)  # the app now works in it

    owner.locator("#invite-email").fill("guest-org@example.com")
    owner.locator("#invite-role").select_option("viewer")
    owner.get_by_role("button", name="Invite", exact=True).click()
    sent = owner.locator("#invitation-sent")
    expect(sent).to_contain_text("guest-org@example.com is invited as viewer")
    invitation = _api(token_server, owner_token, "GET", f"/organizations/{org_id}/invitations")
    invitation = invitation["data"][0]
    assert (invitation["email"], invitation["role"]) == ("guest-org@example.com", "viewer")
    link = f"{base}/app/invitations/{invitation['id']}"
    expect(sent.locator("input.invite-link")).to_have_value(link)
    row = owner.locator(f"#invitations-table tr[data-invitation='{invitation['id']}']")
    expect(row.locator(".badge")).to_have_text("open")
    owner.screenshot(path=shots / "70-members-owner.png", full_page=True)

    # a campaign of the organization, scored (the header: not the personal one's)
    owner.goto(base + "/")
    expect(owner.locator("#org-note")).to_contain_text("Working in “Agency Web”")
    owner.get_by_label("Campaign name").fill("Shared weekly")
    owner.get_by_role("button", name="Create campaign").click()
    expect(owner.locator("#campaign-title")).to_have_text("Shared weekly")
    campaign_id = owner.url.rsplit("/", 1)[1]
    week1 = tmp_path / "week-1.csv"
    write_sample(week1, "trade_desk", "display", rows=3000, seed=5)
    _score(owner, week1, "Start scoring")
    in_org = _api(token_server, owner_token, "GET", "/campaigns", org=org_id)["data"]
    assert [c["id"] for c in in_org] == [campaign_id]
    assert _api(token_server, owner_token, "GET", "/campaigns")["data"] == []  # personal
    template = {"name": "Display setup", "platform": "trade_desk", "goal": "awareness"}
    template_id = _api(
        token_server,
        owner_token,
        "POST",
        "/campaigns/templates",
        org=org_id,
        json={**template, "channel": "display"},
    )["data"]["id"]

    # ---- the guest accepts, switches, reads and changes nothing -----------------------
    guest_ctx = new_context(browser, guest_token)
    guest = guest_ctx.new_page()
    watch(guest, dialogs, errors)
    guest.goto(link)
    guest.get_by_role("button", name="Accept the invitation").click()
    expect(guest.locator("#invitation-status")).to_contain_text("You joined “Agency Web” as viewer")
    gswitch = guest.locator("#org-switcher select")
    expect(gswitch.locator("option")).to_have_text(["Personal · owner", "Agency Web · viewer"])
    gswitch.select_option(org_id)
    expect(guest.locator("#org-note")).to_have_text(
        "Working in “Agency Web”, shared by its members. Your role: viewer."
    )
    expect(guest.locator("a.campaign-link")).to_have_text(["Shared weekly"])
    expect(guest.locator("#no-create")).to_contain_text(
        "Your role in “Agency Web” is viewer: a viewer may not create campaigns"
    )
    # the organization's notifications (the owner's run): read, not marked read, by a viewer
    deadline = time.monotonic() + 60  # sent by a background task after the run
    while time.monotonic() < deadline:
        if _api(token_server, owner_token, "GET", "/notifications", org=org_id)["total"]:
            break
        time.sleep(0.3)
    guest.reload()  # the choice is kept
    expect(gswitch).to_have_value(org_id)
    guest.locator("#notifications-button").click()
    expect(guest.locator("#notification-list li").first).to_contain_text("Shared weekly")
    expect(guest.locator("#mark-all-read")).to_be_hidden()
    expect(guest.locator("#notification-list button")).to_have_count(0)
    guest.keyboard.press("Escape")
    expect(guest.locator("a.campaign-link")).to_have_text(["Shared weekly"])
    expect(guest.locator("a.template-link")).to_have_text(["Display setup"])
    assert _edit_buttons(guest) == []  # no Use or Delete of the template either
    guest.goto(f"{base}/app/templates/{template_id}")
    expect(guest.locator("#no-template-save")).to_contain_text("may not change templates")
    expect(guest.locator("#weights-panel input.weight-number").first).to_be_disabled()
    expect(guest.locator("#save-template-weights")).to_have_count(0)
    expect(guest.locator("#weights-defaults")).to_have_count(0)
    guest.go_back()
    guest.locator("a.campaign-link").click()
    expect(guest.locator("#campaign-title")).to_have_text("Shared weekly")
    expect(guest.locator("#results-table tbody tr").first).to_be_visible(timeout=30_000)
    expect(guest.locator("#no-upload")).to_contain_text("is viewer: a viewer may not upload")
    expect(guest.locator("#no-ai")).to_be_visible()
    expect(guest.locator("#no-exports")).to_be_visible()
    expect(guest.locator("#no-reading")).to_be_visible()
    for absent in ("#file-input", "#delete-campaign", "#start-scoring", "#campaign-confidence"):
        expect(guest.locator(absent)).to_have_count(0)
    guest.locator("#open-weights").click()  # a preview is a computation: a viewer's too
    expect(guest.locator("#weights-panel input.weight-number").first).to_be_visible()
    expect(guest.locator("#no-save-weights")).to_be_visible()
    expect(guest.locator("#save-weights")).to_have_count(0)
    assert _edit_buttons(guest) == []
    guest.screenshot(path=shots / "71-viewer-campaign.png", full_page=True)

    # ---- made analyst, they upload ---------------------------------------------------------
    owner.goto(f"{base}/app/organizations/{org_id}")
    member = owner.locator("#members-table tr", has_text="Guest-Org")
    member.get_by_label("Role of Guest-Org").select_option("analyst")
    member.get_by_role("button", name="Change role of Guest-Org").click()
    expect(owner.locator("#members-status")).to_have_text("Guest-Org is now analyst.")
    members = _api(token_server, owner_token, "GET", f"/organizations/{org_id}/members")["data"]
    assert {m["email"]: m["role"] for m in members} == {
        "owner-org@example.com": "owner",
        "guest-org@example.com": "analyst",
    }
    expect(
        owner.locator(f"#invitations-table tr[data-invitation='{invitation['id']}'] .badge")
    ).to_have_text("accepted")

    guest.reload()
    expect(gswitch.locator("option")).to_have_text(["Personal · owner", "Agency Web · analyst"])
    week2 = tmp_path / "week-2.csv"
    write_sample(week2, "trade_desk", "display", rows=2000, seed=9)
    guest.locator("#file-input").set_input_files(week2)
    expect(guest.locator(".file-info")).to_contain_text("Uploaded week-2.csv")
    campaign = _api(token_server, owner_token, "GET", f"/campaigns/{campaign_id}", org=org_id)
    files = _api(token_server, owner_token, "GET", "/reports/files", org=org_id)["data"]
    uploaded = next(f for f in files if f["original_filename"] == "week-2.csv")
    assert campaign["data"]["file_upload_id"] == uploaded["id"]

    # ---- demoted while their page is open: the API's 403, naming the role, is shown -------
    member.get_by_label("Role of Guest-Org").select_option("viewer")
    member.get_by_role("button", name="Change role of Guest-Org").click()
    expect(owner.locator("#members-status")).to_have_text("Guest-Org is now viewer.")
    guest.locator("#campaign-confidence").select_option("0.8")
    guest.get_by_role("button", name="Save confidence").click()
    expect(guest.locator("#confidence-status")).to_contain_text(
        "your role in this organization is viewer: a viewer may not"
    )
    expect(gswitch.locator("option")).to_have_text(["Personal · owner", "Agency Web · viewer"])

    # the last owner is neither demoted nor gone: the API's refusal, in its words
    me = owner.locator("#members-table tr", has_text="Owner-Org")
    me.get_by_label("Role of Owner-Org").select_option("admin")
    me.get_by_role("button", name="Change role of Owner-Org").click()
    expect(owner.locator("#members-error")).to_have_text(
        "the last owner cannot be demoted: make another member an owner first"
    )

    # ---- removal ends access -----------------------------------------------------------------
    owner.locator("#members-table tr", has_text="Guest-Org").get_by_role(
        "button", name="Remove Guest-Org"
    ).click()
    owner.locator("#confirm-dialog").get_by_role("button", name="Remove member").click()
    expect(owner.locator("#members-table tbody tr")).to_have_count(1)
    members = _api(token_server, owner_token, "GET", f"/organizations/{org_id}/members")["data"]
    assert [m["email"] for m in members] == ["owner-org@example.com"]
    guest.locator("a.back").click()  # the next request, in the page still open
    expect(guest.locator("#banner")).to_contain_text(
        "You are no longer a member of “Agency Web”: you now work in Personal · owner"
    )
    expect(gswitch.locator("option")).to_have_text(["Personal · owner"])
    expect(guest.get_by_text("No campaigns yet")).to_be_visible()
    guest.goto(f"{base}/app/campaigns/{campaign_id}")
    expect(guest.get_by_role("heading", name="Campaign not found")).to_be_visible()

    # ---- the audit log lists these events, as the API does ---------------------------------
    owner.locator("#audit-link").click()
    expect(owner.locator("#audit-title")).to_have_text("Audit log · Agency Web")
    entries = _api(
        token_server, owner_token, "GET", f"/organizations/{org_id}/audit", params={"per_page": 25}
    )
    actions = [e["action"] for e in entries["data"]]
    for wanted in (
        "organization.created",
        "member.invited",
        "campaign.created",
        "upload.created",
        "campaign.scored",
        "member.joined",
        "member.role_changed",
        "member.removed",
    ):
        assert wanted in actions, (wanted, actions)
    rows = owner.locator("#audit-table tbody tr")
    expect(rows).to_have_count(len(actions))
    expect(owner.locator("#audit-table .audit-action")).to_have_text(actions)
    removed = owner.locator("#audit-table tr[data-action='member.removed']")
    expect(removed.locator("td").nth(1)).to_have_text("Owner-Org")
    # a former member by the address they joined with; the campaign by its name
    joined = owner.locator("#audit-table tr[data-action='member.joined']")
    expect(joined.locator("td").nth(1)).to_have_text("guest-org@example.com (former member)")
    created = owner.locator("#audit-table tr[data-action='campaign.created']")
    expect(created.locator("td").nth(3).get_by_role("link")).to_have_text("Shared weekly")
    expect(owner.locator("#audit-status")).to_have_text(f"{entries['total']} entries")
    owner.screenshot(path=shots / "72-audit.png", full_page=True)

    owner_ctx.close()
    guest_ctx.close()
    assert dialogs == []
    assert errors == []


def test_the_audit_log_pages_and_is_for_owners_and_admins(
    browser: Browser, token_server: Server, shots: Path
) -> None:
    base = token_server.base
    owner_token = token_server.token("pager-org")
    reader_token = token_server.token("reader-org")
    org_id = _api(token_server, owner_token, "POST", "/organizations", json={"name": "Paged"})[
        "data"
    ]["id"]
    for n in range(29):  # with the creation and the reader's invitation and joining: 32
        _api(
            token_server,
            owner_token,
            "POST",
            f"/organizations/{org_id}/invitations",
            json={"email": f"someone-{n}@example.com", "role": "analyst"},
        )
    invited = _api(
        token_server,
        owner_token,
        "POST",
        f"/organizations/{org_id}/invitations",
        json={"email": "reader-org@example.com", "role": "viewer"},
    )["data"]
    _api(token_server, reader_token, "POST", f"/organizations/invitations/{invited['id']}/accept")
    dialogs: list[str] = []
    errors: list[str] = []

    context = new_context(browser, owner_token, width=820)
    page = context.new_page()
    watch(page, dialogs, errors)
    page.goto(f"{base}/app/organizations/{org_id}/audit")
    second = _api(
        token_server,
        owner_token,
        "GET",
        f"/organizations/{org_id}/audit",
        params={"page": 2, "per_page": 25},
    )
    assert second["total"] == 32
    expect(page.locator("#audit-page")).to_have_text("Page 1 of 2")
    expect(page.locator("#audit-table tbody tr")).to_have_count(25)
    expect(page.get_by_role("button", name="Previous")).to_be_disabled()
    page.get_by_role("button", name="Next").click()
    expect(page.locator("#audit-page")).to_have_text("Page 2 of 2")
    rows = page.locator("#audit-table tbody tr")
    expect(rows).to_have_count(7)
    ids = [rows.nth(i).get_attribute("data-entry") for i in range(7)]
    assert ids == [e["id"] for e in second["data"]]
    expect(rows.last).to_have_attribute("data-action", "organization.created")
    expect(page.get_by_role("button", name="Next")).to_be_disabled()
    page.screenshot(path=shots / "74-audit-820.png", full_page=True)
    context.close()

    # a viewer: no audit link, no invite form; the address itself answers the API's 403
    context = new_context(browser, reader_token)
    page = context.new_page()
    watch(page, dialogs, errors)
    page.goto(f"{base}/app/organizations/{org_id}")
    expect(page.locator("#my-role")).to_have_text("your role: viewer")
    expect(page.locator("#members-table tbody tr")).to_have_count(2)
    expect(page.locator("#audit-link")).to_have_count(0)
    expect(page.locator("#invite-form")).to_have_count(0)
    expect(page.locator(".member-role")).to_have_count(0)
    page.goto(f"{base}/app/organizations/{org_id}/audit")
    expect(page.locator("#audit-error")).to_have_text(
        "your role in this organization is viewer: a viewer may not read the audit log"
    )
    context.close()
    assert dialogs == []
    assert errors == []
