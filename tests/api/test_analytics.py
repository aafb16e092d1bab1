"""Explanations, outliers and weights of a stored campaign through the API, and saving
suggested weights for the next run."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from caliber.api.container import Container
from tests.api.conftest import run_jobs
from tests.api.test_scoring import API, all_results, attach, create_campaign, scored_campaign
from tests.engine.exports import make_export

CSV = make_export("trade_desk", "display", seed=71, names=60).encode()
LATER = make_export("trade_desk", "display", seed=72, names=60).encode()


@pytest.fixture
def scored(
    score_as: Callable[[str, bytes], tuple[str, dict[str, str]]],
) -> tuple[str, dict[str, str]]:
    return score_as("analytics-alice", CSV)


def _get(client: TestClient, path: str, headers: dict[str, str], **params: Any) -> Any:
    response = client.get(f"{API}/scoring{path}", headers=headers, params=params)
    assert response.status_code == 200, (path, response.text)
    return response.json()["data"]


def _post(client: TestClient, path: str, headers: dict[str, str], **body: Any) -> Any:
    return client.post(f"{API}/scoring{path}", headers=headers, json=body)


def test_campaign_and_domain_explanations(
    client: TestClient, scored: tuple[str, dict[str, str]]
) -> None:
    campaign_id, alice = scored
    exact = _get(client, f"/explain/{campaign_id}", alice)
    assert exact["method"] == "exact"
    shares = [m["share"] for m in exact["importances"]]
    assert sum(shares) == pytest.approx(1.0)
    assert shares == sorted(shares, reverse=True)
    for method in ("correlation", "feature_importance", "shap"):
        assert _get(client, f"/explain/{campaign_id}", alice, method=method)["method"] == method

    rows = all_results(client, campaign_id, alice)
    worst = rows[-1]
    row = _get(client, f"/explain/{campaign_id}/domain", alice, name=worst["domain"].upper())
    assert row["name"] == worst["domain"]
    assert row["score"] == worst["score"]
    total = sum(a["attribution"] for a in row["attributions"])
    assert total == pytest.approx(row["score"] - row["campaign_average_score"], abs=0.01)
    assert row["drivers_down"]
    assert worst["domain"] in row["sentence"]
    shap_row = _get(
        client, f"/explain/{campaign_id}/domain", alice, name=worst["domain"], method="shap"
    )
    assert shap_row["method"] == "shap"


def test_outliers_suggested_weights_and_sensitivity(
    client: TestClient, scored: tuple[str, dict[str, str]]
) -> None:
    campaign_id, alice = scored
    report = _get(client, f"/outliers/{campaign_id}", alice, method="zscore")
    assert report["count"] == len(report["names"])
    chosen = _get(client, f"/outliers/{campaign_id}", alice, method="iqr", columns="ctr,cpm")
    assert chosen["columns"] == ["ctr", "cpm"]

    suggested = _post(
        client,
        "/weights/suggest",
        alice,
        campaign_id=campaign_id,
        method="correlation",
        target="conversions",
        optimize="genetic",
    )
    assert suggested.status_code == 200, suggested.text
    body = suggested.json()["data"]
    assert sum(body["suggested"]["weights"].values()) == pytest.approx(1.0)
    assert body["optimized"]["agreement"] >= body["optimized"]["baseline_agreement"]
    assert set(body["current"]) == set(body["suggested"]["weights"])

    view = _post(client, "/weights/sensitivity", alice, campaign_id=campaign_id, delta=0.1)
    assert view.status_code == 200, view.text
    metrics = view.json()["data"]["metrics"]
    assert {m["metric"] for m in metrics} == set(body["current"])
    rows = view.json()["data"]["rows"]
    assert all(0 <= m["labels_changed_up"] <= rows for m in metrics)


def test_saved_weights_are_used_by_the_next_run(
    client: TestClient, container: Container, scored: tuple[str, dict[str, str]]
) -> None:
    campaign_id, alice = scored
    suggested = _post(
        client, "/weights/suggest", alice, campaign_id=campaign_id, method="variance"
    ).json()["data"]["suggested"]["weights"]
    saved = client.put(
        f"{API}/campaigns/{campaign_id}/weights", json={"weights": suggested}, headers=alice
    )
    assert saved.status_code == 200, saved.text
    assert saved.json()["data"]["custom_weights"] == pytest.approx(suggested)
    started = client.post(f"{API}/scoring/start", json={"campaign_id": campaign_id}, headers=alice)
    assert started.status_code == 202
    assert started.json()["data"]["config_used"]["weights"] == pytest.approx(suggested)
    run_jobs(container)
    explained = _get(client, f"/explain/{campaign_id}", alice)
    assert {m["metric"]: m["weight"] for m in explained["importances"]} == pytest.approx(
        suggested, abs=1e-6
    )
    # back to the setup's defaults
    reset = client.put(
        f"{API}/campaigns/{campaign_id}/weights", json={"weights": None}, headers=alice
    )
    assert reset.json()["data"]["custom_weights"] is None
    bad = client.put(
        f"{API}/campaigns/{campaign_id}/weights", json={"weights": {"ctr": 1.0}}, headers=alice
    )
    assert bad.status_code == 422
    assert "ctr" in bad.json()["message"] or "weights" in bad.json()["message"]

    template = client.post(
        f"{API}/campaigns/templates",
        json={"name": "T", "platform": "trade_desk", "goal": "awareness", "channel": "display"},
        headers=alice,
    ).json()["data"]
    on_template = client.put(
        f"{API}/campaigns/templates/{template['id']}/weights",
        json={"weights": suggested},
        headers=alice,
    )
    assert on_template.status_code == 200, on_template.text
    assert on_template.json()["data"]["custom_weights"] == pytest.approx(suggested)


def test_comparing_two_scorings(
    client: TestClient, container: Container, scored: tuple[str, dict[str, str]]
) -> None:
    campaign_id, alice = scored
    later = scored_campaign(client, container, alice, LATER)
    compared = _get(client, "/compare", alice, before=campaign_id, after=later)
    summary_a = client.get(f"{API}/scoring/summary/{campaign_id}", headers=alice).json()["data"]
    summary_b = client.get(f"{API}/scoring/summary/{later}", headers=alice).json()["data"]
    assert compared["score_before"] == pytest.approx(summary_a["campaign_level_score"], abs=0.01)
    assert compared["score_after"] == pytest.approx(summary_b["campaign_level_score"], abs=0.01)
    assert compared["summary"]
    assert compared["before"] == campaign_id


def test_analytics_are_owner_checked_and_validated(
    client: TestClient,
    container: Container,
    scored: tuple[str, dict[str, str]],
    auth: Callable[[str], dict[str, str]],
) -> None:
    campaign_id, alice = scored
    bob = auth("analytics-bob")
    for path in (f"/explain/{campaign_id}", f"/outliers/{campaign_id}"):
        assert client.get(f"{API}/scoring{path}", headers=bob).status_code == 404
    assert (
        client.get(
            f"{API}/scoring/explain/{campaign_id}/domain", headers=bob, params={"name": "x.com"}
        ).status_code
        == 404
    )
    bob_campaign = scored_campaign(client, container, bob, CSV)
    assert (
        client.get(
            f"{API}/scoring/compare",
            headers=bob,
            params={"before": campaign_id, "after": bob_campaign},
        ).status_code
        == 404
    )
    suggest = _post(client, "/weights/suggest", bob, campaign_id=campaign_id, method="variance")
    assert suggest.status_code == 404
    assert _post(client, "/weights/sensitivity", bob, campaign_id=campaign_id).status_code == 404
    assert (
        client.put(
            f"{API}/campaigns/{campaign_id}/weights", json={"weights": None}, headers=bob
        ).status_code
        == 404
    )

    bad = [
        client.get(
            f"{API}/scoring/explain/{campaign_id}", headers=alice, params={"method": "magic"}
        ),
        client.get(
            f"{API}/scoring/outliers/{campaign_id}", headers=alice, params={"contamination": 0.9}
        ),
        client.get(
            f"{API}/scoring/outliers/{campaign_id}", headers=alice, params={"columns": "colour"}
        ),
        _post(client, "/weights/suggest", alice, campaign_id=campaign_id, target="colour"),
        _post(client, "/weights/suggest", alice, campaign_id=campaign_id, optimize="grid"),
        _post(client, "/weights/suggest", alice, campaign_id=campaign_id, method="telepathy"),
        client.get(
            f"{API}/scoring/explain/{campaign_id}/domain",
            headers=alice,
            params={"name": "nope.example"},
        ),
    ]
    for response in bad:
        assert response.status_code == 422, response.text
        assert response.json()["success"] is False
    pending = create_campaign(client, alice)
    assert client.get(f"{API}/scoring/explain/{pending}", headers=alice).status_code == 409


def test_too_few_rows_is_a_clear_422(
    client: TestClient, container: Container, auth: Callable[[str], dict[str, str]]
) -> None:
    alice = auth("analytics-tiny")
    tiny = make_export("trade_desk", "display", seed=3, names=6).encode()
    campaign_id = create_campaign(client, alice)
    attach(container, campaign_id, tiny)
    client.post(f"{API}/scoring/start", json={"campaign_id": campaign_id}, headers=alice)
    run_jobs(container)
    response = client.get(f"{API}/scoring/outliers/{campaign_id}", headers=alice)
    assert response.status_code == 422
    assert "at least 10" in response.json()["message"]


def test_each_analysis_is_computed_once_per_run_and_parameters(
    client: TestClient,
    container: Container,
    scored: tuple[str, dict[str, str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from caliber.engine.analytics import explain, outliers

    campaign_id, alice = scored
    calls: list[str] = []
    detect, explain_campaign = outliers.detect_outliers, explain.explain_campaign

    def counted_detect(*args: Any, **kwargs: Any) -> Any:
        calls.append("outliers")
        return detect(*args, **kwargs)

    def counted_explain(*args: Any, **kwargs: Any) -> Any:
        calls.append("explain")
        return explain_campaign(*args, **kwargs)

    monkeypatch.setattr(outliers, "detect_outliers", counted_detect)
    monkeypatch.setattr(explain, "explain_campaign", counted_explain)
    first = _get(client, f"/outliers/{campaign_id}", alice, method="zscore")
    assert _get(client, f"/outliers/{campaign_id}", alice, method="zscore") == first
    assert calls == ["outliers"]  # the second answer came from the run's cache
    _get(client, f"/outliers/{campaign_id}", alice, method="iqr")
    _get(client, f"/outliers/{campaign_id}", alice, method="zscore", contamination=0.1)
    assert calls == ["outliers"] * 3  # other parameters: computed
    shap = _get(client, f"/explain/{campaign_id}", alice, method="correlation")
    assert _get(client, f"/explain/{campaign_id}", alice, method="correlation") == shap
    assert calls.count("explain") == 1

    # a new run is never answered from the last one's cache
    attach(container, campaign_id, LATER)
    client.post(f"{API}/scoring/start", json={"campaign_id": campaign_id}, headers=alice)
    run_jobs(container)
    again = _get(client, f"/outliers/{campaign_id}", alice, method="zscore")
    assert calls.count("outliers") == 4
    assert again != first
