"""Notifications: a finished scoring run leaves one message for its owner."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable

from fastapi.testclient import TestClient

from caliber.api.container import Container
from caliber.notifications.jobs import send_completion_notification
from tests.api.conftest import run_jobs
from tests.api.test_scoring import API, attach, create_campaign, scored_campaign
from tests.engine.exports import make_export

CSV = make_export("trade_desk", "display", seed=31).encode()


def negative_impressions() -> bytes:
    """A file with every column a setup needs, that the engine still refuses (no row has
    positive impressions): it passes the start check and fails in the job."""
    rows = list(csv.reader(io.StringIO(make_export("trade_desk", "display", seed=1))))
    column = rows[0].index("Impressions")
    for row in rows[1:]:
        if len(row) > column:
            row[column] = "-5"
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue().encode()


def _user_id(client: TestClient, headers: dict[str, str]) -> str:
    user_id: str = client.get(f"{API}/auth/profile", headers=headers).json()["data"]["id"]
    return user_id


def test_a_completed_run_notifies_its_owner_once(
    client: TestClient, container: Container, auth: Callable[[str], dict[str, str]]
) -> None:
    alice, bob = auth("note-alice"), auth("note-bob")
    campaign_id = scored_campaign(client, container, alice, CSV)
    body = client.get(f"{API}/notifications", headers=alice).json()
    assert body["total"] == 1
    note = body["data"][0]
    summary = client.get(f"{API}/scoring/summary/{campaign_id}", headers=alice).json()["data"]
    assert note["campaign_id"] == campaign_id
    assert note["title"].endswith("scoring finished")
    assert f"{summary['lists']['whitelist_count']} on the whitelist" in note["message"]
    assert note["read_at"] is None
    # a repeated task (re-delivery) sends nothing more
    again = send_completion_notification(
        container, campaign_id=campaign_id, user_id=_user_id(client, alice)
    )
    assert again is False
    assert client.get(f"{API}/notifications", headers=alice).json()["total"] == 1
    # other users see none of it and cannot mark it
    assert client.get(f"{API}/notifications", headers=bob).json()["total"] == 0
    assert client.post(f"{API}/notifications/{note['id']}/read", headers=bob).status_code == 404
    read = client.post(f"{API}/notifications/{note['id']}/read", headers=alice)
    assert read.status_code == 200
    assert read.json()["data"]["read_at"] is not None
    unread = client.get(f"{API}/notifications", params={"unread": True}, headers=alice).json()
    assert unread["total"] == 0


def test_a_failed_run_notifies_with_its_error(
    client: TestClient, container: Container, auth: Callable[[str], dict[str, str]]
) -> None:
    alice = auth("note-fail")
    campaign_id = create_campaign(client, alice)
    attach(container, campaign_id, negative_impressions())
    started = client.post(f"{API}/scoring/start", json={"campaign_id": campaign_id}, headers=alice)
    assert started.status_code == 202
    run_jobs(container)
    note = client.get(f"{API}/notifications", headers=alice).json()["data"][0]
    assert note["title"].endswith("scoring failed")
    assert "no positive value" in note["message"]


def test_nothing_is_sent_for_a_run_in_progress_or_another_user(
    client: TestClient, container: Container, auth: Callable[[str], dict[str, str]]
) -> None:
    alice, bob = auth("note-wait"), auth("note-other")
    campaign_id = create_campaign(client, alice)
    alice_id, bob_id = _user_id(client, alice), _user_id(client, bob)
    assert not send_completion_notification(container, campaign_id=campaign_id, user_id=alice_id)
    assert not send_completion_notification(container, campaign_id=campaign_id, user_id=bob_id)
    assert client.get(f"{API}/notifications", headers=alice).json()["total"] == 0
