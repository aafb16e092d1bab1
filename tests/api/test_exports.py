"""Exports of a scored campaign: every download of the original, the DSP lists, the PDF,
background exports, and what another user (or an unfinished campaign) gets."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, update
from sqlalchemy.exc import OperationalError

from caliber.api.container import Container
from caliber.db.base import utcnow
from caliber.db.models import Campaign, Export
from caliber.db.session import session_scope
from caliber.engine.config import Setup
from caliber.engine.pipeline import score
from caliber.jobs.names import GENERATE_EXPORT
from caliber.reports import dsp
from caliber.reports import exports as exports_module
from caliber.reports.csv_writer import CHUNK_SIZE, csv_bytes
from caliber.reports.exports import run_export
from caliber.reports.formats import RESULT_COLUMNS, result_row
from caliber.reports.gather import campaign_facts
from caliber.scoring import frames, legacy, repository, store
from caliber.scoring.runs import results_view
from caliber.worker.tasks import WorkerServices, cleanup_exports
from tests.api.conftest import run_jobs
from tests.api.test_scoring import API, all_results, create_campaign, scored_campaign
from tests.engine.exports import make_export, rename_sites

HOSTILE = {
    "site001.com": '=HYPERLINK("http://x")',
    "site002.com": "+cmd|'/c calc'!A0",
    "site003.com": "@SUM(1+1)",
    "site004.com": "-2+3",
    "site005.com": "com.example.puzzlegame",
    "site006.com": "1234567890",
}
DANGEROUS = ("=", "+", "-", "@", "\t", "\r", "\n")


CSV_BYTES = rename_sites(make_export("trade_desk", "display", seed=53), HOSTILE)


@pytest.fixture
def scored(
    score_as: Callable[[str, bytes], tuple[str, dict[str, str]]],
) -> tuple[str, dict[str, str]]:
    return score_as("export-alice", CSV_BYTES)


def _get(client: TestClient, path: str, headers: dict[str, str], **params: Any) -> Any:
    response = client.get(f"{API}/reports{path}", headers=headers, params=params)
    assert response.status_code == 200, (path, response.text)
    assert response.headers["content-disposition"].startswith('attachment; filename="caliber-')
    return response


def _csv(response: Any) -> list[list[str]]:
    text = response.content.decode("utf-8-sig")
    assert "\r\n" in text  # RFC 4180 line endings
    return list(csv.reader(io.StringIO(text)))


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _assert_inert(rows: list[list[str]]) -> None:
    for row in rows:
        for cell in row:
            assert not cell.startswith(DANGEROUS) or _is_number(cell), cell


def test_results_csv_has_every_row_and_honours_filters(
    client: TestClient, scored: tuple[str, dict[str, str]]
) -> None:
    campaign_id, alice = scored
    response = _get(client, f"/export/campaigns/{campaign_id}/results/csv", alice)
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["x-results-stale"] == "false"  # the latest run's results
    assert response.headers["x-results-completed-at"].endswith("Z")
    assert response.headers["content-disposition"].endswith(
        "-results-" + response.headers["content-disposition"][-13:]
    )
    header, *rows = _csv(response)
    assert tuple(header) == RESULT_COLUMNS
    stored = all_results(client, campaign_id, alice)
    assert [r[header.index("domain")] for r in rows] == [
        "'" + d if d.startswith(DANGEROUS) and not _is_number(d) else d
        for d in (s["domain"] for s in stored)
    ]
    _assert_inert(rows)
    assert '\'=hyperlink("http://x")' in {r[header.index("domain")].lower() for r in rows}
    breakdown = json.loads(rows[0][header.index("score_breakdown")])
    assert breakdown == stored[0]["score_breakdown"]

    good = _csv(
        _get(client, f"/export/campaigns/{campaign_id}/results/csv", alice, quality_status="good")
    )[1:]
    assert good
    assert {r[header.index("quality_status")] for r in good} == {"good"}
    assert len(good) == len(all_results(client, campaign_id, alice, quality_status="good"))


@pytest.mark.parametrize("kind", ["whitelist", "blacklist"])
def test_list_exports_match_the_lists(
    client: TestClient, scored: tuple[str, dict[str, str]], kind: str
) -> None:
    campaign_id, alice = scored
    listed = client.get(f"{API}/scoring/{kind}/{campaign_id}", headers=alice).json()["data"]
    base = f"/export/campaigns/{campaign_id}/{kind}"

    header, *rows = _csv(_get(client, f"{base}/csv", alice))
    _assert_inert(rows)
    assert [r[header.index("domain")].removeprefix("'") for r in rows] == listed["domains"]
    assert {r[header.index("list_type")] for r in rows} <= {kind}

    body = _get(client, f"{base}/json", alice).json()
    assert body["domains"] == listed["domains"]
    assert body["count"] == listed["count"]
    assert body["criteria_used"]["min_impressions"] == listed["criteria_used"]["min_impressions"]
    assert body["campaign"]["id"] == campaign_id

    web, apps = dsp.split_entries(listed["domains"])
    text = _get(client, f"{base}/txt", alice).content.decode()
    assert text.splitlines() == web
    assert not any(line.startswith(DANGEROUS) for line in text.splitlines())
    assert _get(client, f"{base}/txt", alice, entries="apps").content.decode().splitlines() == apps

    bid_list = _get(client, f"{base}/trade-desk", alice).json()
    assert bid_list["BidListAdjustmentType"] == (
        "TargetList" if kind == "whitelist" else "BlockList"
    )
    assert [line["DomainFragment"] for line in bid_list["BidLines"]] == [*web, *apps]
    assert {line["BidAdjustment"] for line in bid_list["BidLines"]} <= {
        1.0 if kind == "whitelist" else 0.0
    }
    sites = _get(client, f"{base}/dv360", alice).json()
    assert [s["urlOrAppId"] for s in sites["newSites"]] == [*web, *apps]


def test_the_hostile_names_reach_the_lists_but_never_a_dsp_file(
    client: TestClient, scored: tuple[str, dict[str, str]]
) -> None:
    campaign_id, alice = scored
    everything: list[str] = []
    for kind in ("whitelist", "blacklist"):
        base = f"/export/campaigns/{campaign_id}/{kind}"
        for params in ({}, {"entries": "apps"}):
            everything += _get(client, f"{base}/txt", alice, **params).content.decode().splitlines()
        everything += [
            b["DomainFragment"]
            for b in _get(client, f"{base}/trade-desk", alice).json()["BidLines"]
        ]
    assert everything
    assert not any(entry.startswith(DANGEROUS) or "(" in entry for entry in everything)


def test_summary_and_optimization_lists_csv(
    client: TestClient, scored: tuple[str, dict[str, str]]
) -> None:
    campaign_id, alice = scored
    summary = client.get(f"{API}/scoring/summary/{campaign_id}", headers=alice).json()["data"]
    header, row = _csv(_get(client, f"/export/campaigns/{campaign_id}/summary/csv", alice))
    values = dict(zip(header, row, strict=True))
    assert float(values["campaign_level_score"]) == summary["campaign_level_score"]
    assert int(values["row_count"]) == summary["row_count"]
    assert values["campaign_id"] == campaign_id

    header, *rows = _csv(
        _get(client, f"/export/campaigns/{campaign_id}/optimization-lists/csv", alice)
    )
    kinds = [r[header.index("list_type")] for r in rows]
    whitelist = client.get(f"{API}/scoring/whitelist/{campaign_id}", headers=alice).json()["data"]
    blacklist = client.get(f"{API}/scoring/blacklist/{campaign_id}", headers=alice).json()["data"]
    assert kinds == ["whitelist"] * whitelist["count"] + ["blacklist"] * blacklist["count"]
    _assert_inert(rows)


def test_campaign_json_with_and_without_results(
    client: TestClient, scored: tuple[str, dict[str, str]]
) -> None:
    campaign_id, alice = scored
    path = f"/export/campaigns/{campaign_id}/data/json"
    full = _get(client, path, alice, include_insights=True).json()
    summary = client.get(f"{API}/scoring/summary/{campaign_id}", headers=alice).json()["data"]
    assert full["campaign"]["id"] == campaign_id
    assert full["config_snapshot"]["weights"]
    assert full["data_quality_report"]["rows_scored"] == summary["row_count"]
    assert len(full["scoring_results"]) == summary["row_count"]
    assert (
        full["scoring_results"][0]["domain"] == all_results(client, campaign_id, alice)[0]["domain"]
    )
    assert full["ai_insights"] == []
    lean = _get(client, path, alice, include_results=False).json()
    assert "scoring_results" not in lean
    assert "ai_insights" not in lean
    assert lean["campaign_summary"]["campaign_level_score"] == summary["campaign_level_score"]


def test_pdf_report_downloads(client: TestClient, scored: tuple[str, dict[str, str]]) -> None:
    campaign_id, alice = scored
    full = _get(client, f"/campaigns/{campaign_id}/pdf", alice)
    assert full.headers["content-type"] == "application/pdf"
    assert full.content.startswith(b"%PDF")
    lean = _get(
        client, f"/campaigns/{campaign_id}/pdf", alice, include_charts=False, include_details=False
    )
    assert lean.content.startswith(b"%PDF")
    assert len(lean.content) < len(full.content)


def test_other_users_and_unfinished_campaigns(
    client: TestClient,
    scored: tuple[str, dict[str, str]],
    auth: Callable[[str], dict[str, str]],
) -> None:
    campaign_id, alice = scored
    bob = auth("export-bob")
    paths = [
        f"/export/campaigns/{campaign_id}/{what}"
        for what in (
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
    ] + [f"/campaigns/{campaign_id}/pdf"]
    for path in paths:
        response = client.get(f"{API}/reports{path}", headers=bob)
        assert response.status_code == 404, (path, response.text)
        assert response.json()["success"] is False
    pending = create_campaign(client, alice)
    for path in paths:
        response = client.get(f"{API}/reports{path.replace(campaign_id, pending)}", headers=alice)
        assert response.status_code == 409, (path, response.text)
        assert "no scoring results yet" in response.json()["message"]
    bad = client.get(f"{API}/reports/export/campaigns/{campaign_id}/greylist/csv", headers=alice)
    assert bad.status_code == 422


def test_dsp_lists_refuse_a_supply_vendor_campaign(
    client: TestClient, container: Container, auth: Callable[[str], dict[str, str]]
) -> None:
    alice = auth("export-vendor")
    data = make_export("trade_desk", "ctv", seed=5).encode()
    setup = {"platform": "trade_desk", "goal": "awareness", "channel": "ctv"}
    campaign_id = scored_campaign(client, container, alice, data, **setup)
    response = client.get(
        f"{API}/reports/export/campaigns/{campaign_id}/whitelist/txt", headers=alice
    )
    assert response.status_code == 409
    assert "supply vendor" in response.json()["message"]
    assert _get(client, f"/export/campaigns/{campaign_id}/whitelist/csv", alice).content


def test_background_export_lifecycle(
    client: TestClient,
    container: Container,
    scored: tuple[str, dict[str, str]],
    auth: Callable[[str], dict[str, str]],
) -> None:
    campaign_id, alice = scored
    bob = auth("export-bob2")
    created = client.post(
        f"{API}/reports/exports",
        json={"campaign_id": campaign_id, "format": "pdf", "options": {"include_charts": False}},
        headers=alice,
    )
    assert created.status_code == 202, created.text
    export = created.json()["data"]
    assert export["status"] == "pending"
    assert export["options"] == {"include_charts": False}
    run_jobs(container)
    state = client.get(f"{API}/reports/exports/{export['id']}", headers=alice).json()["data"]
    assert state["status"] == "completed", state
    assert state["filename"].endswith(".pdf")
    download = client.get(f"{API}/reports/exports/{export['id']}/download", headers=alice)
    assert download.status_code == 200
    assert download.content.startswith(b"%PDF")
    assert len(download.content) == state["size_bytes"]
    assert [
        e["id"] for e in client.get(f"{API}/reports/exports", headers=alice).json()["data"]
    ] == [export["id"]]

    # another user: nothing to see, download or delete
    for method, path in (
        ("get", f"/reports/exports/{export['id']}"),
        ("get", f"/reports/exports/{export['id']}/download"),
        ("delete", f"/reports/exports/{export['id']}"),
    ):
        assert client.request(method, f"{API}{path}", headers=bob).status_code == 404
    assert client.get(f"{API}/reports/exports", headers=bob).json()["data"] == []
    foreign = client.post(
        f"{API}/reports/exports", json={"campaign_id": campaign_id, "format": "pdf"}, headers=bob
    )
    assert foreign.status_code == 404

    # the cleanup task removes exports past the retention, row and file
    with session_scope(container.sessions) as session:
        session.execute(
            update(Export)
            .where(Export.id == uuid.UUID(export["id"]))
            .values(created_at=utcnow() - timedelta(hours=25))
        )
    services = WorkerServices(container.sessions, container.storage)
    assert cleanup_exports(services, older_than_hours=24) == 1
    assert client.get(f"{API}/reports/exports/{export['id']}", headers=alice).status_code == 404


def test_background_export_requests_are_checked(
    client: TestClient, scored: tuple[str, dict[str, str]]
) -> None:
    campaign_id, alice = scored
    for body in (
        {"campaign_id": campaign_id, "format": "docx"},
        {"campaign_id": campaign_id, "format": "pdf", "options": {"colour": "red"}},
        {"campaign_id": campaign_id, "format": "pdf", "owner_id": str(uuid.uuid4())},
        {"campaign_id": campaign_id, "format": "results_csv", "options": {"min_score": 120}},
    ):
        response = client.post(f"{API}/reports/exports", json=body, headers=alice)
        assert response.status_code == 422, (body, response.text)
    pending = create_campaign(client, alice)
    response = client.post(
        f"{API}/reports/exports", json={"campaign_id": pending, "format": "pdf"}, headers=alice
    )
    assert response.status_code == 409


def test_an_export_of_a_deleted_campaign_is_gone(
    client: TestClient,
    container: Container,
    scored: tuple[str, dict[str, str]],
) -> None:
    campaign_id, alice = scored
    created = client.post(
        f"{API}/reports/exports",
        json={"campaign_id": campaign_id, "format": "whitelist_csv"},
        headers=alice,
    ).json()["data"]
    run_jobs(container)
    with session_scope(container.sessions) as session:  # completed campaigns are undeletable
        session.execute(delete(Campaign).where(Campaign.id == uuid.UUID(campaign_id)))
    gone = client.get(f"{API}/reports/exports/{created['id']}/download", headers=alice)
    assert gone.status_code == 404
    services = WorkerServices(container.sessions, container.storage)
    assert cleanup_exports(services, older_than_hours=24) == 1


def _held_export(
    client: TestClient, container: Container, campaign_id: str, headers: dict[str, str]
) -> tuple[str, list[dict[str, str]]]:
    """Queue an export whose job is only recorded, so the test runs it by hand."""
    calls: list[dict[str, str]] = []
    container.jobs.register(GENERATE_EXPORT, lambda **kwargs: calls.append(kwargs))
    response = client.post(
        f"{API}/reports/exports",
        json={"campaign_id": campaign_id, "format": "summary_csv"},
        headers=headers,
    )
    assert response.status_code == 202, response.text
    export_id: str = response.json()["data"]["id"]
    run_jobs(container)  # the recorder runs on the pool's thread
    return export_id, calls


def _run(container: Container, job: dict[str, str], *, transient: bool = False) -> str:
    return run_export(
        container, export_id=job["export_id"], user_id=job["user_id"], transient=transient
    )


def _state(container: Container, export_id: str) -> Export:
    with container.sessions() as session:
        export = session.get(Export, uuid.UUID(export_id))
        assert export is not None
        return export


def test_the_export_task_checks_its_user_and_runs_once(
    client: TestClient,
    container: Container,
    scored: tuple[str, dict[str, str]],
    auth: Callable[[str], dict[str, str]],
) -> None:
    campaign_id, alice = scored
    export_id, calls = _held_export(client, container, campaign_id, alice)
    [job] = calls
    assert job["export_id"] == export_id
    bob_id = client.get(f"{API}/auth/profile", headers=auth("export-bob3")).json()["data"]["id"]
    assert run_export(container, export_id=export_id, user_id=bob_id) == "not_found"
    assert _state(container, export_id).status == "pending"
    assert _run(container, job) == "completed"
    first = _state(container, export_id)
    assert first.storage_key is not None
    assert container.storage.exists(first.storage_key)
    # a re-delivered task finds it done and changes nothing
    assert _run(container, job) == "completed"
    assert _state(container, export_id).completed_at == first.completed_at


def test_the_export_task_retries_outages_but_not_bad_state(
    client: TestClient,
    container: Container,
    scored: tuple[str, dict[str, str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    campaign_id, alice = scored
    export_id, [job] = _held_export(client, container, campaign_id, alice)

    def outage(*args: object, **kwargs: object) -> None:
        raise OperationalError("SELECT", {}, Exception("server closed the connection"))

    monkeypatch.setattr(exports_module, "render", outage)
    with pytest.raises(OperationalError):
        _run(container, job, transient=True)  # Celery retries it later
    assert _state(container, export_id).status == "pending"
    assert _run(container, job) == "failed"  # no retries left: failed, readably
    assert _state(container, export_id).error_message == exports_module.GENERIC_FAILURE
    monkeypatch.undo()

    # a re-run in progress leaves the results readable: they are exported, marked stale
    export_id, [job] = _held_export(client, container, campaign_id, alice)
    _set_campaign(container, campaign_id, status="processing")
    assert _run(container, job, transient=True) == "completed"
    direct = _get(client, f"/export/campaigns/{campaign_id}/whitelist/txt", alice)
    assert direct.headers["x-results-stale"] == "true"

    # the campaign has no results (no run of it succeeded): the export fails with the reason
    export_id, [job] = _held_export(client, container, campaign_id, alice)
    _set_campaign(container, campaign_id, results_run_id=None, summary=None)
    assert _run(container, job, transient=True) == "failed"
    failed = _state(container, export_id)
    assert failed.error_message is not None
    assert "no scoring results yet" in failed.error_message
    download = client.get(f"{API}/reports/exports/{export_id}/download", headers=alice)
    assert download.status_code == 409
    assert "no scoring results yet" in download.json()["message"]


def _set_campaign(container: Container, campaign_id: str, **values: Any) -> None:
    with session_scope(container.sessions) as session:
        session.execute(
            update(Campaign).where(Campaign.id == uuid.UUID(campaign_id)).values(**values)
        )


# --- large exports: streamed, and at most HEAVY_REQUESTS_PER_USER in flight per user -----

MANY = rename_sites(make_export("trade_desk", "display", seed=54, names=400), HOSTILE)


def _stored_rows(data: bytes) -> list[dict[str, Any]]:
    """The rows the SQL layout stored for ``data`` scored by the engine, as the exports
    read them before they were made fast: one dict per row, the JSON columns through a
    JSON round trip (the reference the run's file must give byte for byte)."""
    result = score(data, Setup.create("trade_desk", "awareness", "display"), filename="x.csv")
    rows = json.loads(
        json.dumps(legacy.result_rows(result, uuid.uuid4(), uuid.uuid4()), default=str)
    )
    return [
        {
            "domain": row["domain"],
            "score": row["score"],
            "quality_status": row["quality_status"],
            "percentile_rank": row["percentile_rank"],
            "impressions": row["impressions"],
            "spend": row["spend"],
            "cpm": row["cpm"],
            "ctr": row["ctr"],
            "conversions": row["conversions"],
            "conversion_rate": row["conversion_rate"],
            "raw_metrics": (row["metrics"] or {}).get("values", {}),
            "normalized_metrics": (row["metrics"] or {}).get("normalized", {}),
            "score_breakdown": row["score_breakdown"] or {},
            "quality_flags": list(row["outlier_flags"] or []),
        }
        for row in rows
    ]


def test_results_csv_and_campaign_json_stream_the_same_bytes_as_before(
    client: TestClient,
    container: Container,
    score_as: Callable[[str, bytes], tuple[str, dict[str, str]]],
) -> None:
    campaign_id, alice = score_as("export-stream", MANY)
    path = f"{API}/reports/export/campaigns/{campaign_id}"
    with client.stream("GET", f"{path}/results/csv", headers=alice) as response:
        assert response.status_code == 200
        assert "content-length" not in response.headers  # sent as it is written: chunked
        chunks = list(response.iter_raw())
    body = b"".join(chunks)
    assert len(body) > 4 * CHUNK_SIZE
    assert len(chunks) > 1
    # the reference: every row as formats.result_row, written by iter_csv
    stored = _stored_rows(MANY)
    header, first = _csv_rows(body)[:2]
    when = datetime.fromisoformat(first[header.index("export_date")])
    with container.sessions() as session:
        campaign = session.get(Campaign, uuid.UUID(campaign_id))
        assert campaign is not None
        facts = campaign_facts(results_view(session, campaign.organization_id, campaign.id))
    expected = csv_bytes(RESULT_COLUMNS, [result_row(facts, row, when) for row in stored])
    assert body == expected
    assert len(stored) > 300

    # the file of another run of the campaign (one being written) is never exported
    with session_scope(container.sessions) as session:
        campaign = session.get(Campaign, uuid.UUID(campaign_id))
        assert campaign is not None
        writing = repository.add_run(session, campaign.id, {}, None, utcnow())
        key = store.run_key(campaign.id, writing.id)
    other = score(CSV_BYTES, Setup.create("trade_desk", "awareness", "display"), filename="x.csv")
    container.storage.save(key, io.BytesIO(frames.to_parquet(other.results)))
    again = client.get(f"{path}/results/csv", headers=alice).content
    assert again.count(b"\r\n") == body.count(b"\r\n")

    full = client.get(f"{path}/data/json", headers=alice)
    assert full.status_code == 200
    assert "content-length" not in full.headers
    marker = b'"scoring_results": ['
    tail = full.content[full.content.index(marker) + len(marker) :]
    items = ",\n    ".join(json.dumps(row, ensure_ascii=False) for row in stored)
    assert tail == f"\n    {items}\n  ]\n}}".encode()


def _csv_rows(body: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))


def test_heavy_requests_in_flight_are_limited_per_user(
    client: TestClient,
    scored: tuple[str, dict[str, str]],
    score_as: Callable[[str, bytes], tuple[str, dict[str, str]]],
) -> None:
    campaign_id, alice = scored
    bob_campaign, bob = score_as("export-bob-heavy", CSV_BYTES)
    alice_id = client.get(f"{API}/auth/profile", headers=alice).json()["data"]["id"]
    limiter = client.app.state.heavy_requests  # type: ignore[attr-defined]
    assert limiter.per_user == 2  # HEAVY_REQUESTS_PER_USER's default
    entered = threading.Semaphore(0)
    release = threading.Event()

    def hold(user_id: str) -> None:  # keeps alice's requests in flight until released
        if user_id == alice_id:
            entered.release()
            assert release.wait(60)

    limiter.on_acquired = hold
    exports = f"{API}/reports/export/campaigns/{campaign_id}"
    with ThreadPoolExecutor(2) as pool:
        held = [
            pool.submit(client.get, f"{exports}/results/csv", headers=alice),
            pool.submit(client.get, f"{API}/reports/campaigns/{campaign_id}/pdf", headers=alice),
        ]
        try:
            for _ in held:
                assert entered.acquire(timeout=60)
            for refused in (
                client.get(f"{exports}/whitelist/txt", headers=alice),
                client.get(f"{API}/scoring/outliers/{campaign_id}", headers=alice),
            ):
                assert refused.status_code == 429, refused.text
                assert refused.headers["retry-after"] == "5"
                assert refused.json()["error"] == "rate_limited"
                assert "at most 2 in flight" in refused.json()["message"]
            # another user is not affected
            other = client.get(
                f"{API}/reports/export/campaigns/{bob_campaign}/results/csv", headers=bob
            )
            assert other.status_code == 200
        finally:
            release.set()
        assert [f.result().status_code for f in held] == [200, 200]
    limiter.on_acquired = None
    # both slots were given back once the responses were sent
    assert limiter.in_flight(alice_id) == 0
    assert client.get(f"{exports}/whitelist/txt", headers=alice).status_code == 200


def test_a_score_range_upside_down_is_a_422_naming_it(
    client: TestClient, scored: tuple[str, dict[str, str]]
) -> None:
    """It was an empty file (or an export that rendered one)."""
    campaign_id, alice = scored
    download = client.get(
        f"{API}/reports/export/campaigns/{campaign_id}/results/csv",
        params={"min_score": 80, "max_score": 20},
        headers=alice,
    )
    queued = client.post(
        f"{API}/reports/exports",
        json={
            "campaign_id": campaign_id,
            "format": "results_csv",
            "options": {"min_score": 80, "max_score": 20},
        },
        headers=alice,
    )
    for response in (download, queued):
        assert response.status_code == 422, response.text
        assert "min_score (80) must not exceed max_score (20)" in response.json()["message"]
    same = client.get(
        f"{API}/reports/export/campaigns/{campaign_id}/results/csv",
        params={"min_score": 50, "max_score": 50},
        headers=alice,
    )
    assert same.status_code == 200


# --- the run layout changed underneath: every export and answer is the same bytes ------

GOLDEN_BYTES = rename_sites(make_export("trade_desk", "display", seed=57, names=300), HOSTILE)
_UUID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_WHEN = re.compile(rb"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?(Z|\+00:00)?")
_DAY = re.compile(rb"-\d{8}\.")
GOLDEN_READS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("/reports/export/campaigns/{id}/results/csv", {}),
    ("/reports/export/campaigns/{id}/results/csv", {"quality_status": "poor", "min_score": 5}),
    ("/reports/export/campaigns/{id}/summary/csv", {}),
    ("/reports/export/campaigns/{id}/optimization-lists/csv", {"min_impressions": 500}),
    ("/reports/export/campaigns/{id}/data/json", {}),
    ("/reports/export/campaigns/{id}/data/json", {"include_results": "false"}),
    ("/reports/export/campaigns/{id}/whitelist/csv", {}),
    ("/reports/export/campaigns/{id}/blacklist/json", {}),
    ("/reports/export/campaigns/{id}/whitelist/txt", {}),
    ("/reports/export/campaigns/{id}/blacklist/txt", {"entries": "apps"}),
    ("/reports/export/campaigns/{id}/whitelist/trade-desk", {}),
    ("/reports/export/campaigns/{id}/blacklist/dv360", {}),
    ("/scoring/results/{id}", {}),
    ("/scoring/results/{id}", {"sort_by": "ctr", "sort_direction": "asc", "page": 2}),
    ("/scoring/results/{id}", {"sort_by": "domain", "quality_status": "good", "per_page": 100}),
    ("/scoring/results/{id}", {"sort_by": "cpm", "min_impressions": 2000, "max_score": 60}),
    ("/scoring/summary/{id}", {}),
    ("/scoring/whitelist/{id}", {}),
    ("/scoring/blacklist/{id}", {"min_impressions": 1000}),
)
# sha256 of each read above (ids, times and dates masked), as the SQL row layout answered
# them (commit 68ac7c7, before runs were stored as files): the layout is invisible
GOLDEN_HASHES: tuple[str, ...] = (
    "ef5936a8d4a1267f78ce724581d5bfebe56c5f659ee72e09fdb99079890f0e25",
    "a578dcaf4d2d6a8556a34549f69bfdaefe016a4b9a6c1a4f6ef187ba1d67b642",
    "41067eb471c8acbf1f971aa46fefcbf1e6f5914dcafd4bb7a287e560ea5b665d",
    "be44fbd2a0946e9e635920475a58c4b0b9c2ab1e0f8decdf591a0f1551816f6b",
    "f2da23560edfab1d5cbcf51de1d3282b35ae6098f2639846b413a64a46b8a13b",
    "444c5c961b19ebcf6bc0a938d5863164fab9e625a35792746cf97dbba45a6e45",
    "57d116434bb086009e03a90427e927423b132929725e7f402c5286cca1b3439d",
    "03dfce7ede7cea6cd5034e524320818200154271e80d7e6d9939ca435962f9db",
    "e487059a4df1c2c6ae9e85cbd33384471b021ca899eb250c13288d743e6dfa42",
    "bdad873a5575f98d6b504e9f423bbdb06fb2641407b6524131f20b5022eb8434",
    "60856a9efdf4421a993e9c7f6368c3c8407351c175d28acccacdaa44d40d2dbd",
    "ce4f63c5b2d74527a22e5203123d8024f84c55aa44b0fa1973b86eb258e97977",
    "6f13af1a9e6a4eb25974298db8f4c6dca0c5393f86af911d243f6b0e2becba14",
    "b615f5f2e537c34fe0e3295d12815583b82b185afe66e6f3bd1bd68a8be07f27",
    "64cd0f387a21a57a6aac72d0d210ee4f52485a90996c67c085f3bb9538987ff2",
    "2f86f68897c2b96bd0330741000fbc7396f5c8fd64ade317735fd5706bb61e3f",
    "78d773e0e960f0328e453fb2c456f782db77aebf6f16c166855cf9ea3abf3db1",
    "ce88f0ca7a0aa734298467319649d74cb6ba426ea957125ab183da947739743e",
    "d080d6858e5b60c1cf3529130cfbc7dc64a9301239dbb6e5104cd1807dcb5e97",
)


def _masked(body: bytes) -> bytes:
    body = _WHEN.sub(b"<when>", _UUID.sub(b"<id>", body))
    return _DAY.sub(b"-<day>.", body)


def test_every_export_and_answer_is_the_bytes_the_sql_layout_gave(
    client: TestClient, score_as: Callable[[str, bytes], tuple[str, dict[str, str]]]
) -> None:
    campaign_id, alice = score_as("export-golden", GOLDEN_BYTES)
    found: list[str] = []
    for path, params in GOLDEN_READS:
        response = client.get(f"{API}{path.format(id=campaign_id)}", params=params, headers=alice)
        assert response.status_code == 200, (path, response.text)
        body = response.content
        if path.startswith("/scoring/"):
            answer = json.loads(body)
            answer.pop("run")
            body = json.dumps(answer, ensure_ascii=False).encode()
        else:
            body += response.headers["content-disposition"].encode()
        found.append(hashlib.sha256(_masked(body)).hexdigest())
    changed = [
        read
        for read, got, want in zip(GOLDEN_READS, found, GOLDEN_HASHES, strict=True)
        if got != want
    ]
    assert changed == []
