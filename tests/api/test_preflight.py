"""The check before a scoring run (issue 19): it reads the file's header and first rows,
not the whole file again, since the run parses the whole file itself. What it refuses
with a 422 at start is in tests/api/test_scoring.py."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient

from caliber.api.container import Container
from caliber.sample.export import write_sample
from tests.api.conftest import run_jobs

API = "/api/v1"
SETUP = {"platform": "trade_desk", "goal": "awareness", "channel": "display"}
HEADER = "Site,Impressions,Clicks,Advertiser Cost (USD)\n"


def _rows(first: int, count: int) -> str:
    return "".join(f"site{i}.com,{1000 + i},{i % 7},$1.00\n" for i in range(first, first + count))


def test_a_row_the_start_check_does_not_read_fails_the_run_saying_why(
    client: TestClient,
    container: Container,
    auth: Callable[[str], dict[str, str]],
    tmp_path: Path,
) -> None:
    """A quote left open 6,000 rows down (past the first 5,000 rows the number format is
    decided on): before issue 19 the start check parsed the whole file and answered 422;
    now it reads the head only, so the run starts (202) and the run, parsing the file,
    fails with the parser's message on the campaign."""
    alice = auth("alice")
    created = client.post(f"{API}/campaigns", json={"name": "Deep", **SETUP}, headers=alice)
    campaign_id = created.json()["data"]["id"]
    export = tmp_path / "deep.csv"
    write_sample(export, "trade_desk", "display", rows=8000)
    lines = export.read_bytes().splitlines(keepends=True)
    data = b"".join([*lines[:6001], b'broken.com,"12,1\n', *lines[6001:]])
    uploaded = client.post(
        f"{API}/campaigns/{campaign_id}/upload",
        files={"file": ("deep.csv", data, "text/csv")},
        headers=alice,
    )
    assert uploaded.status_code < 300, uploaded.text
    started = client.post(f"{API}/scoring/start", json={"campaign_id": campaign_id}, headers=alice)
    assert started.status_code == 202, started.text
    run_jobs(container)
    progress = client.get(f"{API}/scoring/progress/{campaign_id}", headers=alice).json()["data"]
    assert progress["status"] == "failed"
    assert progress["error_message"].startswith("the file could not be parsed")


def test_the_start_check_still_refuses_a_file_without_data_rows(
    client: TestClient, container: Container, auth: Callable[[str], dict[str, str]]
) -> None:
    alice = auth("alice")
    created = client.post(f"{API}/campaigns", json={"name": "Empty", **SETUP}, headers=alice)
    campaign_id = created.json()["data"]["id"]
    client.post(
        f"{API}/campaigns/{campaign_id}/upload",
        files={"file": ("empty.csv", HEADER.encode(), "text/csv")},
        headers=alice,
    )
    started = client.post(f"{API}/scoring/start", json={"campaign_id": campaign_id}, headers=alice)
    assert started.status_code == 422, started.text
    assert "no data rows" in started.json()["message"]


def test_validating_a_file_still_counts_every_row(
    client: TestClient, auth: Callable[[str], dict[str, str]]
) -> None:
    """The validate route (not a run) keeps its whole count."""
    alice = auth("alice")
    data = (HEADER + _rows(0, 2500)).encode()
    uploaded = client.post(
        f"{API}/reports/upload", files={"file": ("rows.csv", data, "text/csv")}, headers=alice
    )
    file_id = uploaded.json()["data"]["id"]
    verdict = client.get(f"{API}/reports/files/{file_id}/validate", headers=alice).json()["data"]
    assert verdict["row_count"] == 2500
