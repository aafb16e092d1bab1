"""``GET /scoring/impact/{campaign_id}`` (issue 18 §3): what applying a run's lists would
do, right against figures computed here from the uploaded export's own counts, the
lists the list routes answer and the scores of the results pages, for a classic and a
confident run, an earlier run by ``run_id`` and another eligibility floor; 404, 409 and
422 as the other scoring reads. SQLite and PostgreSQL."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from pypdf import PdfReader

from caliber.api.container import Container
from caliber.reports.pdf.text import money, num, pct
from tests.api.conftest import run_jobs
from tests.api.test_scoring import API, all_results, attach, create_campaign, scored_campaign
from tests.test_cli_impact import check, expected, export_csv, sites_of

Auth = Callable[[str], dict[str, str]]
ACTION = {"platform": "trade_desk", "goal": "action", "channel": "display"}
SITES = sites_of()
DATA = export_csv(SITES).encode()


def _get(client: TestClient, path: str, headers: dict[str, str], **params: Any) -> Any:
    response = client.get(f"{API}{path}", params=params, headers=headers)
    assert response.status_code == 200, (path, response.text)
    return response.json()


def _want(
    client: TestClient,
    campaign_id: str,
    headers: dict[str, str],
    sites: dict[str, dict[str, float]] = SITES,
    **params: Any,
) -> tuple[dict[str, Any], set[str]]:
    """The impact from the export's counts and what the other routes answer: the
    lists' domains and the rows' scores."""
    white = set(
        _get(client, f"/scoring/whitelist/{campaign_id}", headers, **params)["data"]["domains"]
    )
    black = set(
        _get(client, f"/scoring/blacklist/{campaign_id}", headers, **params)["data"]["domains"]
    )
    assert white
    assert black
    run = {k: v for k, v in params.items() if k == "run_id"}
    scores = {r["domain"]: r["score"] for r in all_results(client, campaign_id, headers, **run)}
    return expected(sites, white, black, scores), black


def test_the_impact_of_a_classic_run(client: TestClient, container: Container, auth: Auth) -> None:
    alice = auth("impact-alice")
    campaign_id = scored_campaign(client, container, alice, DATA, **ACTION)
    response = client.get(f"{API}/scoring/impact/{campaign_id}", headers=alice)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True
    impact = body["data"]
    run = _get(client, f"/campaigns/{campaign_id}/runs", alice)["data"][0]
    assert impact["run_id"] == body["run"]["run_id"] == run["id"]
    assert response.headers["X-Results-Stale"] == "false"
    assert (impact["lists"], impact["list_confidence"]) == ("classic", None)
    assert impact["min_impressions"] == 250
    want, black = _want(client, campaign_id, alice)
    check(impact, want, black)
    summary = _get(client, f"/scoring/summary/{campaign_id}", alice)["data"]
    assert impact["before"]["campaign_score"] == summary["campaign_level_score"]
    assert impact["move"]["possible"] is True
    assert any("in proportion to each one's current spend" in s for s in impact["assumptions"])
    # the contract's shape
    assert set(impact["removed"]) == {"domains", "impressions", "spend", "clicks", "conversions"}
    assert list(impact["before"]) == [
        "cpm",
        "ctr",
        "conversion_rate",
        "ias_display_fully_in_view_1s_rate",
        "ad_load_xl_rate",
        "ad_refresh_below_15s_rate",
        "campaign_score",
    ]

    # another floor: the lists of that floor (as the list routes build them)
    floor = 20_000
    higher = _get(client, f"/scoring/impact/{campaign_id}", alice, min_impressions=floor)["data"]
    assert higher["min_impressions"] == floor
    want, black = _want(client, campaign_id, alice, min_impressions=floor)
    check(higher, want, black)
    assert higher["removed"] != impact["removed"]


def test_the_impact_of_a_confident_run_uses_its_confident_lists(
    client: TestClient, container: Container, auth: Auth
) -> None:
    alice = auth("impact-alice")
    campaign_id = scored_campaign(client, container, alice, DATA, **ACTION, list_confidence=0.8)
    impact = _get(client, f"/scoring/impact/{campaign_id}", alice)["data"]
    assert (impact["lists"], impact["list_confidence"]) == ("confident", 0.8)
    want, black = _want(client, campaign_id, alice)
    check(impact, want, black)
    assert "at least 80% sure" in impact["assumptions"][0]


def test_an_earlier_run_by_run_id_keeps_its_impact(
    client: TestClient, container: Container, auth: Auth
) -> None:
    alice = auth("impact-alice")
    campaign_id = scored_campaign(client, container, alice, DATA, **ACTION)
    first = _get(client, f"/scoring/impact/{campaign_id}", alice)["data"]
    week_2 = sites_of(70, shift=3)
    attach(container, campaign_id, export_csv(week_2).encode(), "week-2.csv")
    started = client.post(f"{API}/scoring/start", json={"campaign_id": campaign_id}, headers=alice)
    assert started.status_code == 202, started.text
    run_jobs(container)
    latest = _get(client, f"/scoring/impact/{campaign_id}", alice)
    assert latest["data"]["run_id"] != first["run_id"]
    want, black = _want(client, campaign_id, alice, week_2)
    check(latest["data"], want, black)
    earlier = client.get(
        f"{API}/scoring/impact/{campaign_id}", params={"run_id": first["run_id"]}, headers=alice
    )
    assert earlier.status_code == 200, earlier.text
    assert earlier.json()["data"] == first
    assert earlier.headers["X-Results-Stale"] == "true"
    want, black = _want(client, campaign_id, alice, run_id=first["run_id"])
    check(first, want, black)


def test_not_found_conflict_and_bad_input(
    client: TestClient, container: Container, auth: Auth
) -> None:
    alice, bob = auth("impact-alice"), auth("impact-bob")
    campaign_id = scored_campaign(client, container, alice, DATA, **ACTION)
    run_id = _get(client, f"/campaigns/{campaign_id}/runs", alice)["data"][0]["id"]
    url = f"{API}/scoring/impact/{campaign_id}"
    # another user's campaign, or its run named on one's own campaign: 404
    assert client.get(url, headers=bob).status_code == 404
    own = create_campaign(client, bob, **ACTION)
    named = client.get(f"{API}/scoring/impact/{own}", params={"run_id": run_id}, headers=bob)
    assert named.status_code == 404, named.text
    # a campaign never scored: 409 saying so
    unscored = client.get(f"{API}/scoring/impact/{own}", headers=bob)
    assert unscored.status_code == 409, unscored.text
    assert "no scoring results yet" in unscored.json()["message"]
    # bad input: 422 naming the parameter
    for params, field in (
        ({"min_impressions": -1}, "min_impressions"),
        ({"min_impressions": "many"}, "min_impressions"),
        ({"run_id": "last-week"}, "run_id"),
    ):
        bad = client.get(url, params=params, headers=alice)
        assert bad.status_code == 422, (params, bad.text)
        assert bad.json()["success"] is False
        assert field in bad.text


def test_the_pdf_report_says_what_applying_the_lists_would_do(
    client: TestClient, container: Container, auth: Auth
) -> None:
    alice = auth("impact-alice")
    campaign_id = scored_campaign(client, container, alice, DATA, **ACTION)
    found = _get(client, f"/scoring/impact/{campaign_id}", alice)["data"]
    pdf = client.get(
        f"{API}/reports/campaigns/{campaign_id}/pdf",
        params={"include_charts": False, "include_details": False},
        headers=alice,
    )
    assert pdf.status_code == 200, pdf.text
    pages = PdfReader(io.BytesIO(pdf.content)).pages
    text = re.sub(r"\s+", " ", " ".join(page.extract_text() for page in pages))
    section = text[text.index("What applying the lists would do") :]
    spend = found["removed"]["spend"]
    assert f"Spend {money(spend['value'])} {pct(spend['share'], 1)}" in section
    score = [num(found[s]["campaign_score"], 1) for s in ("before", "after_block", "after_move")]
    assert f"Campaign score {' '.join(score)}" in section
