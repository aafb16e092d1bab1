"""Issue 20 §1 in the browser: the weights editor of the campaign page (sliders and typed
entries that always sum to 100 %, the setup's defaults, suggested weights against a column
of the file, the preview before saving) and saving them, which scores the campaign again:
the new run's figures are the API's for those weights, and differ from the old run's."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from caliber.sample.export import write_sample
from tests.web.figures import Flow, score, score_file, whole


def _post(flow: Flow, path: str, body: dict[str, Any]) -> Any:
    """The API's answer, asked again after a 429 (the page holds the heavy slots)."""
    for _ in range(10):
        answer = flow.server.api("POST", path, json=body)
        if answer.status_code != 429:
            break
        time.sleep(float(answer.headers.get("Retry-After", "1")))
    assert answer.status_code == 200, answer.text
    return answer.json()["data"]


def _shown(flow: Flow) -> dict[str, float]:
    """The weights on screen (the typed entries, in percent)."""
    entries = flow.page.locator("#weights-panel input.weight-number")
    return {
        entries.nth(i).get_attribute("data-metric") or "": float(entries.nth(i).input_value())
        for i in range(entries.count())
    }


def _percent(weights: dict[str, float]) -> dict[str, float]:
    return {m: round(w * 100, 1) for m, w in weights.items()}


def test_the_editor_keeps_100_percent_and_offers_defaults_and_suggestions(
    flow: Flow, tmp_path: Path
) -> None:
    page = flow.page
    created = flow.server.api(
        "POST",
        "/campaigns",
        json={"name": "Weights", "platform": "trade_desk", "goal": "action", "channel": "display"},
    )
    assert created.status_code == 201, created.text
    flow.campaign_id = campaign_id = created.json()["data"]["id"]
    page.goto(f"{flow.server.base}/app/campaigns/{campaign_id}")
    expect(page.locator("#weights-panel")).to_be_hidden()  # nothing scored yet
    export = tmp_path / "weights.csv"
    write_sample(export, "trade_desk", "display", rows=1500, seed=11)
    score_file(flow, export, "Start scoring")

    page.get_by_role("button", name="Edit the weights").click()
    expect(page.locator("#weights-total")).to_have_text("Total: 100.0%")
    scored = _post(flow, "/scoring/weights/sensitivity", {"campaign_id": campaign_id})
    metrics = list(scored["weights"])
    assert _shown(flow) == _percent(scored["weights"])
    expect(page.locator("#save-weights")).to_be_disabled()

    # typing 40 % for the first metric scales the others in proportion
    first = page.locator(f"#weights-panel input.weight-number[data-metric='{metrics[0]}']")
    first.fill("40")
    first.press("Tab")
    rest = sum(w for m, w in scored["weights"].items() if m != metrics[0])
    expected = {m: 0.4 if m == metrics[0] else w * 0.6 / rest for m, w in scored["weights"].items()}
    assert _shown(flow) == _percent(expected)
    expect(page.locator("#weights-total")).to_have_text("Total: 100.0%")
    # a slider moved by keyboard keeps the total too
    slider = page.locator(f"#weights-panel input[type=range][data-metric='{metrics[1]}']")
    slider.focus()
    page.keyboard.press("ArrowRight")
    expect(page.locator("#weights-total")).to_have_text("Total: 100.0%")
    moved = _shown(flow)[metrics[1]]  # one step of the slider's half-point grid up
    assert expected[metrics[1]] * 100 < moved <= expected[metrics[1]] * 100 + 0.5
    # a typed value out of range is refused, naming the metric
    first.fill("140")
    first.press("Tab")
    expect(page.locator("#weights-error")).to_contain_text("type a percentage from 0 to 100")

    # the setup's defaults, one click away: the API's
    page.get_by_role("button", name="Setup defaults").click()
    assert _shown(flow) == _percent(scored["defaults"])

    # suggested weights against a column of the file: the API's suggestion
    options = page.locator("#suggest-target option")
    assert "conversions" in [options.nth(i).get_attribute("value") for i in range(options.count())]
    page.get_by_label("Outcome column (from your file)").select_option("conversions")
    page.get_by_role("button", name="Suggest", exact=True).click()
    expect(page.locator("#weights-status")).to_contain_text("Suggested weights set")
    suggested = _post(
        flow,
        "/scoring/weights/suggest",
        {"campaign_id": campaign_id, "method": "correlation", "target": "conversions"},
    )["suggested"]
    assert _shown(flow) == _percent(suggested["weights"])
    expect(page.locator("#suggest-note")).to_contain_text(suggested["summary"])

    # optimized for rank agreement with the column: the API's optimized weights
    page.get_by_label("Then optimize the ranking").select_option("grid")
    page.get_by_role("button", name="Suggest", exact=True).click()
    expect(page.locator("#weights-status")).to_contain_text("Optimized weights set")
    optimized = _post(
        flow,
        "/scoring/weights/suggest",
        {
            "campaign_id": campaign_id,
            "method": "correlation",
            "target": "conversions",
            "optimize": "grid",
        },
    )["optimized"]
    assert _shown(flow) == _percent(optimized["weights"])
    expect(page.locator("#suggest-note")).to_contain_text(optimized["summary"])
    page.locator("#weights-panel").screenshot(path=flow.shots / "40-weights-editor.png")


def test_saving_previewed_weights_scores_a_new_run_with_them(flow: Flow) -> None:
    page = flow.page
    campaign_id = flow.campaign_id
    old = flow.get(f"/scoring/summary/{campaign_id}")["data"]
    metrics = list(_shown(flow))
    # weights far from the setup's: most on the last metric
    last = page.locator(f"#weights-panel input.weight-number[data-metric='{metrics[-1]}']")
    last.fill("70")
    last.press("Tab")

    with page.expect_request("**/scoring/weights/sensitivity") as asked:
        page.get_by_role("button", name="Preview the effect").click()
    weights = json.loads(asked.value.post_data or "{}")["weights"]
    assert abs(sum(weights.values()) - 1) < 1e-9
    assert abs(weights[metrics[-1]] - 0.7) <= 0.0005  # the rounding remainder on the largest
    preview = _post(
        flow, "/scoring/weights/sensitivity", {"campaign_id": campaign_id, "weights": weights}
    )["preview"]
    score_line = f"{score(preview['campaign_score']['before'])} → "
    score_line += score(preview["campaign_score"]["after"])
    expect(page.locator("#preview-score")).to_have_text(score_line)
    changes = preview["status_changes"]
    expect(page.locator("#preview-status-count")).to_have_text(whole(changes["count"]))
    table = page.locator("#preview-status-table tbody tr")
    expect(table).to_have_count(len(changes["items"]))
    for index, item in enumerate(changes["items"][:5]):
        expect(table.nth(index)).to_have_attribute("data-domain", item["domain"])
        expect(table.nth(index).locator("td").nth(1)).to_have_text(score(item["score_after"]))
    for name in ("whitelist", "blacklist"):
        block = preview["lists"][name]
        expect(page.locator(f".preview-list[data-list={name}] h4")).to_contain_text(
            f"{whole(block['before'])} → {whole(block['after'])} entries"
        )
    page.locator("#weights-panel").screenshot(path=flow.shots / "41-weights-preview.png")

    # a change after the preview asks for a new preview before saving
    expect(page.locator("#save-weights")).to_be_enabled()
    last.fill("69")
    last.press("Tab")
    expect(page.locator("#save-weights")).to_be_disabled()
    last.fill("70")
    last.press("Tab")
    page.get_by_role("button", name="Preview the effect").click()
    expect(page.locator("#preview-score")).to_have_text(score_line)

    page.get_by_role("button", name="Save and score again").click()
    expect(page.locator("#progress-status")).to_contain_text("completed", timeout=60_000)
    expect(page.locator("#runs-table tbody tr .badge-completed")).to_have_count(2)
    campaign = flow.get(f"/campaigns/{campaign_id}")["data"]
    assert campaign["custom_weights"] == weights
    runs = flow.get(f"/campaigns/{campaign_id}/runs")["data"]
    assert runs[0]["id"] != runs[1]["id"]
    new = flow.get(f"/scoring/summary/{campaign_id}")["data"]
    # the new run's figures: the preview's, and not the old run's
    assert new["campaign_level_score"] == preview["campaign_score"]["after"]
    assert new["campaign_level_score"] != old["campaign_level_score"]
    expect(page.locator(".completed .stat").first).to_contain_text(
        score(new["campaign_level_score"])
    )
    rows = flow.get(f"/scoring/results/{campaign_id}", per_page=25)["data"]
    expect(page.locator("#results-table tbody tr").first).to_have_attribute(
        "data-domain", rows[0]["domain"]
    )
    breakdown = rows[0]["score_breakdown"]
    assert {m: b["weight"] for m, b in breakdown.items()} == weights
    expect(page.locator("#weights-panel #open-weights")).to_be_visible()  # closed again


def test_a_templates_weights_on_its_page(flow: Flow) -> None:
    page = flow.page
    setup = {"platform": "trade_desk", "goal": "action", "channel": "display"}
    created = flow.server.api("POST", "/campaigns/templates", json={"name": "Action T", **setup})
    assert created.status_code == 201, created.text
    template_id = created.json()["data"]["id"]
    page.goto(flow.server.base)
    page.get_by_role("link", name="Action T").click()
    expect(page.locator("h1")).to_have_text("Action T")
    defaults = _post(flow, "/scoring/weights/sensitivity", {"campaign_id": flow.campaign_id})
    expect(page.locator("#template-weights-source")).to_have_text("The setup's default weights.")
    assert _shown(flow) == _percent(defaults["defaults"])

    metrics = list(defaults["defaults"])
    first = page.locator(f"#weights-panel input.weight-number[data-metric='{metrics[0]}']")
    first.fill("50")
    first.press("Tab")
    expect(page.locator("#weights-total")).to_have_text("Total: 100.0%")
    shown = _shown(flow)
    page.get_by_role("button", name="Save weights").click()
    expect(page.locator("#template-weights-status")).to_contain_text("Weights saved")
    saved = flow.get(f"/campaigns/templates/{template_id}")["data"]["custom_weights"]
    assert _percent(saved) == shown
    assert abs(sum(saved.values()) - 1) < 1e-9
    # a campaign created from it starts with them
    made = flow.server.api(
        "POST", "/campaigns", json={"name": "From T", "template_id": template_id}
    )
    assert made.json()["data"]["custom_weights"] == saved
    page.reload()
    expect(page.locator("#template-weights-source")).to_have_text("The template's own weights.")
    assert _shown(flow) == shown
    page.locator("#weights-panel").screenshot(path=flow.shots / "50-template-weights.png")

    page.get_by_role("button", name="Use the setup's defaults").click()
    expect(page.locator("#template-weights-status")).to_contain_text("default weights")
    assert flow.get(f"/campaigns/templates/{template_id}")["data"]["custom_weights"] is None
    assert _shown(flow) == _percent(defaults["defaults"])

    # a setup no campaign has scored yet: its metrics and defaults are the template's own
    # answer (scoring.md §1: pulsepoint / any goal / video)
    other = flow.server.api(
        "POST",
        "/campaigns/templates",
        json={"name": "Video T", "platform": "pulsepoint", "goal": "awareness", "channel": "video"},
    ).json()["data"]
    page.goto(f"{flow.server.base}/app/templates/{other['id']}")
    expect(page.locator("#template-weights-source")).to_have_text("The setup's default weights.")
    video = {"ecpm": 0.2, "ctr": 0.1, "completion_rate": 0.5, "conversion_rate": 0.2}
    assert _shown(flow) == _percent(video)
    assert list(_shown(flow)) == list(video)  # in the setup's order
    page.goto(f"{flow.server.base}/app/templates/{uuid.uuid4()}")
    expect(page.get_by_role("alert")).to_contain_text("Template not found")
