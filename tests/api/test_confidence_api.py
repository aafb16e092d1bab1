"""Confidence through the service (issue 17 §2): ``list_confidence`` on templates and
campaigns (a 422 naming the field outside 0.5..0.99), a run scored with it keeps it in
its snapshot and is scored with it (the run's frame and summary are the engine's), its
result rows carry their bounds, decision and shrunk rates, pages filter by decision,
and every list route and list export reads the confident lists; a classic run answers as
before, and a decision filter on it is a 422. SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from pypdf import PdfReader

from caliber.ai.context import campaign_context, domain_context, find_domain
from caliber.api.container import Container
from caliber.db.models import ScoringRun
from caliber.db.session import session_scope
from caliber.engine.config import Setup
from caliber.engine.decisions import DECISIONS, result_columns
from caliber.engine.pipeline import score
from caliber.reports import dsp
from caliber.scoring import pages
from caliber.scoring.service import setup_from_snapshot
from caliber.worker.tasks import WorkerServices, optimization_lists
from tests.api.conftest import run_jobs
from tests.api.test_scoring import API, all_results, attach, create_campaign, hold_jobs
from tests.engine.exports import make_export

Auth = Callable[[str], dict[str, str]]
ACTION = {"platform": "trade_desk", "goal": "action", "channel": "display"}
DATA = make_export("trade_desk", "display", seed=71, names=80).encode()
ROW_FIELDS = ("shrunk_score", "score_low", "score_high", "decision", "impressions_needed")


def _scored(client: TestClient, container: Container, headers: dict[str, str], **setup: Any) -> str:
    campaign_id = create_campaign(client, headers, **{**ACTION, **setup})
    attach(container, campaign_id, DATA)
    started = client.post(
        f"{API}/scoring/start", json={"campaign_id": campaign_id}, headers=headers
    )
    assert started.status_code == 202, started.text
    run_jobs(container)
    return campaign_id


def _engine(level: float | None) -> Any:
    return score(DATA, Setup.create(*ACTION.values(), list_confidence=level), filename="x.csv")


def test_templates_and_campaigns_store_and_answer_list_confidence(
    client: TestClient, auth: Auth
) -> None:
    alice = auth("alice")
    made = client.post(
        f"{API}/campaigns/templates",
        json={"name": "Sure", **ACTION, "list_confidence": 0.8},
        headers=alice,
    )
    assert made.status_code == 201, made.text
    template = made.json()["data"]
    assert template["list_confidence"] == 0.8
    # a campaign copies the template's level; one sent beside template_id replaces it
    copied = client.post(
        f"{API}/campaigns", json={"name": "a", "template_id": template["id"]}, headers=alice
    ).json()["data"]
    assert copied["list_confidence"] == 0.8
    classic = client.post(
        f"{API}/campaigns",
        json={"name": "b", "template_id": template["id"], "list_confidence": None},
        headers=alice,
    ).json()["data"]
    assert classic["list_confidence"] is None
    plain = client.post(f"{API}/campaigns", json={"name": "c", **ACTION}, headers=alice)
    assert plain.json()["data"]["list_confidence"] is None  # the default: classic
    # changed later, read back
    changed = client.put(
        f"{API}/campaigns/{classic['id']}/confidence", json={"list_confidence": 0.9}, headers=alice
    )
    assert changed.status_code == 200, changed.text
    got = client.get(f"{API}/campaigns/{classic['id']}", headers=alice).json()["data"]
    assert got["list_confidence"] == 0.9
    back = client.put(
        f"{API}/campaigns/templates/{template['id']}/confidence",
        json={"list_confidence": None},
        headers=alice,
    )
    assert back.status_code == 200, back.text
    assert back.json()["data"]["list_confidence"] is None


def test_a_level_outside_the_range_is_a_422_naming_the_field(
    client: TestClient, auth: Auth
) -> None:
    alice = auth("alice")
    campaign_id = create_campaign(client, alice, **ACTION)
    for bad in (0.3, 1, 0.995, "0.8", True):
        for method, url, body in (
            ("POST", f"{API}/campaigns", {"name": "x", **ACTION, "list_confidence": bad}),
            ("POST", f"{API}/campaigns/templates", {"name": "x", **ACTION, "list_confidence": bad}),
            ("PUT", f"{API}/campaigns/{campaign_id}/confidence", {"list_confidence": bad}),
        ):
            response = client.request(method, url, json=body, headers=alice)
            assert response.status_code == 422, (method, url, bad, response.text)
            message = response.json()["message"]
            assert message.startswith("list_confidence: must be a level from 0.5 to 0.99")
            assert "or null for the classic lists" in message
    assert (
        client.get(f"{API}/campaigns/{campaign_id}", headers=alice).json()["data"][
            "list_confidence"
        ]
        is None
    )


def test_a_confident_run_is_scored_with_its_level_and_answers_its_decisions(
    client: TestClient, container: Container, auth: Auth
) -> None:
    alice = auth("alice")
    campaign_id = _scored(client, container, alice, list_confidence=0.8)
    want = _engine(0.8)
    assert want.confidence is not None

    runs = client.get(f"{API}/campaigns/{campaign_id}/runs", headers=alice).json()["data"]
    (run,) = runs
    # the run's snapshot keeps the level, and its setup rebuilds with it
    detail = client.get(f"{API}/campaigns/{campaign_id}", headers=alice).json()["data"]
    assert detail["config_snapshot"]["setup"]["list_confidence"] == 0.8
    assert setup_from_snapshot(detail["config_snapshot"]).list_confidence == 0.8
    assert (run["whitelist_count"], run["blacklist_count"]) == (
        want.lists.whitelist.height,
        want.lists.blacklist.height,
    )

    # the stored frame is the engine's, its confidence columns included
    frame = _stored_frame(container, run["id"])
    resolved = Setup.create(*ACTION.values(), list_confidence=0.8).resolve()
    for column in result_columns(resolved.metrics):
        assert column in frame.columns, column
        assert frame[column].to_list() == want.results[column].to_list(), column

    # the summary carries the engine's confidence block
    summary = client.get(f"{API}/scoring/summary/{campaign_id}", headers=alice).json()["data"]
    assert summary["confidence"]["decisions"] == want.confidence.to_dict()["decisions"]
    assert summary["confidence"]["level"] == 0.8
    assert summary["lists"]["list_confidence"] == 0.8
    assert summary["lists"]["undecided_count"] == want.confidence.decisions["undecided"]["count"]

    # every row carries its bounds, decision and shrunk rates, as the engine made them
    rows = all_results(client, campaign_id, alice)
    assert [r["decision"] for r in rows] == want.results["decision"].to_list()
    assert [r["score_low"] for r in rows] == want.results["score_low"].to_list()
    assert [r["impressions_needed"] for r in rows] == want.results["impressions_needed"].to_list()
    shrunk = [m.name for m in resolved.metrics if f"shrunk_{m.name}" in want.results.columns]
    assert list(rows[0]["shrunk_metrics"]) == shrunk
    assert [r["shrunk_metrics"]["ctr"] for r in rows] == want.results["shrunk_ctr"].to_list()
    undecided = [r for r in rows if r["decision"] == "undecided"]
    assert any(r["impressions_needed"] for r in undecided)

    # the decision filter keeps exactly the rows with that decision, in rank order
    for decision in DECISIONS:
        kept = all_results(client, campaign_id, alice, decision=decision)
        assert [r["rank"] for r in kept] == [r["rank"] for r in rows if r["decision"] == decision]
    bad = client.get(
        f"{API}/scoring/results/{campaign_id}", params={"decision": "maybe"}, headers=alice
    )
    assert bad.status_code == 422
    assert "decision" in bad.text


def test_a_classic_run_has_no_decisions(
    client: TestClient, container: Container, auth: Auth
) -> None:
    alice = auth("alice")
    campaign_id = _scored(client, container, alice)
    row = all_results(client, campaign_id, alice)[0]
    assert not {*ROW_FIELDS, "shrunk_metrics"} & set(row)
    summary = client.get(f"{API}/scoring/summary/{campaign_id}", headers=alice).json()["data"]
    assert "confidence" not in summary
    assert "list_confidence" not in summary["lists"]
    refused = client.get(
        f"{API}/scoring/results/{campaign_id}", params={"decision": "whitelist"}, headers=alice
    )
    assert refused.status_code == 422, refused.text
    body = refused.json()
    assert body["details"]["field"] == "decision"
    assert "without list_confidence" in body["message"]


def _stored_frame(container: Container, run_id: str) -> Any:
    with session_scope(container.sessions) as session:
        run = session.get(ScoringRun, uuid.UUID(run_id))
        assert run is not None
        return pages.index().run(session, run).stored.frame


def _csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))


def test_every_list_and_list_export_of_a_confident_run_is_the_confident_list(
    client: TestClient, container: Container, auth: Auth
) -> None:
    alice = auth("alice")
    campaign_id = _scored(client, container, alice, list_confidence=0.8)
    want = _engine(0.8)
    assert want.confidence is not None
    white = want.lists.whitelist["domain"].to_list()
    black = want.lists.blacklist["domain"].to_list()
    classic_white = want.confidence.classic_lists.whitelist["domain"].to_list()
    assert white
    assert black
    assert white != classic_white  # the two differ on this file

    for kind, names in (("whitelist", white), ("blacklist", black)):
        got = client.get(f"{API}/scoring/{kind}/{campaign_id}", headers=alice).json()["data"]
        assert got["domains"] == names, kind
        assert got["criteria_used"]["list_confidence"] == 0.8
        assert (
            got["criteria_used"]["undecided_count"]
            == (want.confidence.decisions["undecided"]["count"])
        )
        assert "80% sure" in got["criteria_used"]["rule"]
        posted = client.post(
            f"{API}/scoring/optimization-list",
            json={"campaign_id": campaign_id, "list_type": kind},
            headers=alice,
        ).json()["data"]
        assert posted["domains"] == names

    export = f"{API}/reports/export/campaigns/{campaign_id}"

    def get(path: str) -> Any:
        response = client.get(f"{export}/{path}", headers=alice)
        assert response.status_code == 200, (path, response.text)
        return response

    assert [r["domain"] for r in _csv(get("whitelist/csv").text)] == white
    assert get("blacklist/json").json()["domains"] == black
    listed = _csv(get("optimization-lists/csv").text)
    assert [r["domain"] for r in listed if r["list_type"] == "whitelist"] == white
    assert [r["domain"] for r in listed if r["list_type"] == "blacklist"] == black
    assert get("whitelist/txt").content == dsp.plain_list(dsp.split_entries(white)[0])
    lines = get("blacklist/trade-desk").json()["BidLines"]
    assert [line["DomainFragment"] for line in lines] == black
    dv360 = get("whitelist/dv360").json()
    assert set(json_sites(dv360)) == set(white)
    campaign = get("data/json").json()
    assert campaign["whitelist"]["domains"] == white
    assert campaign["campaign_summary"]["confidence"]["level"] == 0.8
    summary = _csv(get("summary/csv").text)[0]
    assert int(summary["whitelist_count"]) == len(white)


def test_the_results_csv_of_a_confident_run_adds_its_columns_after_the_classic_ones(
    client: TestClient, container: Container, auth: Auth
) -> None:
    alice = auth("alice")
    confident = _scored(client, container, alice, list_confidence=0.8)
    classic = _scored(client, container, alice)
    want = _engine(0.8)
    path = "results/csv"
    sure = _csv(
        client.get(f"{API}/reports/export/campaigns/{confident}/{path}", headers=alice).text
    )
    plain_text = client.get(f"{API}/reports/export/campaigns/{classic}/{path}", headers=alice).text
    plain = _csv(plain_text)
    resolved = Setup.create(*ACTION.values()).resolve()
    added = result_columns(resolved.metrics)
    assert list(sure[0]) == [*plain[0], *added]
    assert [r["decision"] for r in sure] == want.results["decision"].to_list()
    assert [r["impressions_needed"] for r in sure] == [
        "" if v is None else str(v) for v in want.results["impressions_needed"].to_list()
    ]
    # the classic columns are the classic file's, value for value
    assert [{k: r[k] for k in plain[0] if k != "export_date"} for r in sure] == [
        {k: r[k] for k in plain[0] if k != "export_date"} for r in plain
    ]
    assert not set(added) & set(plain_text.splitlines()[0].split(","))


def json_sites(body: dict[str, Any]) -> list[str]:
    """The site urls of a DV360 sites:bulkEdit body."""
    return [site["urlOrAppId"] for site in body["newSites"]]


def test_the_worker_lists_task_answers_the_confident_lists(
    client: TestClient, container: Container, auth: Auth
) -> None:
    alice = auth("alice")
    campaign_id = _scored(client, container, alice, list_confidence=0.8)
    want = _engine(0.8)
    user_id = client.get(f"{API}/auth/profile", headers=alice).json()["data"]["id"]
    services = WorkerServices(sessions=container.sessions, storage=container.storage)
    lists = optimization_lists(services, campaign_id=campaign_id, user_id=user_id)
    assert lists["whitelist"]["domains"] == want.lists.whitelist["domain"].to_list()
    assert lists["blacklist"]["criteria_used"]["list_confidence"] == 0.8


def test_the_pdf_of_a_confident_run_says_how_sure_its_lists_are(
    client: TestClient, container: Container, auth: Auth
) -> None:
    alice = auth("alice")
    confident = _scored(client, container, alice, list_confidence=0.8)
    classic = _scored(client, container, alice)
    texts = {}
    for campaign_id in (confident, classic):
        pdf = client.get(f"{API}/reports/campaigns/{campaign_id}/pdf", headers=alice)
        assert pdf.status_code == 200, pdf.text
        reader = PdfReader(io.BytesIO(pdf.content))
        texts[campaign_id] = " ".join(page.extract_text() for page in reader.pages)
    assert "How sure are these lists" in texts[confident]
    assert "How sure are these lists" not in texts[classic]


def test_the_analysts_context_and_insights_carry_the_decisions(
    client: TestClient, container: Container, auth: Auth
) -> None:
    alice = auth("alice")
    campaign_id = _scored(client, container, alice, list_confidence=0.8)
    want = _engine(0.8)
    assert want.confidence is not None
    org_id = uuid.UUID(  # the services scope by the campaign's organization
        client.get(f"{API}/campaigns/{campaign_id}", headers=alice).json()["data"][
            "organization_id"
        ]
    )
    with session_scope(container.sessions) as session:
        context = campaign_context(session, org_id, uuid.UUID(campaign_id))
        undecided = next(
            r["domain"]
            for r in all_results(client, campaign_id, alice)
            if r["decision"] == "undecided" and r["impressions_needed"]
        )
        row = find_domain(session, context, undecided)
        assert row is not None
        domain = domain_context(context, row)
    block = context["confidence"]
    assert block["level"] == 0.8
    for decision, found in want.confidence.decisions.items():
        assert block["decisions"][decision]["count"] == found["count"]
    # 55 of the 80 rows undecided on this file: the context says the lists are thin
    assert any("the lists are short because the data is thin" in n for n in block["notes"])
    assert "confidence" not in context["summary"]
    assert context["whitelist"]["count"] == want.lists.whitelist.height
    assert context["whitelist"]["list_confidence"] == 0.8
    assert domain["decision"] == "undecided"
    assert (domain["on_whitelist"], domain["on_blacklist"]) == (False, False)
    assert domain["impressions_needed"] > 0

    insight = client.post(
        f"{API}/ai/insights/generate",
        json={"campaign_id": campaign_id, "insight_type": "performance"},
        headers=alice,
    )
    assert insight.status_code == 200, insight.text
    content = insight.json()["data"]["content"]
    assert "How sure the lists are" in content
    assert "the lists are short because the data is thin" in content


def test_a_run_keeps_its_level_and_a_run_in_progress_keeps_the_campaigns(
    client: TestClient, container: Container, auth: Auth
) -> None:
    alice = auth("alice")
    campaign_id = _scored(client, container, alice, list_confidence=0.8)
    # back to classic for the next run: the run made keeps its level and decisions
    classic = client.put(
        f"{API}/campaigns/{campaign_id}/confidence", json={"list_confidence": None}, headers=alice
    )
    assert classic.status_code == 200, classic.text
    assert classic.json()["data"]["list_confidence"] is None
    assert "decision" in all_results(client, campaign_id, alice)[0]
    summary = client.get(f"{API}/scoring/summary/{campaign_id}", headers=alice).json()["data"]
    assert summary["confidence"]["level"] == 0.8
    # while a run is in progress the level cannot change (it scores with the one it began with)
    hold_jobs(container)
    started = client.post(f"{API}/scoring/start", json={"campaign_id": campaign_id}, headers=alice)
    assert started.status_code == 202, started.text
    busy = client.put(
        f"{API}/campaigns/{campaign_id}/confidence", json={"list_confidence": 0.9}, headers=alice
    )
    assert busy.status_code == 409, busy.text
    assert "list confidence" in busy.json()["message"]
