"""The hostile-upload corpus (tests/api/hostile_files.py) against the running app: every
file gets a clear answer (4xx naming the problem, or a failed run saying why), valid
oddities score, the server stays healthy, and nothing stored before is touched."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from caliber.api.container import Container
from caliber.cli.main import main as cli
from tests.api.conftest import run_jobs
from tests.api.hostile_files import GOOD, LARGE, Hostile, corpus
from tests.api.test_scoring import (
    API,
    all_results,
    create_campaign,
    read_csv,
    scored_campaign,
)
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


def _odd_files() -> dict[str, bytes]:
    """Files whose odd cells or encodings the engine decides (issue 14), the same way
    for the command line and the scoring job, on SQLite and PostgreSQL alike."""
    rows = list(csv.reader(io.StringIO(GOOD)))
    site = rows[0].index("Site")
    long_name = [list(r) for r in rows]
    long_name[1][site] = "x" * 600  # the results' column holds 512 characters
    huge_cell = [list(r) for r in rows]
    huge_cell[2][site] = "y" * 40_000_000  # a quote left open swallows the file
    counts = [list(r) for r in rows]
    counts[1][rows[0].index("Impressions")] = "1e19"  # does not fit a 64-bit integer
    return {
        "long name": _csv(long_name),
        "40 MB cell": _csv(huge_cell),
        "count of 1e19": _csv(counts),
        "nul in a name": LARGE.encode().replace(b"site290.com", b"site\x00290.com"),
        "windows-1252 after 64 KB": LARGE.replace("site001.com", "café.fr").encode()
        + "2024-03-01,bücher.de,Rubicon,1000,1,$1,0,50%,1,1\n".encode("cp1252"),
        "cr line endings": GOOD.replace("\n", "\r").encode(),
    }


def _csv(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue().encode()


ODD = _odd_files()


@pytest.mark.parametrize("name", list(ODD))
def test_odd_cells_score_the_same_in_the_job_and_the_cli(
    client: TestClient,
    container: Container,
    auth: Callable[[str], dict[str, str]],
    name: str,
    tmp_path: Path,
) -> None:
    data = ODD[name]
    path = tmp_path / "odd.csv"
    path.write_bytes(data)
    out = tmp_path / "out"
    args = ["score", str(path), "-p", "trade_desk", "-g", "awareness", "-c", "display"]
    assert cli([*args, "-o", str(out), "--quiet"]) == 0
    expected = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    cli_names = [row["domain"] for row in read_csv(out / "results.csv")]

    alice = auth("odd-alice")
    campaign_id = scored_campaign(client, container, alice, data)
    summary = client.get(f"{API}/scoring/summary/{campaign_id}", headers=alice).json()["data"]
    stored = [row["domain"] for row in all_results(client, campaign_id, alice)]

    assert stored == cli_names
    assert summary["rows"] == expected["rows"]
    assert summary["data_quality_warnings"] == expected["data_quality_warnings"]
    codes = {w["code"] for w in summary["data_quality_warnings"]}
    names = set(stored)
    if name in ("long name", "40 MB cell"):
        assert summary["rows"]["dropped"]["dimension_too_long"] == 1
        assert "dimension_too_long" in codes
        assert max(len(n) for n in names) <= 512
    elif name == "count of 1e19":
        [warning] = [w for w in summary["data_quality_warnings"] if w["code"] == "count_too_large"]
        assert "'1e19' in row 2" in warning["message"]
    elif name == "nul in a name":
        assert "site290.com" in names
        assert not any("\x00" in n for n in names)
        assert "nul_in_names" in codes
    elif name == "windows-1252 after 64 KB":
        assert {"café.fr", "bücher.de"} <= names
        [warning] = [
            w for w in summary["data_quality_warnings"] if w["code"] == "windows_1252_lines"
        ]
        assert warning["count"] == 1
        assert f"line {LARGE.count(chr(10)) + 1}" in warning["message"]
    else:
        assert len(names) == 40  # every site of GOOD, the aggregate rows dropped
