"""The sensitivity route's preview of other weights (issue 20: the weights editor shows
it before saving) against the run that saving them and scoring again makes."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from caliber.api.container import Container
from caliber.engine.config import Setup
from tests.api.conftest import run_jobs
from tests.api.test_scoring import API, all_results
from tests.engine.exports import make_export

CSV = make_export("trade_desk", "display", seed=81, names=80).encode()


def test_the_preview_is_the_next_runs_scoring(
    client: TestClient,
    container: Container,
    score_as: Callable[[str, bytes], tuple[str, dict[str, str]]],
) -> None:
    campaign_id, alice = score_as("preview-alice", CSV)
    before = {r["domain"]: r for r in all_results(client, campaign_id, alice)}
    first = client.post(
        f"{API}/scoring/weights/sensitivity", json={"campaign_id": campaign_id}, headers=alice
    ).json()["data"]
    defaults = Setup.create("trade_desk", "awareness", "display").resolve().weights
    assert first["defaults"] == pytest.approx(defaults)
    assert first["preview"]["status_changes"]["count"] == 0  # the weights it was scored with

    metrics = list(first["weights"])
    weights = {m: (0.85 if m == metrics[0] else 0.15 / (len(metrics) - 1)) for m in metrics}
    answer = client.post(
        f"{API}/scoring/weights/sensitivity",
        json={"campaign_id": campaign_id, "weights": weights},
        headers=alice,
    )
    assert answer.status_code == 200, answer.text
    preview = answer.json()["data"]["preview"]

    saved = client.put(
        f"{API}/campaigns/{campaign_id}/weights", json={"weights": weights}, headers=alice
    )
    assert saved.status_code == 200, saved.text
    started = client.post(f"{API}/scoring/start", json={"campaign_id": campaign_id}, headers=alice)
    assert started.status_code == 202, started.text
    run_jobs(container)
    summary = client.get(f"{API}/scoring/summary/{campaign_id}", headers=alice).json()["data"]
    after = {r["domain"]: r for r in all_results(client, campaign_id, alice)}

    assert preview["campaign_score"]["after"] == summary["campaign_level_score"]
    moved = {d for d in before if before[d]["quality_status"] != after[d]["quality_status"]}
    assert preview["status_changes"]["count"] == len(moved) > 0
    for item in preview["status_changes"]["items"]:
        assert item["domain"] in moved
        assert item["score_after"] == after[item["domain"]]["score"]
        assert item["status_after"] == after[item["domain"]]["quality_status"]


def test_preview_weights_are_checked(
    client: TestClient, score_as: Callable[[str, bytes], tuple[str, dict[str, str]]]
) -> None:
    campaign_id, alice = score_as("preview-bob", CSV)
    answer = client.post(
        f"{API}/scoring/weights/sensitivity",
        json={"campaign_id": campaign_id, "weights": {"ctr": 1.0}},
        headers=alice,
    )
    assert answer.status_code == 422
    assert "weights" in answer.json()["message"]
