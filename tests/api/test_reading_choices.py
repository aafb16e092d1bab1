"""Reading choices through the API (issue 16), on SQLite and PostgreSQL: templates,
campaigns and uploads store them (``number_format``, ``sheet``, ``header_row``,
``column_mapping``), a campaign copies its template's, a run reads its file with those
resolved at start (upload > campaign > detection) and records them; bad values are a 422
naming the field. Also the seed's field names (``campaign_type``, ``analysis_level``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from caliber.api.container import Container
from tests.api.conftest import run_jobs
from tests.api.test_campaigns import campaigns_in, make_campaign, make_template
from tests.api.test_files import rows_in_db, upload
from tests.engine.exports import make_export

Auth = Callable[[str], dict[str, str]]
API = "/api/v1"
CAMPAIGNS = f"{API}/campaigns"
TD_DISPLAY = {"platform": "trade_desk", "goal": "awareness", "channel": "display"}
TAGS = ["01 - Click Conversion", "01 - View Through Conversion"]
CHOICES: dict[str, Any] = {
    "number_format": "comma",
    "sheet": "Report",
    "header_row": 3,
    "column_mapping": {" Conversions ": TAGS, "domain": " Publisher Name "},
}
# as stored and answered: names lower-cased, headers trimmed, one header as a list
STORED: dict[str, Any] = {
    **CHOICES,
    "column_mapping": {"conversions": TAGS, "domain": ["Publisher Name"]},
}
DETECT: dict[str, Any] = {
    "number_format": "auto",
    "sheet": None,
    "header_row": None,
    "column_mapping": {},
}
EXPORT = make_export("trade_desk", "display", seed=11).encode()


def reading(data: dict[str, Any]) -> dict[str, Any]:
    return {key: data[key] for key in DETECT}


# --- stored on templates and campaigns -----------------------------------------------------


def test_templates_and_campaigns_store_reading_choices(client: TestClient, auth: Auth) -> None:
    alice = auth("alice")
    template = make_template(client, alice, **CHOICES)
    assert reading(template) == STORED
    got = client.get(f"{CAMPAIGNS}/templates/{template['id']}", headers=alice).json()["data"]
    assert reading(got) == STORED

    # a campaign from the template copies its choices...
    copied = make_campaign(client, alice, template_id=template["id"])
    assert reading(copied) == STORED
    assert reading(client.get(f"{CAMPAIGNS}/{copied['id']}", headers=alice).json()["data"]) == (
        STORED
    )
    # ...and fields sent beside template_id override them, field by field (null: detect)
    overridden = make_campaign(
        client,
        alice,
        template_id=template["id"],
        number_format="point",
        header_row=None,
        column_mapping={"clicks": "Clicks"},
    )
    assert reading(overridden) == {
        **STORED,
        "number_format": "point",
        "header_row": None,
        "column_mapping": {"clicks": ["Clicks"]},
    }
    # none given: everything detected; a sheet given by index stays a number
    assert reading(make_campaign(client, alice)) == DETECT
    assert make_campaign(client, alice, sheet=1)["sheet"] == 1
    assert make_campaign(client, alice, sheet="2024")["sheet"] == "2024"


def test_reading_choices_are_replaced_before_scoring(
    client: TestClient, container: Container, auth: Auth
) -> None:
    alice, bob = auth("alice"), auth("bob")
    campaign = make_campaign(client, alice)
    url = f"{CAMPAIGNS}/{campaign['id']}/read-options"
    saved = client.put(url, json=CHOICES, headers=alice)
    assert saved.status_code == 200, saved.text
    assert reading(saved.json()["data"]) == STORED
    # the whole set is replaced: what is left out is detected again
    again = client.put(url, json={"number_format": "point"}, headers=alice).json()["data"]
    assert reading(again) == {**DETECT, "number_format": "point"}
    assert reading(client.get(f"{CAMPAIGNS}/{campaign['id']}", headers=alice).json()["data"]) == (
        {**DETECT, "number_format": "point"}
    )
    # another user's campaign is not found, and stays as it was
    assert client.put(url, json=CHOICES, headers=bob).status_code == 404
    assert client.get(f"{CAMPAIGNS}/{campaign['id']}", headers=alice).json()["data"][
        "number_format"
    ] == ("point")
    # a run in progress reads the file as it started: changing them meanwhile is a 409
    [processing] = campaigns_in(client, container, alice, ["processing"])
    busy = client.put(f"{CAMPAIGNS}/{processing}/read-options", json=CHOICES, headers=alice)
    assert busy.status_code == 409
    assert "being scored" in busy.json()["message"]

    template = make_template(client, alice)
    turl = f"{CAMPAIGNS}/templates/{template['id']}/read-options"
    assert reading(client.put(turl, json=CHOICES, headers=alice).json()["data"]) == STORED
    assert client.put(turl, json=CHOICES, headers=bob).status_code == 404


BAD: list[tuple[dict[str, Any], str, str]] = [
    ({"number_format": "european"}, "number_format", "'auto', 'point' or 'comma'"),
    ({"header_row": 0}, "header_row", "greater than or equal to 1"),
    ({"header_row": "3"}, "header_row", "integer"),
    ({"header_row": 2.5}, "header_row", "integer"),
    ({"sheet": -1}, "sheet", "counts from 0"),
    ({"sheet": "  "}, "sheet", "empty"),
    ({"sheet": True}, "sheet", "name"),
    ({"column_mapping": {"site": "Site"}}, "column_mapping", "names 'site', which is no input"),
    ({"column_mapping": {"clicks": " "}}, "column_mapping", "gives clicks no header"),
    ({"column_mapping": {"clicks": []}}, "column_mapping", "gives clicks no header"),
    ({"column_mapping": {"ctr": ["CTR", "CTR %"]}}, "column_mapping", "only counts"),
    (
        {"column_mapping": {"conversions": [f"tag {i}" for i in range(51)]}},
        "column_mapping",
        "at most 50 headers",
    ),
    ({"column_mapping": {"clicks": "x" * 300}}, "column_mapping", "longer than 255"),
    ({"column_mapping": {"clicks": ["A", "A"]}}, "column_mapping", "gives 'A' twice"),
    (
        {"column_mapping": {"clicks": "A", "impressions": "A"}},
        "column_mapping",
        "reads both clicks and impressions from 'A'",
    ),
    ({"column_mapping": ["clicks"]}, "column_mapping", "dictionary"),
]


@pytest.mark.parametrize("route", ["template", "campaign", "update"])
def test_bad_reading_choices_are_422_naming_the_field(
    client: TestClient, auth: Auth, route: str
) -> None:
    alice = auth("alice")
    existing = make_campaign(client, alice)
    for fields, field, fragment in BAD:
        if route == "template":
            response = client.post(
                f"{CAMPAIGNS}/templates", json={"name": "T", **TD_DISPLAY, **fields}, headers=alice
            )
        elif route == "campaign":
            response = client.post(
                CAMPAIGNS, json={"name": "C", **TD_DISPLAY, **fields}, headers=alice
            )
        else:
            response = client.put(
                f"{CAMPAIGNS}/{existing['id']}/read-options", json=fields, headers=alice
            )
        assert response.status_code == 422, (fields, response.text)
        body = response.json()
        assert body["error"] == "validation_error"
        assert body["message"].startswith(field), (fields, body["message"])
        assert fragment in body["message"], (fields, body["message"])
    # nothing was created or changed
    assert client.get(f"{CAMPAIGNS}/templates", headers=alice).json()["data"] == []
    assert client.get(CAMPAIGNS, headers=alice).json()["total"] == 1
    assert reading(client.get(f"{CAMPAIGNS}/{existing['id']}", headers=alice).json()["data"]) == (
        DETECT
    )


# --- uploads ----------------------------------------------------------------------------


def form(**fields: Any) -> dict[str, str]:
    return {k: json.dumps(v) if isinstance(v, dict) else str(v) for k, v in fields.items()}


@pytest.mark.parametrize("route", ["reports", "campaign"])
def test_uploads_carry_reading_choices(client: TestClient, auth: Auth, route: str) -> None:
    alice = auth("alice")
    campaign = make_campaign(client, alice)
    path = f"{API}/reports/upload" if route == "reports" else f"{CAMPAIGNS}/{campaign['id']}/upload"
    sent = form(
        number_format="Comma", sheet="1", header_row=" 2 ", column_mapping=CHOICES["column_mapping"]
    )
    response = client.post(
        path, headers=alice, files={"file": ("x.csv", EXPORT, "text/csv")}, data=sent
    )
    assert response.status_code == 201, response.text
    data = response.json()["data"]
    # a sheet of digits is an index, as with caliber score --sheet
    assert reading(data) == {**STORED, "sheet": 1, "header_row": 2}
    got = client.get(f"{API}/reports/files/{data['id']}", headers=alice).json()["data"]
    assert reading(got) == reading(data)


BAD_FORMS: list[tuple[dict[str, str], str, str]] = [
    ({"number_format": "european"}, "number_format", "'auto', 'point' or 'comma'"),
    ({"header_row": "0"}, "header_row", "greater than or equal to 1"),
    ({"header_row": "third"}, "header_row", "whole number"),
    ({"sheet": "1000"}, "sheet", "counts from 0"),
    ({"column_mapping": "{conversions: x}"}, "column_mapping", "not valid JSON"),
    ({"column_mapping": '["clicks"]'}, "column_mapping", "JSON object"),
    ({"column_mapping": '{"site": "Site"}'}, "column_mapping", "which is no input"),
    ({"column_mapping": '{"clicks": ""}'}, "column_mapping", "no header"),
    ({"number_format": "x" * 17}, "number_format", "at most 16"),
]


def test_bad_upload_choices_are_422_and_nothing_is_stored(
    client: TestClient, container: Container, auth: Auth
) -> None:
    alice = auth("alice")
    for fields, field, fragment in BAD_FORMS:
        response = client.post(
            f"{API}/reports/upload",
            headers=alice,
            files={"file": ("x.csv", EXPORT, "text/csv")},
            data=fields,
        )
        assert response.status_code == 422, (fields, response.text)
        message = response.json()["message"]
        assert message.startswith(field), (fields, message)
        assert fragment in message, (fields, message)
    assert rows_in_db(container) == []
    assert upload(client, alice).status_code == 201  # the same upload without them is fine


# --- the seed's field names -------------------------------------------------------------------


SEED_TEMPLATE = {
    "name": "CTV by vendor",
    "campaign_type": "trade_desk",
    "goal": "awareness",
    "channel": "ctv",
    "ctr_sensitivity": False,
    "analysis_level": "supply_vendor",
}


def test_the_seeds_field_names_are_accepted(client: TestClient, auth: Auth) -> None:
    """``POST /campaigns/templates`` as the seed's spec writes it used to answer 422."""
    alice = auth("alice")
    response = client.post(f"{CAMPAIGNS}/templates", json=SEED_TEMPLATE, headers=alice)
    assert response.status_code == 201, response.text
    template = response.json()["data"]
    assert template["platform"] == template["campaign_type"] == "trade_desk"
    assert template["analysis_level"] == "supply_vendor"

    campaign = make_campaign(client, alice, template_id=template["id"])
    assert (campaign["platform"], campaign["campaign_type"]) == ("trade_desk", "trade_desk")
    seed_campaign = {k: v for k, v in SEED_TEMPLATE.items() if k != "name"}
    direct = make_campaign(client, alice, **seed_campaign)
    assert direct["campaign_type"] == "trade_desk"
    assert direct["analysis_level"] == "supply_vendor"
    # both names, agreeing (any case), are fine
    both = make_campaign(client, alice, **TD_DISPLAY, campaign_type="Trade_Desk")
    assert both["platform"] == "trade_desk"


def test_analysis_level_must_agree_with_the_setup(client: TestClient, auth: Auth) -> None:
    alice = auth("alice")
    display = {**SEED_TEMPLATE, "channel": "display"}  # a display setup scores by domain
    response = client.post(f"{CAMPAIGNS}/templates", json=display, headers=alice)
    assert response.status_code == 422
    body = response.json()
    assert body["details"]["field"] == "analysis_level"
    assert body["details"]["valid"] == "domain"
    assert "send analysis_level 'domain'" in body["message"]
    # unless the dimension is mapped to the column to score by
    mapped = {**display, "column_mapping": {"domain": "Supply Vendor"}}
    response = client.post(f"{CAMPAIGNS}/templates", json=mapped, headers=alice)
    assert response.status_code == 201, response.text
    assert response.json()["data"]["column_mapping"] == {"domain": ["Supply Vendor"]}

    # a campaign is checked against its template's setup
    ctv = make_template(client, alice, channel="ctv")
    wrong = client.post(
        CAMPAIGNS,
        json={"name": "x", "template_id": ctv["id"], "analysis_level": "domain"},
        headers=alice,
    )
    assert wrong.status_code == 422
    assert wrong.json()["details"]["valid"] == "supply_vendor"
    unknown = client.post(
        CAMPAIGNS, json={"name": "x", **TD_DISPLAY, "analysis_level": "site"}, headers=alice
    )
    assert unknown.status_code == 422
    assert "'domain' or 'supply_vendor'" in unknown.json()["message"]


def test_campaign_type_and_platform_must_agree(client: TestClient, auth: Auth) -> None:
    alice = auth("alice")
    both = {"name": "x", **TD_DISPLAY, "campaign_type": "pulsepoint"}
    for url in (f"{CAMPAIGNS}/templates", CAMPAIGNS):
        response = client.post(url, json=both, headers=alice)
        assert response.status_code == 422
        assert (
            "campaign_type 'pulsepoint' and platform 'trade_desk' disagree"
            in (response.json()["message"])
        )
    unknown = {"name": "x", "campaign_type": "dv360", "goal": "awareness", "channel": "display"}
    response = client.post(f"{CAMPAIGNS}/templates", json=unknown, headers=alice)
    assert response.status_code == 422
    assert "trade_desk" in response.json()["message"]  # the engine names what is accepted
    missing = {"name": "x", "goal": "awareness", "channel": "display"}
    response = client.post(f"{CAMPAIGNS}/templates", json=missing, headers=alice)
    assert response.status_code == 422
    assert "platform (or campaign_type) is required" in response.json()["message"]


# --- a run reads with the choices resolved at its start ---------------------------------------


def test_a_run_records_the_choices_it_read_with(
    client: TestClient, container: Container, auth: Auth
) -> None:
    """The campaign's choices, each overridden by the upload's, fixed when the run starts
    and recorded in its snapshot and in the engine's processing report."""
    alice = auth("alice")
    campaign = make_campaign(
        client, alice, number_format="comma", header_row=1, column_mapping={"clicks": "Clicks"}
    )
    sent = form(number_format="point", column_mapping={"impressions": "Impressions"})
    response = client.post(
        f"{CAMPAIGNS}/{campaign['id']}/upload",
        headers=alice,
        files={"file": ("x.csv", EXPORT, "text/csv")},
        data=sent,
    )
    assert response.status_code == 201, response.text
    started = client.post(
        f"{API}/scoring/start", json={"campaign_id": campaign["id"]}, headers=alice
    )
    assert started.status_code == 202, started.text
    # the run reads the file as it started: no change meanwhile
    busy = client.put(f"{CAMPAIGNS}/{campaign['id']}/read-options", json={}, headers=alice)
    assert busy.status_code == 409
    run_jobs(container)
    done = client.get(f"{CAMPAIGNS}/{campaign['id']}", headers=alice).json()["data"]
    assert done["status"] == "completed", done["error_message"]
    expected = {
        "number_format": "point",
        "header_row": 1,
        "sheet": None,
        "columns": {"clicks": ["Clicks"], "impressions": ["Impressions"]},
    }
    assert done["config_snapshot"]["read_options"] == expected
    assert done["data_quality_report"]["read_options"] == expected
    # the campaign's own choices are unchanged (the upload's applied to its file only)
    assert reading(done) == {
        **DETECT,
        "number_format": "comma",
        "header_row": 1,
        "column_mapping": {"clicks": ["Clicks"]},
    }
