"""Runs (issue 18 §1): every scoring of a campaign is a run, listed by
``GET /campaigns/{id}/runs``, and every results, summary, list, export and PDF route
reads any of them by ``run_id`` (default: the latest completed run), on SQLite and
PostgreSQL. Two uploads of consecutive weeks give two runs; the earlier run's answers
and exports are the same after the later run; another user's run, or a run of another
campaign, is not found."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest
from fastapi.testclient import TestClient

from caliber.api.container import Container
from caliber.engine.config import Setup
from caliber.engine.lists import build_lists
from caliber.engine.pipeline import score
from caliber.jobs.names import SCORE_CAMPAIGN
from caliber.scoring.jobs import run_scoring_job
from tests.api.conftest import run_jobs
from tests.api.test_notifications import negative_impressions
from tests.api.test_scoring import API, TD_DISPLAY, attach, create_campaign, hold_jobs
from tests.engine.exports import make_export

Auth = Callable[[str], dict[str, str]]
WEEK_1 = make_export("trade_desk", "display", seed=71, names=60).encode()
WEEK_2 = make_export("trade_desk", "display", seed=72, names=80).encode()
# every read of results that takes run_id, and how to tell its answer
SCORING_READS = ("results", "summary", "whitelist", "blacklist")
EXPORTS = (
    "results/csv",
    "summary/csv",
    "optimization-lists/csv",
    "data/json",
    "whitelist/csv",
    "blacklist/json",
    "whitelist/txt",
    "blacklist/trade-desk",
    "whitelist/dv360",
)


def _score(
    client: TestClient,
    container: Container,
    headers: dict[str, str],
    campaign_id: str,
    data: bytes,
    name: str,
) -> None:
    attach(container, campaign_id, data, name)
    started = client.post(
        f"{API}/scoring/start", json={"campaign_id": campaign_id}, headers=headers
    )
    assert started.status_code == 202, started.text
    run_jobs(container)


def _runs(client: TestClient, campaign_id: str, headers: dict[str, str], **params: Any) -> Any:
    response = client.get(f"{API}/campaigns/{campaign_id}/runs", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def _reads(
    client: TestClient, campaign_id: str, headers: dict[str, str], run_id: str | None
) -> dict[str, Any]:
    """Every results read of one run (the campaign's latest with None): the scoring
    answers' data and marker, and every export's bytes (export dates cut out)."""
    params = {} if run_id is None else {"run_id": run_id}
    found: dict[str, Any] = {}
    for path in SCORING_READS:
        response = client.get(f"{API}/scoring/{path}/{campaign_id}", params=params, headers=headers)
        assert response.status_code == 200, (path, response.text)
        body = response.json()
        found[path] = body["data"]
        found[f"{path} run"] = body["run"]
    posted = client.post(
        f"{API}/scoring/optimization-list",
        json={"campaign_id": campaign_id, "list_type": "blacklist", **params},
        headers=headers,
    )
    assert posted.status_code == 200, posted.text
    found["optimization-list"] = posted.json()["data"]
    for path in EXPORTS:
        url = f"{API}/reports/export/campaigns/{campaign_id}/{path}"
        response = client.get(url, params=params, headers=headers)
        assert response.status_code == 200, (path, response.text)
        found[path] = _undated(response.content)
    pdf = client.get(f"{API}/reports/campaigns/{campaign_id}/pdf", params=params, headers=headers)
    assert pdf.status_code == 200, pdf.text
    assert pdf.content.startswith(b"%PDF")
    return found


def _undated(body: bytes) -> bytes:
    """An export without the moment it was made (export_date, generated_at)."""
    text = body.decode("utf-8")
    lines = []
    for line in text.splitlines():
        if '"generated_at"' in line:
            continue
        lines.append(line.rsplit(",", 1)[0] if line.endswith("Z") else line)
    return "\n".join(lines).encode()


def test_two_weeks_are_two_runs_and_the_first_reads_as_before(
    client: TestClient, container: Container, auth: Auth
) -> None:
    alice = auth("runs-alice")
    campaign_id = create_campaign(client, alice)
    _score(client, container, alice, campaign_id, WEEK_1, "week-1.csv")
    first = _runs(client, campaign_id, alice)["data"]
    assert len(first) == 1
    run_1 = first[0]["id"]
    before = _reads(client, campaign_id, alice, None)
    assert _reads(client, campaign_id, alice, run_1) == before  # named: the same run

    _score(client, container, alice, campaign_id, WEEK_2, "week-2.csv")
    listed = _runs(client, campaign_id, alice)
    assert listed["total"] == 2
    newest, oldest = listed["data"]
    assert oldest["id"] == run_1
    run_2 = newest["id"]
    # each run as the engine scores its file, independently of the service
    setup = Setup.create(*TD_DISPLAY.values())
    for run, data, name in ((newest, WEEK_2, "week-2.csv"), (oldest, WEEK_1, "week-1.csv")):
        result = score(data, setup, filename=name)
        lists = build_lists(result.results, "domain", setup.min_impressions)
        assert run["status"] == "completed"
        assert run["file_name"] == name
        assert run["row_count"] == result.results.height
        assert run["campaign_level_score"] == result.campaign["campaign_level_score"]
        assert (run["whitelist_count"], run["blacklist_count"]) == (
            lists.whitelist.height,
            lists.blacklist.height,
        )
        assert run["error_message"] is None
        assert run["completed_at"] == run["finished_at"] >= run["started_at"]
    assert (newest["latest_results"], oldest["latest_results"]) == (True, False)
    assert newest["started_at"] > oldest["started_at"]

    # by default the latest run; the first is read by its id, every answer and export
    # as it was before the second run existed, marked stale (a later run exists)
    latest = _reads(client, campaign_id, alice, None)
    assert latest["summary run"]["run_id"] == run_2
    assert latest["summary"]["row_count"] == newest["row_count"]
    earlier = _reads(client, campaign_id, alice, run_1)
    for key, value in before.items():
        if key.endswith(" run"):
            assert earlier[key] == {**value, "stale": True}, key
        else:
            assert earlier[key] == value, key
    assert latest["results/csv"] != earlier["results/csv"]

    # paged, newest first
    page_1 = _runs(client, campaign_id, alice, per_page=1)
    page_2 = _runs(client, campaign_id, alice, per_page=1, page=2)
    assert [r["id"] for r in page_1["data"] + page_2["data"]] == [run_2, run_1]
    assert (page_1["has_next"], page_2["has_next"], page_2["has_prev"]) == (True, False, True)


def test_a_failed_or_cancelled_run_is_listed_and_never_hides_the_last_good_one(
    client: TestClient, container: Container, auth: Auth
) -> None:
    alice = auth("runs-failed")
    campaign_id = create_campaign(client, alice)
    _score(client, container, alice, campaign_id, WEEK_1, "week-1.csv")
    good = _runs(client, campaign_id, alice)["data"][0]["id"]
    _score(client, container, alice, campaign_id, negative_impressions(), "bad.csv")
    # a run held in progress, then cancelled by the user
    attach(container, campaign_id, WEEK_2, "week-2.csv")
    held = hold_jobs(container)
    start = {"campaign_id": campaign_id}
    assert client.post(f"{API}/scoring/start", json=start, headers=alice).status_code == 202
    processing = _runs(client, campaign_id, alice)["data"][0]
    assert (processing["status"], processing["finished_at"]) == ("processing", None)
    cancel = {"status": "failed", "error_message": "wrong week"}
    assert (
        client.put(f"{API}/campaigns/{campaign_id}/status", json=cancel, headers=alice).status_code
        == 200
    )
    # listed failed at once; its job, delivered after the cancel, does nothing but say why
    assert _runs(client, campaign_id, alice)["data"][0]["error_message"] == "wrong week"
    run_jobs(container)
    run_scoring_job(container, campaign_id=held[0]["campaign_id"], user_id=held[0]["user_id"])
    cancelled, failed, completed = _runs(client, campaign_id, alice)["data"]
    assert (cancelled["status"], cancelled["error_message"]) == ("failed", "wrong week")
    assert failed["status"] == "failed"
    assert failed["file_name"] == "bad.csv"
    assert "impressions" in failed["error_message"].lower()
    assert (completed["id"], completed["latest_results"]) == (good, True)
    results = client.get(f"{API}/scoring/summary/{campaign_id}", headers=alice).json()["run"]
    assert (results["run_id"], results["stale"], results["latest_status"]) == (
        good,
        True,
        "failed",
    )
    # a run without results, named: 409 naming its status
    for run in (cancelled, failed):
        response = client.get(
            f"{API}/scoring/results/{campaign_id}", params={"run_id": run["id"]}, headers=alice
        )
        assert response.status_code == 409, response.text
        assert "status: failed" in response.json()["message"]
    # scored again: the cancelled run stays failed, the new one completes
    container.jobs.register(SCORE_CAMPAIGN, partial(run_scoring_job, container))
    assert (
        client.put(
            f"{API}/campaigns/{campaign_id}/status", json={"status": "pending"}, headers=alice
        ).status_code
        == 200
    )
    assert client.post(f"{API}/scoring/start", json=start, headers=alice).status_code == 202
    run_jobs(container)
    statuses = [
        (r["status"], r["error_message"]) for r in _runs(client, campaign_id, alice)["data"]
    ]
    assert statuses[0] == ("completed", None)
    assert statuses[1] == ("failed", "wrong week")


def test_runs_of_another_user_or_another_campaign_are_not_found(
    client: TestClient, container: Container, auth: Auth
) -> None:
    alice, bob = auth("runs-owner"), auth("runs-other")
    first = create_campaign(client, alice)
    second = create_campaign(client, alice)
    _score(client, container, alice, first, WEEK_1, "a.csv")
    _score(client, container, alice, second, WEEK_2, "b.csv")
    run_of_first = _runs(client, first, alice)["data"][0]["id"]
    for campaign_id, headers, run_id in (
        (second, alice, run_of_first),  # alice's run, given to her other campaign
        (first, bob, run_of_first),  # alice's campaign and run, asked by bob
        (first, alice, str(uuid.uuid4())),  # no such run
    ):
        params = {"run_id": run_id}
        for path in SCORING_READS:
            url = f"{API}/scoring/{path}/{campaign_id}"
            response = client.get(url, params=params, headers=headers)
            assert response.status_code == 404, (path, response.text)
            assert response.json()["error"] == "not_found"
        for path in (*EXPORTS, "pdf"):
            url = (
                f"{API}/reports/campaigns/{campaign_id}/pdf"
                if path == "pdf"
                else f"{API}/reports/export/campaigns/{campaign_id}/{path}"
            )
            assert client.get(url, params=params, headers=headers).status_code == 404, path
        posted = client.post(
            f"{API}/scoring/optimization-list",
            json={"campaign_id": campaign_id, "list_type": "whitelist", **params},
            headers=headers,
        )
        assert posted.status_code == 404
        queued = client.post(
            f"{API}/reports/exports",
            json={"campaign_id": campaign_id, "format": "summary_csv", "options": params},
            headers=headers,
        )
        assert queued.status_code == 404, queued.text
    assert client.get(f"{API}/campaigns/{first}/runs", headers=bob).status_code == 404
    bad = client.get(f"{API}/scoring/results/{first}", params={"run_id": "x"}, headers=alice)
    assert bad.status_code == 422
    assert "run_id" in bad.json()["message"]


def test_a_background_export_of_a_named_run(
    client: TestClient, container: Container, auth: Auth
) -> None:
    alice = auth("runs-export")
    campaign_id = create_campaign(client, alice)
    _score(client, container, alice, campaign_id, WEEK_1, "week-1.csv")
    run_1 = _runs(client, campaign_id, alice)["data"][0]["id"]
    _score(client, container, alice, campaign_id, WEEK_2, "week-2.csv")
    direct = client.get(
        f"{API}/reports/export/campaigns/{campaign_id}/whitelist/txt",
        params={"run_id": run_1},
        headers=alice,
    )
    queued = client.post(
        f"{API}/reports/exports",
        json={"campaign_id": campaign_id, "format": "whitelist_txt", "options": {"run_id": run_1}},
        headers=alice,
    )
    assert queued.status_code == 202, queued.text
    assert queued.json()["data"]["options"] == {"run_id": run_1}
    run_jobs(container)
    export_id = queued.json()["data"]["id"]
    done = client.get(f"{API}/reports/exports/{export_id}/download", headers=alice)
    assert done.status_code == 200, done.text
    assert done.content == direct.content
    latest = client.get(
        f"{API}/reports/export/campaigns/{campaign_id}/whitelist/txt", headers=alice
    )
    assert latest.content != direct.content
    assert (
        json.loads(client.get(f"{API}/scoring/summary/{campaign_id}", headers=alice).content)[
            "run"
        ]["run_id"]
        != run_1
    )


@pytest.mark.parametrize("per_page", [0, 101])
def test_bad_paging_of_runs_is_422(client: TestClient, auth: Auth, per_page: int) -> None:
    alice = auth("runs-paging")
    campaign_id = create_campaign(client, alice)
    response = client.get(
        f"{API}/campaigns/{campaign_id}/runs", params={"per_page": per_page}, headers=alice
    )
    assert response.status_code == 422
    assert "per_page" in response.json()["message"]
    empty = _runs(client, campaign_id, alice)
    assert (empty["data"], empty["total"]) == ([], 0)
