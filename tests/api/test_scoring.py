"""Scoring routes and the scoring job, on SQLite and PostgreSQL.

The acceptance bar: for the same file and setup, what the API stores and answers equals
what ``caliber score`` writes (results.csv, whitelist.csv, blacklist.csv, summary.json).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import math
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from fastapi.testclient import TestClient
from polars.testing import assert_frame_equal
from sqlalchemy import select

from caliber.api.container import Container
from caliber.cli.main import main as cli
from caliber.db.models import Campaign, FileUpload, ScoringRun
from caliber.db.session import session_scope
from caliber.engine import pipeline
from caliber.engine.config import Setup
from caliber.engine.errors import EngineError
from caliber.engine.lists import build_lists
from caliber.engine.pipeline import ScoringResult as EngineResult
from caliber.engine.pipeline import score
from caliber.jobs.names import SCORE_CAMPAIGN
from caliber.sample.export import write_sample
from caliber.scoring import answers as scoring_answers
from caliber.scoring import frames, store
from caliber.scoring import jobs as scoring_jobs
from caliber.scoring import lists as scoring_lists
from caliber.scoring import pages as result_pages
from caliber.scoring import results as scoring_results
from caliber.scoring.jobs import run_scoring_job
from tests.api.conftest import run_jobs
from tests.engine.exports import make_export

Auth = Callable[[str], dict[str, str]]
API = "/api/v1"
TD_DISPLAY = {"platform": "trade_desk", "goal": "awareness", "channel": "display"}


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sample") / "td_display.csv"
    write_sample(path, "trade_desk", "display", rows=3000)
    return path


@pytest.fixture(scope="module")
def cli_out(sample: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What ``caliber score`` writes for the sample under the default setup."""
    out = tmp_path_factory.mktemp("cli")
    args = ["score", str(sample), "-p", "trade_desk", "-g", "awareness", "-c", "display"]
    assert cli([*args, "-o", str(out), "--quiet"]) == 0
    return out


def create_campaign(client: TestClient, headers: dict[str, str], **setup: Any) -> str:
    body = {"name": "Spring", **(setup or TD_DISPLAY)}
    response = client.post(f"{API}/campaigns", json=body, headers=headers)
    assert response.status_code == 201, response.text
    campaign_id: str = response.json()["data"]["id"]
    return campaign_id


def attach(container: Container, campaign_id: str, data: bytes, filename: str = "x.csv") -> None:
    """Store ``data`` and attach it to the campaign, as the upload route would."""
    key = f"uploads/{uuid.uuid4().hex}.csv"
    container.storage.save(key, io.BytesIO(data))
    with session_scope(container.sessions) as session:
        campaign = session.get(Campaign, uuid.UUID(campaign_id))
        assert campaign is not None
        upload = FileUpload(
            owner_id=campaign.owner_id,
            organization_id=campaign.organization_id,
            original_filename=filename,
            storage_key=key,
            content_type="text/csv",
            file_format="csv",
            size_bytes=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
        )
        session.add(upload)
        session.flush()
        campaign.file_upload_id = upload.id


def scored_campaign(
    client: TestClient, container: Container, headers: dict[str, str], data: bytes, **setup: Any
) -> str:
    campaign_id = create_campaign(client, headers, **setup)
    attach(container, campaign_id, data)
    response = client.post(
        f"{API}/scoring/start", json={"campaign_id": campaign_id}, headers=headers
    )
    assert response.status_code == 202, response.text
    run_jobs(container)
    progress = client.get(f"{API}/scoring/progress/{campaign_id}", headers=headers).json()["data"]
    assert progress["status"] == "completed", progress
    return campaign_id


def all_results(
    client: TestClient, campaign_id: str, headers: dict[str, str], **query: Any
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    page = 1
    while True:
        params = {"page": page, "per_page": 100, **query}
        body = client.get(
            f"{API}/scoring/results/{campaign_id}", params=params, headers=headers
        ).json()
        assert body["success"] is True, body
        rows += body["data"]
        if not body["has_next"]:
            assert len(rows) == body["total"]
            return rows
        page += 1


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture
def engine_runs(monkeypatch: pytest.MonkeyPatch) -> list[EngineResult]:
    """The engine results of the scoring jobs run during the test."""
    runs: list[EngineResult] = []

    def recording(*args: Any, **kwargs: Any) -> EngineResult:
        runs.append(score(*args, **kwargs))
        return runs[-1]

    monkeypatch.setattr(pipeline, "score", recording)
    return runs


def hold_jobs(container: Container) -> list[dict[str, str]]:
    """Replace the scoring job by a recorder: campaigns stay processing."""
    calls: list[dict[str, str]] = []
    container.jobs.register(SCORE_CAMPAIGN, lambda **kwargs: calls.append(kwargs))
    return calls


# --- the acceptance bar -------------------------------------------------------------------


def close(got: Any, want: Any) -> bool:
    """Equal, floats within 1e-9 relative: the engine's parallel float sums may differ in
    the last bit between two runs on the same file (see the report), nothing else may."""
    if isinstance(got, dict) and isinstance(want, dict):
        return got.keys() == want.keys() and all(close(got[k], want[k]) for k in got)
    if isinstance(got, list) and isinstance(want, list):
        return len(got) == len(want) and all(close(g, w) for g, w in zip(got, want, strict=True))
    if isinstance(got, float) and isinstance(want, float | int) and not isinstance(want, bool):
        return math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-12)
    return bool(got == want and type(got) is type(want))


def test_stored_results_equal_what_the_cli_writes(
    client: TestClient,
    container: Container,
    auth: Auth,
    sample: Path,
    cli_out: Path,
    engine_runs: list[EngineResult],
) -> None:
    alice = auth("alice")
    campaign_id = scored_campaign(client, container, alice, sample.read_bytes())
    (run,) = engine_runs

    # storage is lossless: the stored rows rebuild the job's engine result exactly
    with session_scope(container.sessions) as session:
        owner = session.get(Campaign, uuid.UUID(campaign_id))
        assert owner is not None
        frame = scoring_results.results_frame(session, owner.organization_id, owner.id)
    assert_frame_equal(frame, run.results, check_exact=True)
    summary = client.get(f"{API}/scoring/summary/{campaign_id}", headers=alice).json()["data"]
    assert summary.pop("campaign_id") == campaign_id
    assert summary == json.loads(json.dumps(run.summary()))

    # and equals what `caliber score` wrote for the same file
    flat = frame.with_columns(pl.col("outlier_flags").list.join(";"))
    assert_frame_equal(
        pl.read_csv(io.StringIO(flat.write_csv())),
        pl.read_csv(cli_out / "results.csv"),
        rel_tol=1e-9,
        abs_tol=1e-12,
    )
    expected = read_csv(cli_out / "results.csv")
    rows = all_results(client, campaign_id, alice)
    assert [r["domain"] for r in rows] == [e["domain"] for e in expected]
    assert [r["rank"] for r in rows] == list(range(1, len(expected) + 1))
    assert [r["score"] for r in rows] == [float(e["score"]) for e in expected]
    assert [r["percentile_rank"] for r in rows] == [int(e["percentile_rank"]) for e in expected]
    assert [r["quality_status"] for r in rows] == [e["quality_status"] for e in expected]
    assert [";".join(r["outlier_flags"]) for r in rows] == [e["outlier_flags"] for e in expected]
    assert [r["impressions"] for r in rows] == [int(e["impressions"]) for e in expected]
    assert rows[0]["normalized_metrics"]["ctr"] == pytest.approx(
        float(expected[0]["ctr_normalized"])
    )
    assert rows[0]["score_breakdown"]["ctr"]["weight"] == 0.20
    written = json.loads((cli_out / "summary.json").read_text(encoding="utf-8"))
    assert close(summary, written)

    campaign = client.get(f"{API}/campaigns/{campaign_id}", headers=alice).json()["data"]
    assert campaign["campaign_level_score"] == written["campaign_level_score"]
    # how the run read the headers; column_mapping is the user's choice (none here)
    assert campaign["column_mapping_used"] == written["processing_report"]["column_mapping"]
    assert campaign["column_mapping"] == {}
    assert (
        campaign["config_snapshot"]["read_options"] == written["processing_report"]["read_options"]
    )
    assert campaign["data_quality_report"] == written["processing_report"]
    assert campaign["total_records"] == written["rows"]["read"]
    assert campaign["config_snapshot"]["weights"] == written["weights"]
    assert campaign["config_snapshot"]["setup"] == written["setup"]

    for list_type in ("whitelist", "blacklist"):
        listed = read_csv(cli_out / f"{list_type}.csv")
        got = client.get(f"{API}/scoring/{list_type}/{campaign_id}", headers=alice).json()["data"]
        assert got["list_type"] == list_type
        assert got["campaign_id"] == campaign_id
        assert got["domains"] == [r["domain"] for r in listed]
        assert got["count"] == len(listed) == written["lists"][f"{list_type}_count"]
        assert got["total_impressions"] == sum(int(r["impressions"]) for r in listed)
        mean = sum(float(r["score"]) for r in listed) / len(listed)
        assert got["average_score"] == round(mean, 2)
        assert got["criteria_used"]["min_impressions"] == 250
        assert got["criteria_used"]["eligible_rows"] == written["lists"]["eligible_rows"]
        posted = client.post(
            f"{API}/scoring/optimization-list",
            json={"campaign_id": campaign_id, "list_type": list_type},
            headers=alice,
        ).json()["data"]
        assert posted == got


def test_supply_vendor_campaign_equals_the_engine(
    client: TestClient, container: Container, auth: Auth
) -> None:
    data = make_export("trade_desk", "ctv", seed=3).encode()
    setup = {"platform": "trade_desk", "goal": "action", "channel": "ctv"}
    bob = auth("bob")
    campaign_id = scored_campaign(client, container, bob, data, **setup)
    result = score(data, Setup.create(*setup.values()), filename="x.csv")
    assert result.dimension == "supply_vendor"
    rows = all_results(client, campaign_id, bob)
    assert [r["domain"] for r in rows] == result.results["supply_vendor"].to_list()
    assert [r["score"] for r in rows] == result.results["score"].to_list()
    white = client.get(f"{API}/scoring/whitelist/{campaign_id}", headers=bob).json()["data"]
    assert white["analysis_level"] == "supply_vendor"
    assert white["domains"] == result.lists.whitelist["supply_vendor"].to_list()
    summary = client.get(f"{API}/scoring/summary/{campaign_id}", headers=bob).json()["data"]
    assert summary["campaign_level_score"] == result.campaign["campaign_level_score"]
    assert summary["analysis_level"] == "supply_vendor"


# --- the job ----------------------------------------------------------------------------


def test_progress_walks_through_the_steps(
    client: TestClient,
    container: Container,
    auth: Auth,
    sample: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[tuple[str, int]] = []
    original = scoring_jobs._set_step

    def spy(services: Any, owner: uuid.UUID, cid: uuid.UUID, step: str, pct: int) -> None:
        seen.append((step, pct))
        original(services, owner, cid, step, pct)

    monkeypatch.setattr(scoring_jobs, "_set_step", spy)
    alice = auth("alice")
    campaign_id = create_campaign(client, alice)
    attach(container, campaign_id, sample.read_bytes())
    started = client.post(f"{API}/scoring/start", json={"campaign_id": campaign_id}, headers=alice)
    body = started.json()["data"]
    assert body["status"] == "processing"
    assert body["config_used"]["weights"]["ctr"] == 0.20
    assert body["job_id"]
    run_jobs(container)
    steps = [s for s, _ in seen]
    assert steps[0] == "loading_data"
    assert steps.index("preprocessing") < steps.index("scoring") < steps.index("saving")
    percentages = [p for _, p in seen]
    assert percentages == sorted(percentages)
    progress = client.get(f"{API}/scoring/progress/{campaign_id}", headers=alice).json()["data"]
    assert progress["current_step"] == "completed"
    assert progress["progress_percentage"] == 100
    assert progress["started_at"] is not None
    assert progress["completed_at"] is not None
    assert progress["error_message"] is None


def test_start_needs_a_file_and_a_startable_status(
    client: TestClient, container: Container, auth: Auth, sample: Path
) -> None:
    alice = auth("alice")
    campaign_id = create_campaign(client, alice)
    start = {"campaign_id": campaign_id}
    response = client.post(f"{API}/scoring/start", json=start, headers=alice)
    assert response.status_code == 409
    assert "upload a file first" in response.json()["message"]

    attach(container, campaign_id, sample.read_bytes())
    calls = hold_jobs(container)
    assert client.post(f"{API}/scoring/start", json=start, headers=alice).status_code == 202
    run_jobs(container)  # the recorder runs on the pool's thread
    assert calls == [{"campaign_id": campaign_id, "user_id": calls[0]["user_id"]}]
    again = client.post(f"{API}/scoring/start", json=start, headers=alice)
    assert again.status_code == 409
    assert "processing" in again.json()["message"]
    assert len(calls) == 1

    bad = client.post(f"{API}/scoring/start", json={**start, "force": True}, headers=alice)
    assert bad.status_code == 422
    assert client.post(f"{API}/scoring/start", json={}, headers=alice).status_code == 422


def test_rescoring_a_completed_campaign_makes_a_new_run_and_keeps_the_first(
    client: TestClient, container: Container, auth: Auth, sample: Path
) -> None:
    """(The SQL layout replaced the rows; runs keep them: the new run answers by
    default, the first by its id.)"""
    alice = auth("alice")
    campaign_id = scored_campaign(client, container, alice, sample.read_bytes())
    first = all_results(client, campaign_id, alice)
    first_run = read_run_marker(client, campaign_id, alice)
    start = {"campaign_id": campaign_id}
    assert client.post(f"{API}/scoring/start", json=start, headers=alice).status_code == 202
    run_jobs(container)
    second = all_results(client, campaign_id, alice)
    assert [(r["domain"], r["score"]) for r in second] == [(r["domain"], r["score"]) for r in first]
    assert read_run_marker(client, campaign_id, alice) != first_run
    assert all_results(client, campaign_id, alice, run_id=first_run) == first
    with session_scope(container.sessions) as session:
        runs = session.scalars(
            select(ScoringRun.status).where(ScoringRun.campaign_id == uuid.UUID(campaign_id))
        ).all()
    assert runs == ["completed", "completed"]


def read_run_marker(client: TestClient, campaign_id: str, headers: dict[str, str]) -> str:
    """The run the campaign's results are read from by default."""
    body = client.get(f"{API}/scoring/summary/{campaign_id}", headers=headers).json()
    run_id: str = body["run"]["run_id"]
    return run_id


def rewrite_run(
    container: Container, campaign_id: str, change: Callable[[pl.DataFrame], pl.DataFrame]
) -> None:
    """Change the stored frame of the campaign's latest run in its file (as a test of
    what is served from it), and forget what this process holds of it."""
    with session_scope(container.sessions) as session:
        campaign = session.get(Campaign, uuid.UUID(campaign_id))
        assert campaign is not None
        run = session.get(ScoringRun, campaign.results_run_id)
        assert run is not None
        assert run.storage_key is not None
        key = run.storage_key
    frame = frames.from_parquet(container.storage.read(key))
    container.storage.save(key, io.BytesIO(frames.to_parquet(change(frame))))
    scoring_answers.clear_read_caches()


def test_a_new_run_is_never_served_from_the_previous_runs_cached_pages(
    client: TestClient, container: Container, auth: Auth, sample: Path, tmp_path: Path
) -> None:
    """Pages, counts and lists are cached per run: rescoring with another file answers
    the new rows at once, for every query read before."""
    alice = auth("alice")
    campaign_id = scored_campaign(client, container, alice, sample.read_bytes())
    url = f"{API}/scoring/results/{campaign_id}"
    queries: list[dict[str, Any]] = [{}, {"sort_by": "ctr", "quality_status": "good"}]
    lists = [f"{API}/scoring/whitelist/{campaign_id}", f"{API}/scoring/blacklist/{campaign_id}"]

    def read() -> list[Any]:
        answers = [client.get(url, params=q, headers=alice).json() for q in queries]
        return answers + [client.get(path, headers=alice).json()["data"] for path in lists]

    before = read()
    other = tmp_path / "other.csv"
    write_sample(other, "trade_desk", "display", rows=400, seed=99)
    attach(container, campaign_id, other.read_bytes())
    start = {"campaign_id": campaign_id}
    assert client.post(f"{API}/scoring/start", json=start, headers=alice).status_code == 202
    run_jobs(container)
    after = read()
    assert after[0]["total"] != before[0]["total"]
    with session_scope(container.sessions) as session:
        owner = session.get(Campaign, uuid.UUID(campaign_id))
        assert owner is not None
        stored = scoring_results.results_frame(session, owner.organization_id, owner.id)["domain"]
    assert [r["domain"] for r in after[0]["data"]] == stored.to_list()[:50]
    assert after[1]["total"] != before[1]["total"] or after[1]["data"] != before[1]["data"]
    assert after[2]["domains"] != before[2]["domains"]
    assert after[3]["domains"] != before[3]["domains"]


def test_an_engine_error_fails_the_campaign_with_its_message(
    client: TestClient, container: Container, auth: Auth
) -> None:
    from tests.api.test_notifications import negative_impressions

    data = negative_impressions()  # every column there: the start check lets it through
    with pytest.raises(EngineError) as caught:
        score(data, Setup.create(*TD_DISPLAY.values()), filename="x.csv")
    alice = auth("alice")
    campaign_id = create_campaign(client, alice)
    attach(container, campaign_id, data)
    started = client.post(f"{API}/scoring/start", json={"campaign_id": campaign_id}, headers=alice)
    assert started.status_code == 202
    run_jobs(container)
    progress = client.get(f"{API}/scoring/progress/{campaign_id}", headers=alice).json()["data"]
    assert progress["status"] == "failed"
    assert progress["current_step"] == "failed"
    assert progress["error_message"] == caught.value.message
    for path in ("results", "summary", "whitelist", "blacklist"):
        response = client.get(f"{API}/scoring/{path}/{campaign_id}", headers=alice)
        assert response.status_code == 409, path
    # failed → retry
    assert (
        client.post(
            f"{API}/scoring/start", json={"campaign_id": campaign_id}, headers=alice
        ).status_code
        == 202
    )
    run_jobs(container)


READS = ("results", "summary", "whitelist", "blacklist")


def read_results(client: TestClient, campaign_id: str, headers: dict[str, str]) -> dict[str, Any]:
    """Every results read of a campaign: the scoring routes' bodies and headers, the
    exports, and an analysis (all 200, or the test fails)."""
    found: dict[str, Any] = {}
    for path in READS:
        response = client.get(f"{API}/scoring/{path}/{campaign_id}", headers=headers)
        assert response.status_code == 200, (path, response.text)
        found[path] = (response.json(), response.headers)
    export = f"{API}/reports/export/campaigns/{campaign_id}"
    for path in ("results/csv", "whitelist/txt", "blacklist/json", "summary/csv"):
        response = client.get(f"{export}/{path}", headers=headers)
        assert response.status_code == 200, (path, response.text)
        found[path] = response.content
    pdf = client.get(f"{API}/reports/campaigns/{campaign_id}/pdf", headers=headers)
    assert pdf.status_code == 200, pdf.text
    explain = client.get(f"{API}/scoring/explain/{campaign_id}", headers=headers)
    assert explain.status_code == 200, explain.text
    found["explain"] = explain.json()["data"]
    return found


def test_a_failed_rerun_leaves_the_last_good_results_readable_and_marked(
    client: TestClient, container: Container, auth: Auth, sample: Path, tmp_path: Path
) -> None:
    """Re-scoring with a file that passes the start check but fails in the run: every
    read still answers the previous run's results, marked stale with the failed run's
    error, until a good run replaces them."""
    from tests.api.test_notifications import negative_impressions

    alice = auth("alice")
    campaign_id = scored_campaign(client, container, alice, sample.read_bytes())
    before = read_results(client, campaign_id, alice)
    first = before["summary"][0]["run"]
    assert first["stale"] is False
    assert first["latest_status"] == "completed"
    assert before["results"][1]["x-results-stale"] == "false"
    assert before["results"][1]["x-results-completed-at"] == first["completed_at"]

    attach(container, campaign_id, negative_impressions())
    start = {"campaign_id": campaign_id}
    assert client.post(f"{API}/scoring/start", json=start, headers=alice).status_code == 202
    run_jobs(container)
    progress = client.get(f"{API}/scoring/progress/{campaign_id}", headers=alice).json()["data"]
    assert progress["status"] == "failed"
    assert progress["error_message"]

    after = read_results(client, campaign_id, alice)
    for path in READS:
        body, headers = after[path]
        assert body["data"] == before[path][0]["data"], path
        assert body["run"] == {
            **first,
            "stale": True,
            "latest_status": "failed",
            "latest_error": progress["error_message"],
        }, path
        assert headers["x-results-stale"] == "true"
        assert headers["x-results-completed-at"] == first["completed_at"]
    assert after["whitelist/txt"] == before["whitelist/txt"]
    listed = [json.loads(found["blacklist/json"]) for found in (before, after)]
    assert [{k: v for k, v in x.items() if k != "generated_at"} for x in listed] == [
        {k: v for k, v in listed[0].items() if k != "generated_at"}
    ] * 2
    assert after["results/csv"].count(b"\n") == before["results/csv"].count(b"\n")
    assert after["explain"] == before["explain"]
    campaign = client.get(f"{API}/campaigns/{campaign_id}", headers=alice).json()["data"]
    assert campaign["completed_at"] == first["completed_at"]  # of the results it holds
    assert campaign["campaign_level_score"] == before["summary"][0]["data"]["campaign_level_score"]

    # a run in progress: still the previous results, stale while it runs
    other = tmp_path / "other.csv"
    write_sample(other, "trade_desk", "display", rows=400, seed=99)
    attach(container, campaign_id, other.read_bytes())
    held = hold_jobs(container)
    assert client.post(f"{API}/scoring/start", json=start, headers=alice).status_code == 202
    run_jobs(container)
    during = client.get(f"{API}/scoring/results/{campaign_id}", headers=alice).json()
    assert during["data"] == before["results"][0]["data"]
    assert (during["run"]["stale"], during["run"]["latest_status"]) == (True, "processing")
    assert during["run"]["latest_error"] is None

    # a good run is read from then on; the first stays readable by its id, marked stale
    run_scoring_job(container, campaign_id=held[0]["campaign_id"], user_id=held[0]["user_id"])
    replaced = client.get(f"{API}/scoring/results/{campaign_id}", headers=alice)
    body = replaced.json()
    assert body["total"] != before["results"][0]["total"]
    assert body["run"]["stale"] is False
    assert body["run"]["run_id"] != first["run_id"]
    assert body["run"]["completed_at"] > first["completed_at"]
    assert replaced.headers["x-results-stale"] == "false"
    earlier = client.get(
        f"{API}/scoring/results/{campaign_id}", params={"run_id": first["run_id"]}, headers=alice
    ).json()
    assert earlier["data"] == before["results"][0]["data"]
    assert earlier["run"] == {**first, "stale": True}
    listed = client.get(f"{API}/campaigns/{campaign_id}/runs", headers=alice).json()["data"]
    assert [(r["status"], r["latest_results"]) for r in listed] == [
        ("completed", True),
        ("failed", False),
        ("completed", False),
    ]
    assert listed[1]["error_message"] == progress["error_message"]


@pytest.mark.parametrize(
    ("data", "named"),
    [
        (b"Site,Clicks\nexample.com,3\n", "impressions"),
        (b"Site,Impressions\nexample.com,1000\n", "ctr"),
        (b"Site,Impressions,Clicks,Advertiser Cost (USD)\n", "no data rows"),
        (b"\x00\x01\x02 binary", "looks binary"),
    ],
)
def test_start_refuses_a_file_that_cannot_be_scored(
    client: TestClient, container: Container, auth: Auth, data: bytes, named: str
) -> None:
    """The start check answers 422 naming the problem; the campaign stays as it was."""
    alice = auth("alice")
    campaign_id = create_campaign(client, alice)
    attach(container, campaign_id, data)
    response = client.post(f"{API}/scoring/start", json={"campaign_id": campaign_id}, headers=alice)
    assert response.status_code == 422, response.text
    assert response.json()["message"].startswith("the file cannot be scored:")
    assert named in response.json()["message"].lower()
    progress = client.get(f"{API}/scoring/progress/{campaign_id}", headers=alice).json()["data"]
    assert progress["status"] == "pending"


def test_an_unexpected_error_is_logged_and_reported_generically(
    client: TestClient,
    container: Container,
    auth: Auth,
    sample: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(pipeline, "score", broken)
    alice = auth("alice")
    campaign_id = create_campaign(client, alice)
    attach(container, campaign_id, sample.read_bytes())
    with caplog.at_level(logging.ERROR, logger="caliber.scoring.jobs"):
        client.post(f"{API}/scoring/start", json={"campaign_id": campaign_id}, headers=alice)
        run_jobs(container)
    progress = client.get(f"{API}/scoring/progress/{campaign_id}", headers=alice).json()["data"]
    assert progress["status"] == "failed"
    assert progress["error_message"] == scoring_jobs.GENERIC_FAILURE
    assert "secret internals" in caplog.text


def test_a_missing_stored_file_fails_readably(
    client: TestClient, container: Container, auth: Auth, sample: Path
) -> None:
    alice = auth("alice")
    campaign_id = create_campaign(client, alice)
    attach(container, campaign_id, sample.read_bytes())
    with session_scope(container.sessions) as session:
        campaign = session.get(Campaign, uuid.UUID(campaign_id))
        assert campaign is not None
        assert campaign.file_upload is not None
        key = campaign.file_upload.storage_key
    data = container.storage.read(key)
    container.storage.delete(key)
    refused = client.post(f"{API}/scoring/start", json={"campaign_id": campaign_id}, headers=alice)
    assert refused.status_code == 409
    assert "missing; upload it again" in refused.json()["message"]
    # gone between the start and the job: the job fails the campaign readably
    container.storage.save(key, io.BytesIO(data))
    held = hold_jobs(container)
    client.post(f"{API}/scoring/start", json={"campaign_id": campaign_id}, headers=alice)
    run_jobs(container)  # the recorder runs on the pool's thread
    container.storage.delete(key)
    run_scoring_job(container, campaign_id=held[0]["campaign_id"], user_id=held[0]["user_id"])
    progress = client.get(f"{API}/scoring/progress/{campaign_id}", headers=alice).json()["data"]
    assert progress["status"] == "failed"
    assert progress["error_message"] == scoring_jobs.MISSING_FILE


def test_redelivered_or_foreign_jobs_do_nothing(
    client: TestClient, container: Container, auth: Auth, sample: Path
) -> None:
    alice = auth("alice")
    campaign_id = scored_campaign(client, container, alice, sample.read_bytes())
    auth_bob = auth("bob")
    client.get(f"{API}/campaigns", headers=auth_bob)  # bob exists

    def snapshot() -> tuple[Any, ...]:
        with session_scope(container.sessions) as session:
            campaign = session.get(Campaign, uuid.UUID(campaign_id))
            assert campaign is not None
            runs = session.execute(
                select(ScoringRun.id, ScoringRun.status, ScoringRun.updated_at).where(
                    ScoringRun.campaign_id == campaign.id
                )
            ).all()
            return campaign.status, campaign.updated_at, campaign.completed_at, sorted(runs)

    before = snapshot()
    owner = client.get(f"{API}/campaigns/{campaign_id}", headers=alice).json()["data"]["owner_id"]
    scoring_jobs.run_scoring_job(container, campaign_id=campaign_id, user_id=owner)
    assert snapshot() == before

    # a processing campaign, but the job names another user: nothing happens
    hold_jobs(container)
    client.post(f"{API}/scoring/start", json={"campaign_id": campaign_id}, headers=alice)
    scoring_jobs.run_scoring_job(container, campaign_id=campaign_id, user_id=str(uuid.uuid4()))
    progress = client.get(f"{API}/scoring/progress/{campaign_id}", headers=alice).json()["data"]
    assert progress["status"] == "processing"
    assert progress["current_step"] == "queued"
    # the right one completes it
    scoring_jobs.run_scoring_job(container, campaign_id=campaign_id, user_id=owner)
    progress = client.get(f"{API}/scoring/progress/{campaign_id}", headers=alice).json()["data"]
    assert progress["status"] == "completed"


def test_a_result_is_discarded_if_the_campaign_left_processing(
    client: TestClient, container: Container, auth: Auth, sample: Path
) -> None:
    alice = auth("alice")
    campaign_id = create_campaign(client, alice)
    attach(container, campaign_id, sample.read_bytes())
    hold_jobs(container)
    client.post(f"{API}/scoring/start", json={"campaign_id": campaign_id}, headers=alice)
    uid = uuid.UUID(  # the services scope by the campaign's organization
        client.get(f"{API}/campaigns/{campaign_id}", headers=alice).json()["data"][
            "organization_id"
        ]
    )
    result = score(sample.read_bytes(), Setup.create(*TD_DISPLAY.values()), filename="x.csv")
    failed = {"status": "failed", "error_message": "stopped by hand"}
    assert (
        client.put(f"{API}/campaigns/{campaign_id}/status", json=failed, headers=alice).status_code
        == 200
    )
    with session_scope(container.sessions) as session:
        run = session.scalars(
            select(ScoringRun).where(ScoringRun.campaign_id == uuid.UUID(campaign_id))
        ).one()
        run_id, key = run.id, store.run_key(run.campaign_id, run.id)  # type: ignore[arg-type]
    cid = uuid.UUID(campaign_id)
    assert scoring_jobs.save_result(container, uid, cid, run_id, result) is False
    progress = client.get(f"{API}/scoring/progress/{campaign_id}", headers=alice).json()["data"]
    assert progress["status"] == "failed"
    assert progress["error_message"] == "stopped by hand"
    # the run failed with the campaign's reason, and nothing of it is stored
    listed = client.get(f"{API}/campaigns/{campaign_id}/runs", headers=alice).json()["data"]
    assert [(r["status"], r["error_message"]) for r in listed] == [("failed", "stopped by hand")]
    assert not container.storage.exists(key)


def test_a_failed_enqueue_fails_the_campaign(
    client: TestClient,
    container: Container,
    auth: Auth,
    sample: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse(name: str, **kwargs: Any) -> str:
        raise RuntimeError("queue down")

    alice = auth("alice")
    campaign_id = create_campaign(client, alice)
    attach(container, campaign_id, sample.read_bytes())
    monkeypatch.setattr(container.jobs, "enqueue", refuse)
    response = client.post(f"{API}/scoring/start", json={"campaign_id": campaign_id}, headers=alice)
    assert response.status_code == 503
    assert response.json()["error"] == "upstream_unavailable"
    assert "job queue is unavailable" in response.json()["message"]
    progress = client.get(f"{API}/scoring/progress/{campaign_id}", headers=alice).json()["data"]
    assert progress["status"] == "failed"
    assert "could not be queued" in progress["error_message"]


# --- reads ---------------------------------------------------------------------------------


@pytest.fixture
def scored(
    client: TestClient,
    container: Container,
    auth: Auth,
    sample: Path,
    engine_runs: list[EngineResult],
) -> tuple[str, dict[str, str], pl.DataFrame]:
    """A completed campaign of alice's, and the engine's results of its scoring job."""
    alice = auth("alice")
    campaign_id = scored_campaign(client, container, alice, sample.read_bytes())
    (run,) = engine_runs
    return campaign_id, alice, run.results.with_row_index("rank", offset=1)


def _expected(frame: pl.DataFrame, column: str, descending: bool) -> list[str]:
    """Score descending is the engine's rank order; other sorts break ties by rank in
    the sort's direction (one index range each); missing values last."""
    if column == "score" and descending:
        return frame.sort("rank")["domain"].to_list()
    ordered = frame.sort([column, "rank"], descending=descending, nulls_last=True)
    return ordered["domain"].to_list()


SORTABLE = (
    "score",
    "impressions",
    "spend",
    "cpm",
    "ctr",
    "conversion_rate",
    "percentile_rank",
    "domain",
)


def test_results_sort_by_every_allowed_column(
    client: TestClient, scored: tuple[str, dict[str, str], pl.DataFrame]
) -> None:
    """Each column both ways, ties by rank, missing values last."""
    campaign_id, alice, frame = scored
    for column in SORTABLE:
        for direction in ("asc", "desc"):
            rows = all_results(client, campaign_id, alice, sort_by=column, sort_direction=direction)
            expected = _expected(frame, column, direction == "desc")
            assert [r["domain"] for r in rows] == expected, (column, direction)
    default = all_results(client, campaign_id, alice)
    assert [r["domain"] for r in default] == frame["domain"].to_list()


def test_results_filters_and_pages(
    client: TestClient, scored: tuple[str, dict[str, str], pl.DataFrame]
) -> None:
    campaign_id, alice, frame = scored
    query = {
        "quality_status": "moderate",
        "min_score": 20,
        "max_score": 60.5,
        "min_impressions": 1000,
    }
    rows = all_results(client, campaign_id, alice, **query)
    expected = frame.filter(
        (pl.col("quality_status") == "moderate")
        & pl.col("score").is_between(20, 60.5)
        & (pl.col("impressions") >= 1000)
    )
    assert 0 < len(rows) < frame.height
    assert [r["domain"] for r in rows] == expected["domain"].to_list()

    url = f"{API}/scoring/results/{campaign_id}"
    body = client.get(url, params={"page": 2, "per_page": 7}, headers=alice).json()
    assert [r["domain"] for r in body["data"]] == frame["domain"].to_list()[7:14]
    assert (body["total"], body["page"], body["per_page"]) == (frame.height, 2, 7)
    assert body["has_prev"] is True
    assert body["has_next"] is True
    beyond = client.get(url, params={"page": 10_000}, headers=alice).json()
    assert beyond["data"] == []
    assert beyond["has_next"] is False


def test_runs_beyond_the_cache_budget_page_the_same_read_per_request(
    client: TestClient, scored: tuple[str, dict[str, str], pl.DataFrame]
) -> None:
    """RESULT_CACHE_ROWS decides whether a run is held or read per request, never what
    its pages hold. (The SQL layout paged such runs by SQL.)"""
    campaign_id, alice, _ = scored
    queries: list[dict[str, Any]] = [
        {},
        {"sort_by": "ctr", "sort_direction": "asc", "page": 3, "per_page": 20},
        {"sort_by": "cpm", "quality_status": "poor", "per_page": 100},
        {"sort_by": "domain", "sort_direction": "desc", "min_impressions": 1000, "page": 2},
        {"sort_by": "impressions", "min_score": 10, "max_score": 80, "page": 2},
    ]
    paths = [f"{API}/scoring/results/{campaign_id}"] * len(queries)
    paths += [f"{API}/scoring/whitelist/{campaign_id}", f"{API}/scoring/blacklist/{campaign_id}"]
    queries += [{"min_impressions": 2000}, {}]

    def answers() -> list[Any]:
        return [
            client.get(path, params=query, headers=alice).json()
            for path, query in zip(paths, queries, strict=True)
        ]

    scoring_answers.clear_read_caches()
    from_memory = answers()
    assert len(result_pages.index()._runs) == 1  # held
    try:
        result_pages.configure(0)  # every run is now "too large": read per request
        scoring_answers.clear_read_caches()
        from_file = answers()
        assert len(result_pages.index()._runs) == 0  # nothing held
    finally:
        result_pages.configure(result_pages.DEFAULT_MAX_ROWS)
    assert from_file == from_memory
    assert all(a["data"] for a in from_memory)


@pytest.mark.parametrize("fractional", [False, True])
def test_the_encoded_lists_equal_the_models(
    client: TestClient,
    container: Container,
    scored: tuple[str, dict[str, str], pl.DataFrame],
    fractional: bool,
) -> None:
    """Lists are encoded straight from the frame (by polars when impressions are whole
    counts, value by value otherwise): the same JSON as the response model, for awkward
    names too."""
    campaign_id, _, _ = scored
    cid = uuid.UUID(campaign_id)
    odd = ['quote"name.example', "back\\slash.example", "ünïcødé.例え.jp", "tab\tname.example"]

    def change(frame: pl.DataFrame) -> pl.DataFrame:
        names = frame["domain"].to_list()
        names[:2], names[-2:] = odd[:2], odd[2:]
        frame = frame.with_columns(pl.Series("domain", names))
        if fractional:
            impressions = frame["impressions"].cast(pl.Float64).to_list()
            impressions[0] += 0.5
            frame = frame.with_columns(pl.Series("impressions", impressions))
        return frame

    rewrite_run(container, campaign_id, change)
    with session_scope(container.sessions) as session:
        user_id = session.scalar(select(Campaign.organization_id).where(Campaign.id == cid))
        assert user_id is not None
        for kind in ("whitelist", "blacklist"):
            answer = scoring_lists.optimization_list_json(session, user_id, cid, kind)
            encoded = json.loads(answer.body)
            model = scoring_lists.optimization_list(session, user_id, cid, kind)
            assert encoded == {
                "success": True,
                "data": model.model_dump(mode="json"),
                "message": None,
                "run": answer.run.to_dict(),
            }
            assert set(odd) & set(model.domains)
            impressions = [e["impressions"] for e in encoded["data"]["entries"]]
            assert any(isinstance(i, float) for i in impressions) == (
                fractional and kind == "whitelist"
            )
    scoring_answers.clear_read_caches()


BAD_RESULT_PARAMETERS: list[tuple[dict[str, Any], str]] = [
    ({"sort_by": "clicks"}, "sort_by"),
    ({"sort_by": "score; drop table campaigns"}, "sort_by"),
    ({"sort_direction": "up"}, "sort_direction"),
    ({"quality_status": "great"}, "quality_status"),
    ({"min_score": -1}, "min_score"),
    ({"max_score": 100.5}, "max_score"),
    ({"min_score": "nan"}, "min_score"),
    ({"min_impressions": -5}, "min_impressions"),
    ({"per_page": 101}, "per_page"),
    ({"page": 0}, "page"),
    ({"min_score": 70, "max_score": 30}, "min_score"),
]


def test_bad_result_parameters_are_422_naming_the_parameter(client: TestClient, auth: Auth) -> None:
    alice = auth("alice")
    campaign_id = create_campaign(client, alice)  # parameters are checked before the state
    for params, name in BAD_RESULT_PARAMETERS:
        response = client.get(f"{API}/scoring/results/{campaign_id}", params=params, headers=alice)
        assert response.status_code == 422, params
        body = response.json()
        assert body["success"] is False
        assert name in body["message"], (params, body)


def test_lists_follow_min_impressions(
    client: TestClient, scored: tuple[str, dict[str, str], pl.DataFrame]
) -> None:
    campaign_id, alice, frame = scored
    lists = build_lists(frame, "domain", 5000)
    body = {"campaign_id": campaign_id, "list_type": "blacklist", "min_impressions": 5000}
    posted = client.post(f"{API}/scoring/optimization-list", json=body, headers=alice).json()[
        "data"
    ]
    assert posted["domains"] == lists.blacklist["domain"].to_list()
    assert posted["criteria_used"]["min_impressions"] == 5000
    assert posted["criteria_used"]["blacklist_max_score"] == lists.blacklist_threshold
    got = client.get(
        f"{API}/scoring/whitelist/{campaign_id}", params={"min_impressions": 5000}, headers=alice
    ).json()["data"]
    assert got["domains"] == lists.whitelist["domain"].to_list()
    assert [e["domain"] for e in got["entries"]] == got["domains"]

    nobody = client.get(
        f"{API}/scoring/whitelist/{campaign_id}", params={"min_impressions": 1e12}, headers=alice
    ).json()["data"]
    assert (nobody["domains"], nobody["total_impressions"], nobody["average_score"]) == (
        [],
        0,
        None,
    )

    for bad in (
        {**body, "list_type": "greylist"},
        {**body, "min_impressions": -1},
        {**body, "extra": 1},
        {"list_type": "whitelist"},
    ):
        response = client.post(f"{API}/scoring/optimization-list", json=bad, headers=alice)
        assert response.status_code == 422, bad
    bad_query = client.get(
        f"{API}/scoring/blacklist/{campaign_id}", params={"min_impressions": -1}, headers=alice
    )
    assert bad_query.status_code == 422
    assert "min_impressions" in bad_query.json()["message"]


def test_another_user_gets_404_everywhere(
    client: TestClient, auth: Auth, scored: tuple[str, dict[str, str], pl.DataFrame]
) -> None:
    campaign_id, _, _ = scored
    mallory = auth("mallory")
    for path in ("progress", "results", "summary", "whitelist", "blacklist"):
        response = client.get(f"{API}/scoring/{path}/{campaign_id}", headers=mallory)
        assert response.status_code == 404, path
        assert response.json()["error"] == "not_found"
    start = client.post(f"{API}/scoring/start", json={"campaign_id": campaign_id}, headers=mallory)
    assert start.status_code == 404
    body = {"campaign_id": campaign_id, "list_type": "whitelist"}
    assert (
        client.post(f"{API}/scoring/optimization-list", json=body, headers=mallory).status_code
        == 404
    )
    missing = client.get(f"{API}/scoring/progress/{uuid.uuid4()}", headers=mallory)
    assert missing.status_code == 404


def test_reads_of_a_campaign_not_completed_are_409(client: TestClient, auth: Auth) -> None:
    alice = auth("alice")
    campaign_id = create_campaign(client, alice)
    progress = client.get(f"{API}/scoring/progress/{campaign_id}", headers=alice).json()["data"]
    assert (progress["status"], progress["progress_percentage"]) == ("pending", 0)
    for path in ("results", "summary", "whitelist", "blacklist"):
        response = client.get(f"{API}/scoring/{path}/{campaign_id}", headers=alice)
        assert response.status_code == 409, path
        assert "no scoring results yet" in response.json()["message"]
    body = {"campaign_id": campaign_id, "list_type": "whitelist"}
    assert (
        client.post(f"{API}/scoring/optimization-list", json=body, headers=alice).status_code == 409
    )
    assert client.get(f"{API}/scoring/progress/{campaign_id}").status_code == 401
