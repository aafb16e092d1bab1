"""Issue 20 §1 in the browser: housekeeping. The notification bell (the unread count, the
list with the lists_changed notification a second run makes, marked as read one by one
and all at once), background exports (prepared, downloaded: the bytes the API serves,
deleted), the uploaded files (preview and check against the API's answers, delete) and
deleting a campaign or a template after a confirmation that names what goes. Every
effect is checked through the API, and after a reload."""

from __future__ import annotations

import re
import time
from pathlib import Path

from playwright.sync_api import expect

from caliber.sample.export import write_sample
from tests.web.figures import Flow, score_file


def _unread(flow: Flow) -> int:
    total: int = flow.get("/notifications", unread="true", per_page=1)["total"]
    return total


def _kinds_once_sent(flow: Flow) -> list[str]:
    """The notifications' kinds once the jobs that follow the second run have sent
    them (each run's, and the lists_changed one): background tasks, so waited for."""
    deadline = time.monotonic() + 60
    while True:
        kinds = [n["kind"] for n in flow.get("/notifications")["data"]]
        if len(kinds) >= 3 or time.monotonic() > deadline:
            return kinds
        time.sleep(0.3)


def _create(flow: Flow, name: str, **extra: object) -> str:
    body = {"name": name, "platform": "trade_desk", "goal": "awareness", "channel": "display"}
    created = flow.server.api("POST", "/campaigns", json={**body, **extra})
    assert created.status_code == 201, created.text
    campaign_id: str = created.json()["data"]["id"]
    return campaign_id


def test_two_runs_ring_the_bell_and_read_notifications_stay_read(
    flow: Flow, tmp_path: Path
) -> None:
    page = flow.page
    flow.campaign_id = campaign_id = _create(flow, "Housekeeping weekly")
    page.goto(f"{flow.server.base}/app/campaigns/{campaign_id}")
    expect(page.locator("#unread-count")).to_be_hidden()  # nothing yet
    for week, seed in ((1, 3), (2, 11)):
        export = tmp_path / f"week-{week}.csv"
        write_sample(export, "trade_desk", "display", rows=3000, seed=seed)
        score_file(flow, export, "Start scoring" if week == 1 else "Score again")
    kinds = _kinds_once_sent(flow)
    assert "lists_changed" in kinds, kinds  # the second run's lists differ from the first's
    unread = _unread(flow)
    assert unread == len(kinds) >= 3
    page.reload()
    bell = page.locator("#notifications-button")
    expect(bell).to_have_accessible_name(f"Notifications {unread} unread")
    bell.click()
    items = page.locator("#notification-list li")
    expect(items).to_have_count(unread)
    titles = [n["title"] for n in flow.get("/notifications")["data"]]
    expect(page.locator("#notification-list .notification-title")).to_have_text(titles)
    changed = page.locator("#notification-list li", has_text="lists changed").first
    expect(changed).to_contain_text("Housekeeping weekly: the lists changed")
    expect(changed.locator(".badge")).to_have_text("unread")  # a word, not only a colour
    page.screenshot(path=flow.shots / "40-notifications.png")

    # one read: the API says so, and it stays read after a reload
    changed.get_by_role("button", name=re.compile("Mark as read")).click()
    expect(bell).to_have_accessible_name(f"Notifications {unread - 1} unread")
    answer = next(n for n in flow.get("/notifications")["data"] if n["kind"] == "lists_changed")
    assert answer["read_at"] is not None
    assert _unread(flow) == unread - 1
    page.reload()
    expect(bell).to_have_accessible_name(f"Notifications {unread - 1} unread")
    bell.click()
    expect(page.locator("#notification-list li.unread")).to_have_count(unread - 1)

    # all of them, with the keyboard
    page.locator("#mark-all-read").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#notifications-status")).to_have_text("All marked as read.")
    assert _unread(flow) == 0
    page.reload()
    expect(page.locator("#unread-count")).to_be_hidden()
    expect(bell).to_have_accessible_name("Notifications")


def test_a_background_export_downloads_the_apis_bytes_and_is_deleted(flow: Flow) -> None:
    page = flow.page
    campaign_id = flow.campaign_id
    page.goto(f"{flow.server.base}/app/campaigns/{campaign_id}")
    panel = page.locator("#campaign-exports")
    expect(panel).to_contain_text("No background exports of this campaign.")
    panel.get_by_label("Format").select_option("whitelist_trade_desk")
    panel.get_by_role("button", name="Prepare in the background").click()
    row = panel.locator("tbody tr")
    expect(row).to_have_count(1)
    expect(row.locator(".badge")).to_have_text("completed", timeout=30_000)
    (export,) = [e for e in flow.get("/reports/exports")["data"] if e["campaign_id"] == campaign_id]
    assert export["format"] == "whitelist_trade_desk"
    expect(row).to_contain_text(export["filename"])
    with page.expect_download() as info:
        row.get_by_role("button", name=re.compile("^Download")).click()
    download = info.value
    served = flow.server.api("GET", f"/reports/exports/{export['id']}/download")
    assert served.status_code == 200
    assert download.suggested_filename == export["filename"]
    assert Path(download.path()).read_bytes() == served.content
    # the same bytes as the direct download of that list
    direct = flow.server.api(
        "GET", f"/reports/export/campaigns/{campaign_id}/whitelist/trade-desk"
    ).content
    assert served.content == direct

    # the dashboard lists it under its campaign's name
    page.goto(f"{flow.server.base}/")
    dash = page.locator("#exports tbody tr")
    expect(dash).to_have_count(1)
    expect(dash.locator("td").first).to_have_text("Housekeeping weekly")
    page.screenshot(path=flow.shots / "41-dashboard-housekeeping.png", full_page=True)

    # deleted after a confirmation; Cancel first changes nothing
    dash.get_by_role("button", name=re.compile("^Delete")).click()
    dialog = page.locator("#confirm-dialog")
    expect(dialog).to_contain_text(f"Delete the export “{export['filename']}”?")
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    assert flow.server.api("GET", f"/reports/exports/{export['id']}").status_code == 200
    dash.get_by_role("button", name=re.compile("^Delete")).click()
    dialog.get_by_role("button", name="Delete export").click()
    expect(page.locator("#exports")).to_contain_text("No exports.")
    assert flow.server.api("GET", f"/reports/exports/{export['id']}").status_code == 404


def test_files_preview_check_and_delete(flow: Flow, tmp_path: Path) -> None:
    page = flow.page
    loose = tmp_path / "loose-file.csv"
    write_sample(loose, "trade_desk", "display", rows=200, seed=21)
    with loose.open("rb") as handle:
        uploaded = flow.server.api(
            "POST", "/reports/upload", files={"file": ("loose-file.csv", handle, "text/csv")}
        )
    assert uploaded.status_code == 201, uploaded.text
    file_id = uploaded.json()["data"]["id"]
    files = flow.get("/reports/files")["data"]
    page.goto(f"{flow.server.base}/")
    rows = page.locator("#files tbody tr")
    expect(rows).to_have_count(len(files))
    expect(rows.locator("td.file-name")).to_have_text(
        [re.compile("^" + re.escape(f["original_filename"])) for f in files]
    )
    row = page.locator(f"#files tr[data-file='{file_id}']")

    row.get_by_role("button", name="Preview loose-file.csv").click()
    preview = flow.get(f"/reports/files/{file_id}/preview", rows=10)["data"]
    table = page.locator("#file-preview")
    expect(table.locator("thead th")).to_have_text(preview["headers"])
    expect(table.locator("tbody tr")).to_have_count(len(preview["rows"]))
    first = ["—" if c is None else c for c in preview["rows"][0]]
    expect(table.locator("tbody tr").first.locator("td")).to_have_text(first)
    expect(page.locator("#file-detail-title")).to_be_focused()

    row.get_by_role("button", name="Check loose-file.csv").click()
    check = flow.get(f"/reports/files/{file_id}/validate")["data"]
    assert check["valid"] is True
    expect(page.locator("#file-verdict .badge")).to_have_text("can be scored")
    expect(page.locator("#file-verdict")).to_contain_text(check["message"][1:])

    # the campaign's file names its campaign in the confirmation
    used = next(f for f in files if f["original_filename"] == "week-2.csv")
    page.locator(f"#files tr[data-file='{used['id']}']").get_by_role(
        "button", name=re.compile("^Delete")
    ).click()
    expect(page.locator("#confirm-dialog")).to_contain_text(
        "“Housekeeping weekly” loses its file and needs a new upload"
    )
    page.get_by_role("button", name="Cancel").click()

    row.get_by_role("button", name=re.compile("^Delete")).click()
    dialog = page.locator("#confirm-dialog")
    expect(dialog).to_contain_text("No campaign uses it as its file.")
    page.screenshot(path=flow.shots / "42-confirm-file.png")
    dialog.get_by_role("button", name="Delete file").click()
    expect(page.locator("#files-status")).to_have_text("Deleted loose-file.csv.")
    expect(rows).to_have_count(len(files) - 1)
    assert flow.server.api("GET", f"/reports/files/{file_id}").status_code == 404


def test_deleting_a_campaign_names_what_goes(flow: Flow, tmp_path: Path) -> None:
    page = flow.page
    # a completed campaign cannot be deleted (the API's 409): the dialog says so
    page.goto(f"{flow.server.base}/app/campaigns/{flow.campaign_id}")
    page.locator("#delete-campaign").click()
    dialog = page.locator("#confirm-dialog")
    expect(dialog.locator("#confirm-blocked")).to_have_text(
        "A completed campaign keeps its results and cannot be deleted."
    )
    expect(dialog.get_by_role("button", name="Delete campaign")).to_be_disabled()
    page.keyboard.press("Escape")

    # a failed one: its run, its file
    doomed = _create(flow, "Doomed")
    broken = tmp_path / "broken.csv"
    broken.write_text("Site,Impressions\nexample.com,12\n", encoding="utf-8")
    page.goto(f"{flow.server.base}/app/campaigns/{doomed}")
    page.locator("#file-input").set_input_files(broken)
    expect(page.locator(".file-info")).to_contain_text("Uploaded broken.csv")
    page.locator("#delete-campaign").click()
    expect(dialog.locator("li")).to_have_text(
        [
            "Its 0 scoring runs and their results, lists and reports.",
            "Its AI insights, chat history and notifications.",
            "It has no background exports.",
            "Its uploaded file stays in Your files, to delete there if you wish.",
        ]
    )
    dialog.get_by_role("button", name="Cancel").click()
    assert flow.server.api("GET", f"/campaigns/{doomed}").status_code == 200
    page.locator("#delete-campaign").click()
    dialog.get_by_role("button", name="Delete campaign").click()
    expect(page).to_have_url(f"{flow.server.base}/")
    expect(page.locator("#deleted-notice")).to_have_text("The campaign “Doomed” was deleted.")
    assert flow.server.api("GET", f"/campaigns/{doomed}").status_code == 404
    expect(page.locator("table.campaigns")).not_to_contain_text("Doomed")


def test_deleting_a_template(flow: Flow) -> None:
    page = flow.page
    setup = {"platform": "trade_desk", "goal": "action", "channel": "display"}
    kept = flow.server.api("POST", "/campaigns/templates", json={"name": "In use", **setup})
    spare = flow.server.api("POST", "/campaigns/templates", json={"name": "Spare", **setup})
    kept_id, spare_id = kept.json()["data"]["id"], spare.json()["data"]["id"]
    _create(flow, "Made from a template", template_id=kept_id)
    page.goto(f"{flow.server.base}/")
    page.get_by_role("button", name="Delete In use").click()
    dialog = page.locator("#confirm-dialog")
    expect(dialog.locator("#confirm-blocked")).to_have_text(
        "1 campaign made from it (“Made from a template”) must be deleted first."
    )
    expect(dialog.get_by_role("button", name="Delete template")).to_be_disabled()
    dialog.get_by_role("button", name="Cancel").click()
    page.get_by_role("button", name="Delete Spare").click()
    dialog.get_by_role("button", name="Delete template").click()
    expect(page.locator(".template-list")).not_to_contain_text("Spare")
    assert flow.server.api("GET", f"/campaigns/templates/{spare_id}").status_code == 404
    assert flow.server.api("GET", f"/campaigns/templates/{kept_id}").status_code == 200
