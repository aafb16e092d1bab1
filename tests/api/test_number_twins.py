"""Exports in other number formats through the API (issue 16 §1), on SQLite and
PostgreSQL: the Trade Desk's International format and a German Excel re-save (CSV and
.xlsx), each scored by the job with the number format detected, store the same results,
lists and totals as their plainly spelled twin, and the stored report says how the
numbers were read."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from caliber.api.container import Container
from tests.api.conftest import run_jobs
from tests.api.test_scoring import all_results, attach, create_campaign
from tests.engine.number_exports import number_twins

Auth = Callable[[str], dict[str, str]]
API = "/api/v1"


def _scored(
    client: TestClient, container: Container, headers: dict[str, str], data: bytes, name: str
) -> dict[str, Any]:
    """Score ``data`` in a new campaign (number format detected); what the API answers."""
    campaign_id = create_campaign(client, headers)
    attach(container, campaign_id, data, name)
    started = client.post(
        f"{API}/scoring/start", json={"campaign_id": campaign_id}, headers=headers
    )
    assert started.status_code == 202, started.text
    run_jobs(container)
    rows = all_results(client, campaign_id, headers)
    answers: dict[str, Any] = {
        "results": [{k: v for k, v in r.items() if k not in ("id", "campaign_id")} for r in rows]
    }
    for list_type in ("whitelist", "blacklist"):
        body = client.get(f"{API}/scoring/{list_type}/{campaign_id}", headers=headers).json()
        answers[list_type] = {k: v for k, v in body["data"].items() if k != "campaign_id"}
    summary = client.get(f"{API}/scoring/summary/{campaign_id}", headers=headers).json()["data"]
    answers["report"] = summary.pop("processing_report")
    answers["summary"] = {
        k: v for k, v in summary.items() if k not in ("campaign_id", "data_quality_warnings")
    }
    return answers


@pytest.mark.parametrize("name", ["ttd_international.csv", "german_resave.csv"])
def test_other_number_formats_store_what_the_plain_twin_stores(
    client: TestClient, container: Container, auth: Auth, name: str
) -> None:
    alice = auth("alice")
    twins = number_twins(seed=31)
    plain = _scored(client, container, alice, twins["plain.csv"], "plain.csv")
    odd = _scored(client, container, alice, twins[name], name)
    for key in ("results", "whitelist", "blacklist", "summary"):
        assert odd[key] == plain[key], key
    assert (odd["report"]["number_format"]["used"], odd["report"]["number_format"]["decided"]) == (
        "comma",
        "detected",
    )
    assert plain["report"]["number_format"]["used"] == "point"
    assert not [w for w in odd["report"]["warnings"] if w["code"].startswith("number_format")]


def test_a_german_workbook_of_real_numbers_stores_what_the_plain_twin_stores(
    client: TestClient, container: Container, auth: Auth
) -> None:
    alice = auth("alice")
    twins = number_twins(seed=32)
    plain = _scored(client, container, alice, twins["plain.csv"], "plain.csv")
    book = _scored(client, container, alice, twins["german_resave.xlsx"], "bericht.xlsx")
    assert book["report"]["file_format"] == "xlsx"
    assert book["report"]["number_format"]["used"] == "point"  # Excel holds numbers
    for list_type in ("whitelist", "blacklist"):
        assert book[list_type]["domains"] == plain[list_type]["domains"]
        assert book[list_type]["total_impressions"] == plain[list_type]["total_impressions"]
    assert [r["domain"] for r in book["results"]] == [r["domain"] for r in plain["results"]]
    assert [r["score"] for r in book["results"]] == [r["score"] for r in plain["results"]]
    for got, want in zip(book["results"], plain["results"], strict=True):
        assert got["spend"] == pytest.approx(want["spend"], rel=1e-12)
        assert got["impressions"] == want["impressions"]
    for key in ("campaign_level_score", "total_impressions"):
        assert book["summary"][key] == plain["summary"][key], key
    assert book["summary"]["total_spend"] == pytest.approx(plain["summary"]["total_spend"])
