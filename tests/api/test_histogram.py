"""``GET /scoring/histogram/{campaign_id}`` (issue 20): the score distribution of a run's
every row, equal to the bins of all its result pages (not the first 1,000 rows), per run
(``run_id``), with the other scoring reads' 404, 409 and 422. SQLite and PostgreSQL."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from caliber.api.container import Container
from tests.api.conftest import run_jobs
from tests.api.test_scoring import API, all_results, attach, create_campaign, scored_campaign
from tests.engine.exports import make_export

Auth = Callable[[str], dict[str, str]]


def _bins(rows: list[dict[str, Any]]) -> list[tuple[int, dict[str, int]]]:
    """Bins of 10 points (the last closed at 100) from the rows the pages answer."""
    slots: list[Counter[str]] = [Counter() for _ in range(10)]
    for row in rows:
        slots[min(9, max(0, math.floor(row["score"] / 10)))][row["quality_status"]] += 1
    return [(sum(c.values()), {s: c[s] for s in ("good", "moderate", "poor")}) for c in slots]


def _answer(client: TestClient, campaign_id: str, headers: dict[str, str], **params: Any) -> Any:
    response = client.get(f"{API}/scoring/histogram/{campaign_id}", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response


def test_the_histogram_counts_every_row_of_the_run(
    client: TestClient, container: Container, auth: Auth
) -> None:
    alice = auth("histo-alice")
    data = make_export("trade_desk", "display", seed=5, names=1500, days=1).encode()
    campaign_id = scored_campaign(client, container, alice, data)
    rows = all_results(client, campaign_id, alice)
    assert len(rows) > 1000  # more than the web app's old first page of 1,000 rows
    response = _answer(client, campaign_id, alice)
    body = response.json()
    histogram = body["data"]
    run = client.get(f"{API}/campaigns/{campaign_id}/runs", headers=alice).json()["data"][0]
    assert histogram["run_id"] == body["run"]["run_id"] == run["id"]
    assert response.headers["X-Results-Stale"] == "false"
    assert histogram["row_count"] == len(rows)
    assert histogram["bin_width"] == 10
    assert [(b["low"], b["high"]) for b in histogram["bins"]] == [
        (10.0 * i, 10.0 * i + 10) for i in range(10)
    ]
    assert [(b["count"], b["statuses"]) for b in histogram["bins"]] == _bins(rows)
    # the first 1,000 rows by score would say otherwise: the low bins hold rows beyond them
    assert _bins(rows[:1000]) != _bins(rows)

    # a second run: the first stays readable by its run_id, its own histogram
    attach(container, campaign_id, make_export("trade_desk", "display", seed=6).encode())
    started = client.post(f"{API}/scoring/start", json={"campaign_id": campaign_id}, headers=alice)
    assert started.status_code == 202, started.text
    run_jobs(container)
    latest = _answer(client, campaign_id, alice).json()["data"]
    assert latest["run_id"] != run["id"]
    assert latest["row_count"] == len(all_results(client, campaign_id, alice))
    earlier = _answer(client, campaign_id, alice, run_id=run["id"])
    assert earlier.json()["data"] == histogram
    assert earlier.headers["X-Results-Stale"] == "true"


def test_the_histogram_refuses_as_the_other_reads(
    client: TestClient, container: Container, auth: Auth
) -> None:
    alice, bob = auth("histo-a"), auth("histo-b")
    scored = scored_campaign(
        client, container, alice, make_export("trade_desk", "display", seed=7).encode()
    )
    fresh = create_campaign(client, alice)
    never = client.get(f"{API}/scoring/histogram/{fresh}", headers=alice)
    assert never.status_code == 409, never.text
    assert "no scoring results yet" in never.json()["message"]
    run_of_alice = client.get(f"{API}/campaigns/{scored}/runs", headers=alice).json()["data"][0]
    for campaign, params in (
        (scored, {}),  # another user's campaign
        (fresh, {}),
        (scored, {"run_id": run_of_alice["id"]}),  # and another user's run
    ):
        hidden = client.get(f"{API}/scoring/histogram/{campaign}", params=params, headers=bob)
        assert hidden.status_code == 404, hidden.text
    run = client.get(f"{API}/campaigns/{scored}/runs", headers=alice).json()["data"][0]["id"]
    other = client.get(f"{API}/scoring/histogram/{fresh}", params={"run_id": run}, headers=alice)
    assert other.status_code == 404, other.text  # a run of another campaign
    bad = client.get(f"{API}/scoring/histogram/{scored}", params={"run_id": "x"}, headers=alice)
    assert bad.status_code == 422
    assert "run_id" in bad.text
