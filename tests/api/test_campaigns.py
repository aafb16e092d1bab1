"""Campaign and template routes, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from caliber.api.container import Container
from caliber.engine.config import Setup
from caliber.engine.errors import EngineError
from caliber.scoring.jobs import run_scoring_job
from tests.api.conftest import run_jobs
from tests.api.test_scoring import attach, hold_jobs
from tests.engine.exports import make_export

Auth = Callable[[str], dict[str, str]]
API = "/api/v1/campaigns"
EXPORT = make_export("trade_desk", "display", seed=7).encode()
TD_DISPLAY = {"platform": "trade_desk", "goal": "awareness", "channel": "display"}
TD_WEIGHTS = {
    "cpm": 0.2,
    "ias_display_fully_in_view_1s_rate": 0.2,
    "ctr": 0.2,
    "ad_load_xl_rate": 0.2,
    "ad_refresh_below_15s_rate": 0.2,
}


def engine_message(**setup: Any) -> str:
    weights = setup.pop("custom_weights", None)
    with pytest.raises(EngineError) as caught:
        Setup.create(**setup, weights=weights)
    return caught.value.message


def make_template(client: TestClient, headers: dict[str, str], **fields: Any) -> dict[str, Any]:
    body = {"name": "TD display", **TD_DISPLAY, **fields}
    response = client.post(f"{API}/templates", json=body, headers=headers)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def make_campaign(client: TestClient, headers: dict[str, str], **fields: Any) -> dict[str, Any]:
    body = {"name": "Spring", **({} if "template_id" in fields else TD_DISPLAY), **fields}
    response = client.post(API, json=body, headers=headers)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def set_status(
    client: TestClient, headers: dict[str, str], campaign_id: str, status: str, **extra: Any
) -> Any:
    return client.put(
        f"{API}/{campaign_id}/status", json={"status": status, **extra}, headers=headers
    )


def campaigns_in(
    client: TestClient, container: Container, headers: dict[str, str], wanted: list[str]
) -> list[str]:
    """New campaigns in each ``wanted`` status, reached as the system reaches them:
    completed by a scoring run, processing by a start whose job is held (so the
    container's scoring job stays held afterwards), failed by cancelling a run."""
    ids = {index: make_campaign(client, headers)["id"] for index in range(len(wanted))}
    order = sorted(range(len(wanted)), key=lambda i: wanted[i] != "completed")  # jobs first
    for index in order:
        status, campaign_id = wanted[index], ids[index]
        if status == "pending":
            continue
        if status != "completed":
            hold_jobs(container)
        attach(container, campaign_id, EXPORT)
        started = client.post(
            "/api/v1/scoring/start", json={"campaign_id": campaign_id}, headers=headers
        )
        assert started.status_code == 202, started.text
        run_jobs(container)
        if status == "failed":
            assert set_status(client, headers, campaign_id, "failed").status_code == 200
        got = client.get(f"{API}/{campaign_id}", headers=headers).json()["data"]["status"]
        assert got == status
    return [ids[index] for index in range(len(wanted))]


# --- templates ------------------------------------------------------------------------


def test_template_lifecycle(client: TestClient, auth: Auth) -> None:
    alice = auth("alice")
    first = make_template(client, alice, platform=" Trade_Desk ", custom_weights=TD_WEIGHTS)
    assert first["platform"] == "trade_desk"  # as the engine reads it
    assert first["analysis_level"] == "domain"
    assert first["custom_weights"] == TD_WEIGHTS
    assert first["min_impressions"] == 250
    second = make_template(client, alice, name="CTV", channel="ctv", ctr_sensitivity=True)
    assert second["analysis_level"] == "supply_vendor"

    listed = client.get(f"{API}/templates", headers=alice).json()["data"]
    assert [t["id"] for t in listed] == [second["id"], first["id"]]
    got = client.get(f"{API}/templates/{first['id']}", headers=alice).json()["data"]
    assert got == first

    deleted = client.delete(f"{API}/templates/{first['id']}", headers=alice)
    assert deleted.status_code == 200
    assert client.get(f"{API}/templates/{first['id']}", headers=alice).status_code == 404


def test_answers_carry_the_setups_default_weights(client: TestClient, auth: Auth) -> None:
    """What a weights editor starts from and resets to: scoring.md §1's table, whatever
    custom weights are saved (a template holds no data to learn them from)."""
    alice = auth("alice-defaults")
    template = make_template(client, alice, custom_weights=TD_WEIGHTS)
    awareness = {  # scoring.md: trade_desk / awareness / display, ctr_sensitivity=false
        "cpm": 0.15,
        "ias_display_fully_in_view_1s_rate": 0.25,
        "ctr": 0.20,
        "ad_load_xl_rate": 0.20,
        "ad_refresh_below_15s_rate": 0.20,
    }
    assert template["default_weights"] == awareness
    assert list(template["default_weights"]) == list(awareness)  # the setup's order
    ctv = make_campaign(client, alice, name="CTV", channel="ctv")
    assert ctv["default_weights"] == {"tv_quality_index_rate": 0.7, "unique_id_ratio": 0.3}
    got = client.get(f"{API}/templates/{template['id']}", headers=alice).json()["data"]
    assert got["default_weights"] == awareness


def test_templates_are_private(client: TestClient, auth: Auth) -> None:
    template = make_template(client, auth("alice"))
    bob = auth("bob")
    assert client.get(f"{API}/templates", headers=bob).json()["data"] == []
    for method in ("get", "delete"):
        response = client.request(method, f"{API}/templates/{template['id']}", headers=bob)
        assert response.status_code == 404
        assert response.json()["error"] == "not_found"
    # nor can bob build on alice's template
    body = {"name": "x", "template_id": template["id"]}
    assert client.post(API, json=body, headers=bob).status_code == 404


@pytest.mark.parametrize(
    "fields",
    [
        {"platform": "pulsepoint", "channel": "ctv"},
        {"platform": "tiktok"},
        {"goal": "reach"},
        {"custom_weights": {"ctr": 1.0}},
        {"custom_weights": {**TD_WEIGHTS, "cpm": 0.5}},
        {"min_impressions": -1.0},
    ],
)
def test_a_setup_the_engine_refuses_is_422_with_its_message(
    client: TestClient, auth: Auth, fields: dict[str, Any]
) -> None:
    alice = auth("alice")
    expected = engine_message(**{**TD_DISPLAY, **fields})
    for url in (f"{API}/templates", API):
        response = client.post(url, json={"name": "x", **TD_DISPLAY, **fields}, headers=alice)
        assert response.status_code == 422, url
        assert response.json()["message"] == expected


@pytest.mark.parametrize(
    "body",
    [
        {"name": "x", **TD_DISPLAY, "id": "3f1c8f0e-0000-4000-8000-000000000000"},
        {"name": "x", **TD_DISPLAY, "owner_id": "3f1c8f0e-0000-4000-8000-000000000000"},
        {"name": "x", **TD_DISPLAY, "status": "completed"},
        {"name": "", **TD_DISPLAY},
        {**TD_DISPLAY},
        {"name": "x", **TD_DISPLAY, "custom_weights": {**TD_WEIGHTS, "ctr": True}},
        {"name": "x", **TD_DISPLAY, "custom_weights": {**TD_WEIGHTS, "ctr": "0.2"}},
        {"name": "x", **TD_DISPLAY, "ctr_sensitivity": "maybe"},
    ],
)
def test_bad_bodies_are_422(client: TestClient, auth: Auth, body: dict[str, Any]) -> None:
    alice = auth("alice")
    for url in (f"{API}/templates", API):
        response = client.post(url, json=body, headers=alice)
        assert response.status_code == 422, (url, response.text)
        assert response.json()["error"] == "validation_error"


def test_a_template_in_use_cannot_be_deleted(client: TestClient, auth: Auth) -> None:
    alice = auth("alice")
    template = make_template(client, alice)
    campaign = make_campaign(client, alice, template_id=template["id"])
    response = client.delete(f"{API}/templates/{template['id']}", headers=alice)
    assert response.status_code == 409
    assert "used by a campaign" in response.json()["message"]
    assert client.delete(f"{API}/{campaign['id']}", headers=alice).status_code == 200
    assert client.delete(f"{API}/templates/{template['id']}", headers=alice).status_code == 200


# --- campaigns ------------------------------------------------------------------------


def test_a_campaign_copies_its_templates_setup(client: TestClient, auth: Auth) -> None:
    alice = auth("alice")
    template = make_template(
        client, alice, ctr_sensitivity=True, min_impressions=1000, custom_weights=TD_WEIGHTS
    )
    campaign = make_campaign(client, alice, template_id=template["id"])
    for field in ("platform", "goal", "channel", "ctr_sensitivity", "min_impressions"):
        assert campaign[field] == template[field], field
    assert campaign["custom_weights"] == TD_WEIGHTS
    assert campaign["template_id"] == template["id"]
    assert campaign["status"] == "pending"
    assert campaign["progress_percentage"] == 0
    assert campaign["file_upload_id"] is None
    assert campaign["analysis_level"] == "domain"

    # fields sent with the template override it; a null custom_weights means the defaults
    custom = make_campaign(
        client, alice, template_id=template["id"], min_impressions=10, custom_weights=None
    )
    assert custom["min_impressions"] == 10
    assert custom["custom_weights"] is None
    assert custom["ctr_sensitivity"] is True
    # an override is validated with the rest: these weights do not fit a CTV setup
    body = {"name": "x", "template_id": template["id"], "channel": "ctv"}
    response = client.post(API, json=body, headers=alice)
    assert response.status_code == 422
    assert "custom weights" in response.json()["message"]


def test_without_a_template_the_setup_is_required(client: TestClient, auth: Auth) -> None:
    alice = auth("alice")
    response = client.post(API, json={"name": "x", "platform": "trade_desk"}, headers=alice)
    assert response.status_code == 422
    assert "missing: goal, channel" in response.json()["message"]
    campaign = make_campaign(client, alice, **TD_DISPLAY)
    assert campaign["ctr_sensitivity"] is False
    assert campaign["min_impressions"] == 250
    assert campaign["owner_id"]
    got = client.get(f"{API}/{campaign['id']}", headers=alice).json()["data"]
    assert got == campaign


def test_list_pages_and_filters(client: TestClient, container: Container, auth: Auth) -> None:
    alice = auth("alice")
    ids = campaigns_in(client, container, alice, ["processing", *["pending"] * 4])
    make_campaign(client, auth("bob"))

    body = client.get(API, params={"limit": 2}, headers=alice).json()
    assert [c["id"] for c in body["data"]] == ids[::-1][:2]  # newest first
    assert (body["total"], body["page"], body["per_page"]) == (5, 1, 2)
    assert body["has_next"] is True
    assert body["has_prev"] is False
    tail = client.get(API, params={"skip": 3, "limit": 2}, headers=alice).json()
    assert [c["id"] for c in tail["data"]] == ids[::-1][3:]
    assert tail["has_next"] is False
    assert tail["has_prev"] is True

    processing = client.get(API, params={"status": "processing"}, headers=alice).json()
    assert [c["id"] for c in processing["data"]] == [ids[0]]
    assert processing["total"] == 1

    for params in ({"limit": 101}, {"limit": 0}, {"skip": -1}, {"status": "done"}):
        response = client.get(API, params=params, headers=alice)
        assert response.status_code == 422, params
        assert next(iter(params)) in response.json()["message"]


def test_campaigns_are_private(client: TestClient, auth: Auth) -> None:
    campaign = make_campaign(client, auth("alice"))
    bob = auth("bob")
    url = f"{API}/{campaign['id']}"
    assert client.get(url, headers=bob).status_code == 404
    assert client.delete(url, headers=bob).status_code == 404
    assert set_status(client, bob, campaign["id"], "processing").status_code == 404
    progress = {"processed_records": 1}
    assert client.put(f"{url}/progress", json=progress, headers=bob).status_code == 404
    assert client.get(API, headers=bob).json()["total"] == 0
    assert client.get(url).status_code == 401


CLIENT_MOVES = {("processing", "failed"), ("failed", "pending")}
STATUSES = ["pending", "processing", "completed", "failed"]


def test_a_client_may_only_cancel_or_reset(
    client: TestClient, container: Container, auth: Auth
) -> None:
    """Cancelling a run and resetting a failed campaign are the client's; starting,
    completing and failing a run are the system's: refused with a 422 naming what is
    allowed from the campaign's status, which stays as it was."""
    alice = auth("alice")
    pairs = [(source, target) for source in STATUSES for target in STATUSES]
    ids = campaigns_in(client, container, alice, [source for source, _ in pairs])
    for (source, target), campaign_id in zip(pairs, ids, strict=True):
        response = set_status(client, alice, campaign_id, target)
        if (source, target) in CLIENT_MOVES:
            assert response.status_code == 200, (source, target, response.text)
            assert response.json()["data"]["status"] == target
            continue
        assert response.status_code == 422, (source, target, response.text)
        body = response.json()
        allowed = sorted(t for s, t in CLIENT_MOVES if s == source)
        assert body["details"]["current"] == source
        assert body["details"]["allowed"] == allowed
        named = ", ".join(f"'{t}'" for t in allowed) or "none"
        assert body["message"].endswith(f"allowed from '{source}': {named}"), body
        assert "a client may only cancel a run in progress" in body["message"]
        got = client.get(f"{API}/{campaign_id}", headers=alice).json()["data"]["status"]
        assert got == source


def test_a_client_cannot_complete_a_running_campaign(
    client: TestClient, container: Container, auth: Auth
) -> None:
    """Marking a processing campaign completed used to discard the running job's result
    and leave a "completed" campaign without results (409 everywhere, undeletable)."""
    alice = auth("alice")
    campaign_id = make_campaign(client, alice)["id"]
    attach(container, campaign_id, EXPORT)
    held = hold_jobs(container)
    client.post("/api/v1/scoring/start", json={"campaign_id": campaign_id}, headers=alice)
    run_jobs(container)
    refused = set_status(client, alice, campaign_id, "completed")
    assert refused.status_code == 422
    assert refused.json()["message"].endswith("allowed from 'processing': 'failed'")
    # the run itself completes it, with its results
    run_scoring_job(container, campaign_id=held[0]["campaign_id"], user_id=held[0]["user_id"])
    results = client.get(f"/api/v1/scoring/results/{campaign_id}", headers=alice)
    assert results.status_code == 200
    assert results.json()["total"] > 0
    assert client.get(f"{API}/{campaign_id}", headers=alice).json()["data"]["status"] == (
        "completed"
    )


def test_status_changes_record_times_and_messages(
    client: TestClient, container: Container, auth: Auth
) -> None:
    alice = auth("alice")
    [campaign_id, other] = campaigns_in(client, container, alice, ["processing", "processing"])
    started = client.get(f"{API}/{campaign_id}", headers=alice).json()["data"]
    assert started["started_at"] is not None
    failed = set_status(client, alice, campaign_id, "failed", error_message="bad file").json()
    assert failed["data"]["error_message"] == "bad file"
    assert failed["data"]["current_step"] == "failed"
    cancelled = set_status(client, alice, other, "failed").json()["data"]
    assert cancelled["error_message"] == "cancelled by the user"
    retried = set_status(client, alice, campaign_id, "pending").json()["data"]
    assert retried["error_message"] is None
    assert retried["started_at"] is None
    assert retried["progress_percentage"] == 0

    bad = set_status(client, alice, campaign_id, "archived")
    assert bad.status_code == 422
    extra = set_status(client, alice, campaign_id, "failed", progress_percentage=3)
    assert extra.status_code == 422


def test_progress_updates(client: TestClient, container: Container, auth: Auth) -> None:
    alice = auth("alice")
    [campaign_id] = campaigns_in(client, container, alice, ["processing"])
    url = f"{API}/{campaign_id}/progress"
    body = {"processed_records": 250, "total_records": 1000, "current_step": "scoring"}
    data = client.put(url, json=body, headers=alice).json()["data"]
    assert (data["processed_records"], data["total_records"]) == (250, 1000)
    assert data["progress_percentage"] == 25
    assert data["current_step"] == "scoring"
    later = client.put(url, json={"processed_records": 500}, headers=alice).json()["data"]
    assert (later["processed_records"], later["total_records"]) == (500, 1000)
    assert later["progress_percentage"] == 50

    too_many = client.put(url, json={"processed_records": 1001}, headers=alice)
    assert too_many.status_code == 422
    assert "processed_records" in too_many.json()["message"]
    for bad in (
        {"processed_records": -1},
        {"processed_records": 5, "total_records": 4},
        {"processed_records": 1, "progress_percentage": 101},
        {"processed_records": 1, "status": "completed"},
        {},
    ):
        assert client.put(url, json=bad, headers=alice).status_code == 422, bad

    set_status(client, alice, campaign_id, "failed")
    final = client.put(url, json={"processed_records": 1}, headers=alice)
    assert final.status_code == 409


def test_delete_rules(client: TestClient, container: Container, auth: Auth) -> None:
    alice = auth("alice")
    ids = campaigns_in(client, container, alice, STATUSES)
    for status, campaign_id in zip(STATUSES, ids, strict=True):
        response = client.delete(f"{API}/{campaign_id}", headers=alice)
        if status in ("pending", "failed"):
            assert response.status_code == 200, status
            assert client.get(f"{API}/{campaign_id}", headers=alice).status_code == 404
        else:
            assert response.status_code == 409, status
            assert "cannot be deleted" in response.json()["message"]
    assert client.delete(f"{API}/not-a-uuid", headers=alice).status_code == 422
