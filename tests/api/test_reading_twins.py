"""How a file is read, through the API (issue 16), on SQLite and PostgreSQL.

``GET /reports/files/{id}/validate`` answers, for the campaign's setup, the reading
choices in effect and where each came from, the number format, header row and sheet,
each input's column, and what is missing with the columns that look like it; and an
export in an odd shape, scored with the reading choices that fit it (set on the
campaign, on the upload or on both), stores the same results, lists and totals as its
plainly spelled twin.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from caliber.api.container import Container
from tests.api.conftest import run_jobs
from tests.api.test_scoring import all_results
from tests.engine import shapes
from tests.engine.column_exports import per_tag_twins, publisher_twins, total
from tests.engine.exports import make_export
from tests.engine.number_exports import number_twins

Auth = Callable[[str], dict[str, str]]
API = "/api/v1"
TD_ACTION = {"platform": "trade_desk", "goal": "action", "channel": "display"}
TD_CTV = {"platform": "trade_desk", "goal": "awareness", "channel": "ctv"}
TD_DISPLAY = {"platform": "trade_desk", "goal": "awareness", "channel": "display"}
COUNTED = [total("01"), total("02")]  # the campaign's conversion tags (03 is another's)


def campaign(client: TestClient, headers: dict[str, str], **fields: Any) -> str:
    response = client.post(f"{API}/campaigns", json={"name": "C", **fields}, headers=headers)
    assert response.status_code == 201, response.text
    campaign_id: str = response.json()["data"]["id"]
    return campaign_id


def upload(
    client: TestClient,
    headers: dict[str, str],
    campaign_id: str,
    data: bytes,
    name: str = "export.csv",
    **fields: Any,
) -> str:
    form = {k: json.dumps(v) if isinstance(v, dict) else str(v) for k, v in fields.items()}
    response = client.post(
        f"{API}/campaigns/{campaign_id}/upload",
        files={"file": (name, data, "application/octet-stream")},
        data=form,
        headers=headers,
    )
    assert response.status_code == 201, response.text
    file_id: str = response.json()["data"]["id"]
    return file_id


def validate(
    client: TestClient, headers: dict[str, str], file_id: str, **query: Any
) -> dict[str, Any]:
    params = {k: json.dumps(v) if isinstance(v, dict) else v for k, v in query.items()}
    response = client.get(f"{API}/reports/files/{file_id}/validate", params=params, headers=headers)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def scored(
    client: TestClient, container: Container, headers: dict[str, str], campaign_id: str
) -> dict[str, Any]:
    """Score the campaign; what the API then answers: rows, lists and summary."""
    started = client.post(
        f"{API}/scoring/start", json={"campaign_id": campaign_id}, headers=headers
    )
    assert started.status_code == 202, started.text
    run_jobs(container)
    done = client.get(f"{API}/campaigns/{campaign_id}", headers=headers).json()["data"]
    assert done["status"] == "completed", done["error_message"]
    rows = all_results(client, campaign_id, headers)
    answers: dict[str, Any] = {
        "results": [{k: v for k, v in r.items() if k not in ("id", "campaign_id")} for r in rows]
    }
    for list_type in ("whitelist", "blacklist"):
        body = client.get(f"{API}/scoring/{list_type}/{campaign_id}", headers=headers).json()
        answers[list_type] = {k: v for k, v in body["data"].items() if k != "campaign_id"}
    summary = client.get(f"{API}/scoring/summary/{campaign_id}", headers=headers).json()["data"]
    answers["summary"] = {
        k: v
        for k, v in summary.items()
        if k not in ("campaign_id", "processing_report", "rows", "data_quality_warnings")
    }
    answers["report"] = summary["processing_report"]
    return answers


def same_results(plain: dict[str, Any], odd: dict[str, Any]) -> None:
    for key in ("results", "whitelist", "blacklist", "summary"):
        assert odd[key] == plain[key], key


# --- validate ------------------------------------------------------------------------------


def test_validate_shows_how_the_file_is_read_and_what_is_missing(
    client: TestClient, auth: Auth
) -> None:
    """A per-tag export for an action campaign: no conversions column, the tags offered
    as candidates with the exact mapping; trying, saving or uploading the mapping makes
    it ready, and the answer says where each choice came from."""
    alice = auth("alice")
    _, tagged = per_tag_twins(seed=21)
    campaign_id = campaign(client, alice, **TD_ACTION)
    file_id = upload(client, alice, campaign_id, tagged)

    found = validate(client, alice, file_id)
    assert found["valid"] is False
    assert found["campaign"]["campaign_id"] == campaign_id
    assert found["read_options"]["sources"] == {
        "number_format": "detected",
        "header_row": "detected",
        "sheet": "detected",
        "column_mapping": {},
    }
    reading = found["reading"]
    assert reading["number_format"]["used"] == "point"
    assert (reading["header_row"], reading["header_row_chosen"]) == (1, "detected")
    assert (reading["sheet"], reading["sheets"]) == (None, [])
    assert found["inputs"]["domain"] == {
        "headers": ["Site"],
        "summed": False,
        "source": "matched",
        "metrics": [],
    }
    [missing] = found["missing"]
    assert missing["name"] == "conversion_rate"
    tags = {c["tag"] for c in missing["candidates"]["conversions"]}
    assert tags == {"01", "02", "03"}
    assert missing["suggested_columns"]["conversions"] == [*COUNTED, total("03")]
    assert found["errors"][0]["error"] == "missing_metric"
    assert "--column conversions=" in found["message"]

    # trying a mapping (nothing saved): ready, the tags added up
    tried = validate(client, alice, file_id, column_mapping={"conversions": COUNTED})
    assert tried["valid"] is True, tried["message"]
    assert tried["inputs"]["conversions"]["headers"] == COUNTED
    assert tried["inputs"]["conversions"]["summed"] is True
    assert tried["inputs"]["conversions"]["source"] == "given"
    assert tried["read_options"]["sources"]["column_mapping"] == {"conversions": "request"}
    assert validate(client, alice, file_id)["valid"] is False

    # saved on the campaign, then overridden by the upload, field by field
    saved = client.put(
        f"{API}/campaigns/{campaign_id}/read-options",
        json={"column_mapping": {"conversions": COUNTED}, "number_format": "point"},
        headers=alice,
    )
    assert saved.status_code == 200, saved.text
    from_campaign = validate(client, alice, file_id)
    assert from_campaign["valid"] is True
    assert from_campaign["read_options"]["sources"]["number_format"] == "campaign"
    assert from_campaign["reading"]["number_format"]["decided"] == "given"
    again = upload(client, alice, campaign_id, tagged, header_row="1")
    from_upload = validate(client, alice, again)
    assert from_upload["valid"] is True
    assert from_upload["read_options"]["header_row"] == 1
    assert from_upload["read_options"]["sources"]["header_row"] == "upload"
    assert from_upload["read_options"]["sources"]["column_mapping"] == {"conversions": "campaign"}
    assert from_upload["reading"]["header_row_chosen"] == "given"


@pytest.mark.parametrize(
    ("query", "field", "fragment"),
    [
        ({"number_format": "european"}, "number_format", "'auto', 'point' or 'comma'"),
        ({"header_row": "0"}, "header_row", "greater than or equal to 1"),
        ({"sheet": "x" * 150}, "sheet", "at most 100 characters"),
        ({"column_mapping": '{"site": "Site"}'}, "column_mapping", "which is no input"),
        ({"column_mapping": "conversions"}, "column_mapping", "not valid JSON"),
    ],
)
def test_validate_refuses_bad_choices_naming_the_field(
    client: TestClient, auth: Auth, query: dict[str, str], field: str, fragment: str
) -> None:
    alice = auth("alice")
    file_id = upload(
        client,
        alice,
        campaign(client, alice, **TD_DISPLAY),
        make_export("trade_desk", "display", seed=4).encode(),
    )
    response = client.get(f"{API}/reports/files/{file_id}/validate", params=query, headers=alice)
    assert response.status_code == 422, response.text
    assert response.json()["message"].startswith(field)
    assert fragment in response.json()["message"]


def test_a_choice_the_file_does_not_fit_is_a_result_naming_it(
    client: TestClient, auth: Auth
) -> None:
    """A mapping naming a header the file lacks, a sheet it lacks: ``valid: false`` with
    the engine's reason (not an HTTP error), and starting a run is a 422 saying why."""
    alice = auth("alice")
    campaign_id = campaign(client, alice, **TD_DISPLAY, column_mapping={"clicks": "Clicks (all)"})
    file_id = upload(
        client, alice, campaign_id, make_export("trade_desk", "display", seed=6).encode()
    )
    found = validate(client, alice, file_id)
    assert found["valid"] is False
    assert "Clicks (all)" in found["message"]
    refused = client.post(f"{API}/scoring/start", json={"campaign_id": campaign_id}, headers=alice)
    assert refused.status_code == 422
    assert "Clicks (all)" in refused.json()["message"]
    book = shapes.xlsx(("Report", shapes.rows_of(make_export("trade_desk", "display", seed=6))))
    workbook = upload(client, alice, campaign(client, alice, **TD_DISPLAY), book, "r.xlsx")
    missing_sheet = validate(client, alice, workbook, sheet="Data")
    assert missing_sheet["valid"] is False
    assert "Data" in missing_sheet["message"]
    assert "Report" in missing_sheet["message"]  # the sheets there are


# --- twins: an odd shape with its reading choices scores as its plain twin --------------------


def test_per_tag_conversions_mapped_on_the_campaign_score_as_the_plain_twin(
    client: TestClient, container: Container, auth: Auth
) -> None:
    alice = auth("alice")
    plain, tagged = per_tag_twins(seed=22)
    reference = campaign(client, alice, **TD_ACTION)
    upload(client, alice, reference, plain)
    mapped = campaign(client, alice, **TD_ACTION, column_mapping={"conversions": COUNTED})
    upload(client, alice, mapped, tagged)
    odd = scored(client, container, alice, mapped)
    same_results(scored(client, container, alice, reference), odd)
    assert odd["report"]["input_columns"]["conversions"]["headers"] == COUNTED
    # refused before the mapping: the start names the tags to choose from
    unmapped = campaign(client, alice, **TD_ACTION)
    upload(client, alice, unmapped, tagged)
    refused = client.post(f"{API}/scoring/start", json={"campaign_id": unmapped}, headers=alice)
    assert refused.status_code == 422
    assert total("01") in refused.json()["message"]


def test_a_publisher_report_mapped_on_upload_scores_as_the_plain_twin(
    client: TestClient, container: Container, auth: Auth
) -> None:
    alice = auth("alice")
    plain, by_publisher = publisher_twins(seed=23)
    reference = campaign(client, alice, **TD_CTV)
    upload(client, alice, reference, plain)
    mapped = campaign(client, alice, **TD_CTV)
    upload(client, alice, mapped, by_publisher, column_mapping={"supply_vendor": "Publisher Name"})
    odd = scored(client, container, alice, mapped)
    same_results(scored(client, container, alice, reference), odd)
    assert odd["report"]["input_columns"]["supply_vendor"]["headers"] == ["Publisher Name"]


def test_a_title_block_and_a_second_sheet_given_score_as_the_plain_twin(
    client: TestClient, container: Container, auth: Auth
) -> None:
    """The header row given on the upload, the sheet given on the campaign."""
    alice = auth("alice")
    text = make_export("trade_desk", "display", seed=24)
    reference = campaign(client, alice, **TD_DISPLAY)
    upload(client, alice, reference, text.encode())
    plain = scored(client, container, alice, reference)

    titled = campaign(client, alice, **TD_DISPLAY)
    upload(client, alice, titled, shapes.titled_csv(text), header_row=8)
    odd = scored(client, container, alice, titled)
    same_results(plain, odd)
    assert (odd["report"]["header_row"], odd["report"]["header_row_chosen"]) == (8, "given")

    book = shapes.xlsx(("Notes", shapes.NOTES_SHEET), ("Data", shapes.rows_of(text)))
    on_sheet = campaign(client, alice, **TD_DISPLAY, sheet="Data")
    upload(client, alice, on_sheet, book, "export.xlsx")
    odd = scored(client, container, alice, on_sheet)
    same_results(plain, odd)
    assert odd["report"]["sheet"] == {"name": "Data", "index": 1, "chosen": "given"}


def test_preview_reads_the_sheet_the_upload_names(client: TestClient, auth: Auth) -> None:
    alice = auth("alice")
    text = make_export("trade_desk", "display", seed=25)
    book = shapes.xlsx(("Notes", shapes.NOTES_SHEET), ("Data", shapes.rows_of(text)))
    campaign_id = campaign(client, alice, **TD_DISPLAY)
    detected = upload(client, alice, campaign_id, book, "export.xlsx")
    url = f"{API}/reports/files/{{}}/preview"
    shown = client.get(url.format(detected), headers=alice).json()["data"]
    assert shown["headers"][:2] == ["Date", "Site"]  # the sheet that matches the setup
    named = upload(client, alice, campaign_id, book, "export.xlsx", sheet="Notes")
    shown = client.get(url.format(named), headers=alice).json()["data"]
    assert shown["headers"][0] == shapes.NOTES_SHEET[0][0]


def test_a_comma_export_given_its_number_format_scores_as_the_plain_twin(
    client: TestClient, container: Container, auth: Auth
) -> None:
    """The Trade Desk's International export, number_format "comma" given on the upload
    (on a campaign that says "point": the upload's choice wins for its file)."""
    alice = auth("alice")
    twins = number_twins(26)
    reference = campaign(client, alice, **TD_DISPLAY)
    upload(client, alice, reference, twins["plain.csv"])
    comma = campaign(client, alice, **TD_DISPLAY, number_format="point")
    file_id = upload(client, alice, comma, twins["ttd_international.csv"], number_format="comma")
    checked = validate(client, alice, file_id)
    assert checked["read_options"]["number_format"] == "comma"
    assert checked["read_options"]["sources"]["number_format"] == "upload"
    assert checked["reading"]["number_format"]["used"] == "comma"
    assert checked["reading"]["number_format"]["decided"] == "given"
    odd = scored(client, container, alice, comma)
    same_results(scored(client, container, alice, reference), odd)
    assert odd["report"]["number_format"]["used"] == "comma"
    assert odd["report"]["number_format"]["decided"] == "given"
