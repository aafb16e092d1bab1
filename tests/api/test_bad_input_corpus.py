"""The hostile-upload corpus (tests/api/hostile_files.py) against the running app: every
file gets a clear answer (4xx naming the problem, or a failed run saying why), valid
oddities score, the server stays healthy, and nothing stored before is touched."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from caliber.api.container import Container
from tests.api.conftest import run_jobs
from tests.api.hostile_files import Hostile, corpus
from tests.api.test_scoring import API, create_campaign, scored_campaign
from tests.engine.exports import make_export

CASES = corpus()


def test_the_corpus_is_large_and_varied() -> None:
    assert len(CASES) >= 25
    assert {c.outcome for c in CASES} == {"upload", "start", "job", "scored"}


def _state(client: TestClient, campaign_id: str, headers: dict[str, str]) -> list[Any]:
    return [
        client.get(f"{API}/scoring/summary/{campaign_id}", headers=headers).json(),
        client.get(f"{API}/scoring/results/{campaign_id}?per_page=100", headers=headers).json(),
        client.get(f"{API}/campaigns/{campaign_id}", headers=headers).json()["data"][
            "file_upload_id"
        ],
    ]


def _message(response: Any) -> str:
    body = response.json()
    assert body["success"] is False
    message: str = body["message"]
    return message.lower()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_each_hostile_upload_gets_a_clear_answer(
    client: TestClient,
    container: Container,
    auth: Callable[[str], dict[str, str]],
    case: Hostile,
) -> None:
    alice = auth("corpus-alice")
    kept = scored_campaign(
        client, container, alice, make_export("trade_desk", "display", seed=2).encode()
    )
    before = _state(client, kept, alice)
    files_before = client.get(f"{API}/reports/files", headers=alice).json()["total"]

    campaign_id = create_campaign(client, alice)
    uploaded = client.post(
        f"{API}/campaigns/{campaign_id}/upload",
        files={"file": (case.filename, case.data, "text/csv")},
        headers=alice,
    )
    if case.outcome == "upload":
        assert uploaded.status_code == case.status, uploaded.text
        assert case.words in _message(uploaded)
        assert client.get(f"{API}/reports/files", headers=alice).json()["total"] == files_before
    else:
        assert uploaded.status_code == 201, uploaded.text
        stored = uploaded.json()["data"]
        assert "/" not in stored["original_filename"]
        assert len(stored["original_filename"]) <= 255
        started = client.post(
            f"{API}/scoring/start", json={"campaign_id": campaign_id}, headers=alice
        )
        if case.outcome == "start":
            assert started.status_code == 422, started.text
            assert case.words in _message(started)
            progress = client.get(f"{API}/scoring/progress/{campaign_id}", headers=alice).json()
            assert progress["data"]["status"] == "pending"
        else:
            assert started.status_code == 202, started.text
            run_jobs(container)
            progress = client.get(f"{API}/scoring/progress/{campaign_id}", headers=alice).json()
            if case.outcome == "job":
                assert progress["data"]["status"] == "failed"
                assert case.words in progress["data"]["error_message"].lower()
            else:
                assert progress["data"]["status"] == "completed", progress
                summary = client.get(f"{API}/scoring/summary/{campaign_id}", headers=alice)
                assert summary.json()["data"]["row_count"] > 0

    assert client.get("/health").status_code == 200
    assert client.get("/ready").status_code == 200
    assert _state(client, kept, alice) == before
