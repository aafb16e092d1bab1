"""Dashboard statistics: computed from the user's campaigns, cached until they change."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from caliber.api.container import Container
from caliber.campaigns.statistics import update_statistics
from tests.api.test_scoring import API, create_campaign, scored_campaign
from tests.engine.exports import make_export

CSV = make_export("trade_desk", "display", seed=41).encode()


def _stats(client: TestClient, headers: dict[str, str]) -> dict[str, object]:
    response = client.get(f"{API}/campaigns/statistics", headers=headers)
    assert response.status_code == 200, response.text
    data: dict[str, object] = response.json()["data"]
    return data


def test_statistics_follow_the_users_campaigns(
    client: TestClient, container: Container, auth: Callable[[str], dict[str, str]]
) -> None:
    alice, bob = auth("stats-alice"), auth("stats-bob")
    empty = _stats(client, alice)
    assert empty["campaigns"] == {
        "total": 0,
        "pending": 0,
        "processing": 0,
        "completed": 0,
        "failed": 0,
    }
    assert empty["average_campaign_score"] is None

    campaign_id = scored_campaign(client, container, alice, CSV)
    summary = client.get(f"{API}/scoring/summary/{campaign_id}", headers=alice).json()["data"]
    stats = _stats(client, alice)
    assert stats["campaigns"]["total"] == stats["campaigns"]["completed"] == 1  # type: ignore[index]
    assert stats["average_campaign_score"] == summary["campaign_level_score"]
    assert stats["rows_scored"] == summary["row_count"]
    assert stats["impressions_scored"] == summary["total_impressions"]
    assert stats["quality_mix"] == summary["status_counts"]
    assert stats["recent"][0]["id"] == campaign_id  # type: ignore[index]

    # unchanged campaigns: the cached figures; a new campaign: fresh ones
    assert _stats(client, alice)["computed_at"] == stats["computed_at"]
    create_campaign(client, alice)
    fresh = _stats(client, alice)
    assert fresh["campaigns"]["total"] == 2  # type: ignore[index]
    assert fresh["campaigns"]["pending"] == 1  # type: ignore[index]

    # another user's figures hold none of it
    assert _stats(client, bob)["campaigns"]["total"] == 0  # type: ignore[index]


def test_the_statistics_job_refreshes_one_organization_or_all(
    client: TestClient, container: Container, auth: Callable[[str], dict[str, str]]
) -> None:
    alice = auth("stats-job")
    campaign = create_campaign(client, alice)
    organization = client.get(f"{API}/campaigns/{campaign}", headers=alice).json()["data"][
        "organization_id"
    ]
    assert update_statistics(container.sessions, organization) == 1
    assert update_statistics(container.sessions) == 1
    assert update_statistics(container.sessions, "00000000-0000-0000-0000-000000000000") == 0
    assert _stats(client, alice)["campaigns"]["total"] == 1  # type: ignore[index]
