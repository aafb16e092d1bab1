"""Scoring through the API an export whose table does not start at the first line of the
first sheet (issue 16 §2): each shape stores the same results, lists and totals as its
plain twin, and the campaign's report says where the table was read."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from caliber.api.container import Container
from tests.api.test_files import uploaded
from tests.api.test_scoring import API, all_results, scored_campaign
from tests.engine import shapes
from tests.engine.exports import make_export

Auth = Callable[[str], dict[str, str]]


def _scored(
    client: TestClient, container: Container, headers: dict[str, str], data: bytes
) -> dict[str, Any]:
    """What the API answers for a campaign scored on ``data``: results, lists, summary."""
    campaign_id = scored_campaign(client, container, headers, data)
    answers: dict[str, Any] = {"results": all_results(client, campaign_id, headers)}
    for list_type in ("whitelist", "blacklist"):
        body = client.get(f"{API}/scoring/{list_type}/{campaign_id}", headers=headers).json()
        answers[list_type] = {k: v for k, v in body["data"].items() if k != "campaign_id"}
    summary = client.get(f"{API}/scoring/summary/{campaign_id}", headers=headers).json()["data"]
    answers["report"] = summary["processing_report"]
    answers["summary"] = {
        k: v
        for k, v in summary.items()
        if k not in ("campaign_id", "processing_report", "rows", "data_quality_warnings")
    }
    return answers


def _without_ids(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if k not in ("id", "campaign_id")} for row in rows]


@pytest.mark.parametrize(
    ("shape", "header_row", "sheet"),
    [
        ("titled.csv", 8, None),
        ("titled.xlsx", 8, {"name": "Report", "index": 0, "chosen": "only sheet"}),
        ("second-sheet.xlsx", 1, {"name": "Data", "index": 1, "chosen": "best match"}),
        ("two-sheets.xlsx", 1, {"name": "Display", "index": 1, "chosen": "best match"}),
    ],
)
def test_every_shape_scores_as_its_plain_twin(
    client: TestClient,
    container: Container,
    auth: Auth,
    shape: str,
    header_row: int,
    sheet: dict[str, Any] | None,
) -> None:
    display = make_export("trade_desk", "display", seed=41)
    rows = shapes.rows_of(display)
    data = {
        "titled.csv": shapes.titled_csv(display),
        "titled.xlsx": shapes.xlsx(("Report", shapes.titled(rows))),
        "second-sheet.xlsx": shapes.xlsx(("Notes", shapes.NOTES_SHEET), ("Data", rows)),
        "two-sheets.xlsx": shapes.xlsx(
            ("Video", shapes.rows_of(make_export("trade_desk", "video", seed=42))),
            ("Display", rows),
        ),
    }[shape]
    alice = auth("alice")
    plain = _scored(client, container, alice, display.encode())
    got = _scored(client, container, alice, data)
    assert _without_ids(got["results"]) == _without_ids(plain["results"])
    assert got["whitelist"] == plain["whitelist"]
    assert got["blacklist"] == plain["blacklist"]
    assert got["summary"] == plain["summary"]
    assert got["report"]["header_row"] == header_row
    assert got["report"]["skipped_lines"]["count"] == header_row - 1
    assert got["report"]["sheet"] == sheet


@pytest.mark.parametrize("shape", ["titled.csv", "titled.xlsx", "second-sheet.xlsx"])
def test_the_preview_shows_the_table_from_its_header_row(
    client: TestClient, auth: Auth, shape: str
) -> None:
    display = make_export("trade_desk", "display", seed=43)
    rows = shapes.rows_of(display)
    data = {
        "titled.csv": shapes.titled_csv(display),
        "titled.xlsx": shapes.xlsx(("Report", shapes.titled(rows))),
        "second-sheet.xlsx": shapes.xlsx(("Notes", shapes.NOTES_SHEET), ("Data", rows)),
    }[shape]
    alice = auth("alice")
    file = uploaded(client, alice, name=shape, data=data)
    url = f"{API}/reports/files/{file['id']}/preview"
    preview = client.get(url, params={"rows": 5}, headers=alice).json()["data"]
    assert preview["headers"] == rows[0]
    assert [r[:2] for r in preview["rows"]] == [r[:2] for r in rows[1:6]]
