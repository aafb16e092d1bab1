"""Campaign and template routes, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from caliber.engine.config import Setup
from caliber.engine.errors import EngineError

Auth = Callable[[str], dict[str, str]]
API = "/api/v1/campaigns"
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


def test_list_pages_and_filters(client: TestClient, auth: Auth) -> None:
    alice = auth("alice")
    ids = [make_campaign(client, alice, name=f"c{i}")["id"] for i in range(5)]
    make_campaign(client, auth("bob"))
    set_status(client, alice, ids[0], "processing")

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


def test_status_machine(client: TestClient, auth: Auth) -> None:
    alice = auth("alice")
    allowed = {
        ("pending", "processing"),
        ("processing", "completed"),
        ("processing", "failed"),
        ("failed", "pending"),
    }
    paths = {  # how to reach each status from pending
        "pending": [],
        "processing": ["processing"],
        "completed": ["processing", "completed"],
        "failed": ["processing", "failed"],
    }
    for source, steps in paths.items():
        for target in paths:
            campaign_id = make_campaign(client, alice)["id"]
            for step in steps:
                assert set_status(client, alice, campaign_id, step).status_code == 200
            response = set_status(client, alice, campaign_id, target)
            expected = 200 if (source, target) in allowed else 409
            assert response.status_code == expected, (source, target, response.text)
            if expected == 409:
                assert response.json()["details"]["current"] == source


def test_status_changes_record_times_and_messages(client: TestClient, auth: Auth) -> None:
    alice = auth("alice")
    campaign_id = make_campaign(client, alice)["id"]
    started = set_status(client, alice, campaign_id, "processing").json()["data"]
    assert started["started_at"] is not None
    failed = set_status(client, alice, campaign_id, "failed", error_message="bad file").json()
    assert failed["data"]["error_message"] == "bad file"
    retried = set_status(client, alice, campaign_id, "pending").json()["data"]
    assert retried["error_message"] is None
    assert retried["started_at"] is None
    set_status(client, alice, campaign_id, "processing")
    done = set_status(client, alice, campaign_id, "completed").json()["data"]
    assert done["completed_at"] is not None
    assert done["progress_percentage"] == 100

    bad = set_status(client, alice, campaign_id, "archived")
    assert bad.status_code == 422
    extra = set_status(client, alice, campaign_id, "failed", progress_percentage=3)
    assert extra.status_code == 422


def test_progress_updates(client: TestClient, auth: Auth) -> None:
    alice = auth("alice")
    campaign_id = make_campaign(client, alice)["id"]
    url = f"{API}/{campaign_id}/progress"
    set_status(client, alice, campaign_id, "processing")
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

    set_status(client, alice, campaign_id, "completed")
    final = client.put(url, json={"processed_records": 1}, headers=alice)
    assert final.status_code == 409


def test_delete_rules(client: TestClient, auth: Auth) -> None:
    alice = auth("alice")
    statuses = {"pending": [], "failed": ["processing", "failed"]}
    for steps in statuses.values():
        campaign_id = make_campaign(client, alice)["id"]
        for step in steps:
            set_status(client, alice, campaign_id, step)
        assert client.delete(f"{API}/{campaign_id}", headers=alice).status_code == 200
        assert client.get(f"{API}/{campaign_id}", headers=alice).status_code == 404
    for steps in (["processing"], ["processing", "completed"]):
        campaign_id = make_campaign(client, alice)["id"]
        for step in steps:
            set_status(client, alice, campaign_id, step)
        response = client.delete(f"{API}/{campaign_id}", headers=alice)
        assert response.status_code == 409
        assert "cannot be deleted" in response.json()["message"]
    assert client.delete(f"{API}/not-a-uuid", headers=alice).status_code == 422
