"""Property-based fuzzing of the whole HTTP API against its own OpenAPI document.

Schemathesis generates requests for every operation (the schema's examples, its coverage
cases, then random positive and negative inputs) and sends them to the app in process
(ASGI, no network) as a signed-in user; every answer must be a non-5xx response whose
status code, content type and body the document declares (errors included: every
versioned route documents the error envelope). Half of the well-formed ids are swapped
for ids that exist (a scored campaign, its file, a template, an export, an insight, a
notification), so the handlers past the 404 get fuzzed too; destructive operations get
throwaway objects instead, so the order of the operations does not matter. The routes
that render a PDF, fit a SHAP surrogate, search weights or queue export jobs get fewer
random examples (their coverage cases all run).

Then: every operation that needs a signed-in user refuses an anonymous caller with 401
and ``WWW-Authenticate: Bearer``, and regression tests for what the fuzzing found.

The fuzzing runs on SQLite only: it is about the HTTP layer, and twice the time buys
little. The schema is loaded when the module is imported, because
``schemathesis.pytest.from_fixture`` reads ``Node._nodeid``, which pytest 9.2 no longer
has; the app is built once for its OpenAPI document, and once per module, seeded, for
the requests.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from schemathesis import Case
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.types import ASGIApp, Receive, Scope, Send

from caliber.api.app import create_app
from caliber.api.container import Container
from caliber.core.settings import Environment, Settings
from tests.api.conftest import run_jobs
from tests.api.firebase import PROJECT_ID, CertServer, SigningKey, mint
from tests.engine.exports import make_export

API = "/api/v1"
CSV = make_export("trade_desk", "display", seed=91, names=30).encode()
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
SEED = 20_241_127
# Reachable without signing in (login takes its token in the body; the optional route
# answers anonymous callers).
PUBLIC = {"/", "/health", "/ready", f"{API}/auth/login", f"{API}/auth/optional"}
# Operations that delete or change the state of what they are given get throwaway objects.
DESTRUCTIVE = {
    ("POST", f"{API}/scoring/start"),
    ("PUT", f"{API}/campaigns/{{campaign_id}}/status"),
    ("PUT", f"{API}/campaigns/{{campaign_id}}/progress"),
    ("POST", f"{API}/campaigns/{{campaign_id}}/upload"),
    ("POST", f"{API}/reports/upload"),
    ("POST", f"{API}/reports/files/{{file_id}}/assign-campaign"),
}
# Render a PDF, fit a SHAP surrogate or search weights on every example: few examples.
HEAVY = (
    rf"^{API}/reports/campaigns/\{{campaign_id\}}/pdf$"
    rf"|^{API}/scoring/explain/"
    rf"|^{API}/scoring/weights/"
    rf"|^{API}/reports/exports$"
)


def _openapi_document() -> dict[str, Any]:
    """The app's OpenAPI document, from an app on a throwaway container."""
    with tempfile.TemporaryDirectory() as folder:
        config = Settings(
            _env_file=None,
            ENVIRONMENT=Environment.TEST,
            DATA_DIR=Path(folder),
            DATABASE_URL="sqlite://",
            JOB_RUNNER="threads",
        )
        container = Container.build(config)
        try:
            return create_app(config, container).openapi()
        finally:
            container.close()


DOCUMENT = _openapi_document()
schema = schemathesis.openapi.from_dict(
    DOCUMENT,
    config=schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "generation": {"mode": "all"},
            "phases": {
                "examples": {"enabled": True},
                "coverage": {"enabled": True},
                "fuzzing": {"enabled": True},
                "stateful": {"enabled": False},
            },
        }
    ),
)


@dataclass(frozen=True)
class Seeded:
    app: FastAPI
    asgi: ASGIApp  # the app without its lifespan, for schemathesis
    headers: dict[str, str]
    kept: dict[str, str]  # parameter name -> an existing id, for reading operations
    scratch: dict[str, str]  # the same, for destructive ones


@pytest.fixture(scope="module")
def seeded(
    tmp_path_factory: pytest.TempPathFactory,
    sqlite_template: Path,
    certs: CertServer,
    signing_key: SigningKey,
) -> Iterator[Seeded]:
    """One app for the module (as ``conftest.settings`` builds it, on SQLite) and a
    signed-in user owning a scored campaign, its file, a template, an export and a
    notification, plus throwaway objects for the destructive operations."""
    folder = tmp_path_factory.mktemp("fuzz")
    shutil.copyfile(sqlite_template, folder / "caliber.db")
    config = Settings(
        _env_file=None,
        ENVIRONMENT=Environment.TEST,
        DATA_DIR=folder / "data",
        DATABASE_URL=f"sqlite:///{folder / 'caliber.db'}",
        FIREBASE_PROJECT_ID=PROJECT_ID,
        FIREBASE_CERTS_URL=certs.url,
        AUTH_DEV_MODE=False,
        MAX_UPLOAD_MB=1,
        JOB_RUNNER="threads",
    )
    container = Container.build(config)
    app = create_app(config, container)
    token = mint(signing_key, "fuzz-user", email="fuzz-user@example.com")
    headers = {"Authorization": f"Bearer {token}"}
    client = TestClient(app, headers=headers)  # no lifespan: the container stays open
    try:
        kept, scratch = _seed(client, container)
    finally:
        client.close()
    yield Seeded(app, _without_lifespan(app), headers, kept, scratch)
    container.close()


def _without_lifespan(app: ASGIApp) -> ASGIApp:
    """``app`` with a lifespan that does nothing. Schemathesis ends an app's lifespan when
    each test ends, and this app's shutdown closes the container the module shares."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await app(scope, receive, send)
            return
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})

    return wrapped


def _seed(client: TestClient, container: Container) -> tuple[dict[str, str], dict[str, str]]:
    """Ids by parameter name: what the reading operations get, and what the destructive
    ones get (a draft campaign, an unassigned file, a second template, export, insight)."""

    def post(path: str, status: int, **kwargs: Any) -> str:
        response = client.post(f"{API}{path}", **kwargs)
        assert response.status_code == status, response.text
        created: str = response.json()["data"]["id"]
        return created

    setup = {"platform": "trade_desk", "goal": "awareness", "channel": "display"}
    upload = {"file": ("export.csv", CSV, "text/csv")}
    campaign = post("/campaigns", 201, json={"name": "Fuzz", **setup})
    kept = {
        "campaign_id": campaign,
        "before": campaign,
        "after": campaign,
        "template_id": post("/campaigns/templates", 201, json={"name": "Fuzz", **setup}),
        "file_id": post(f"/campaigns/{campaign}/upload", 201, files=upload),
    }
    scratch = {
        "campaign_id": post("/campaigns", 201, json={"name": "Scratch", **setup}),
        "template_id": post("/campaigns/templates", 201, json={"name": "Scratch", **setup}),
        "file_id": post("/reports/upload", 201, files=upload),
    }
    response = client.post(f"{API}/scoring/start", json={"campaign_id": campaign})
    assert response.status_code == 202, response.text
    run_jobs(container)
    for ids, export_format, insight_type in (
        (kept, "results_csv", "performance"),
        (scratch, "whitelist_txt", "optimization"),
    ):
        export = {"campaign_id": campaign, "format": export_format}
        ids["export_id"] = post("/reports/exports", 202, json=export)
        insight = {"campaign_id": campaign, "insight_type": insight_type}
        ids["insight_id"] = post("/ai/insights/generate", 200, json=insight)
    run_jobs(container)
    kept["notification_id"] = client.get(f"{API}/notifications").json()["data"][0]["id"]
    # the caller's organization (their personal one, of which they are the last owner)
    organization = client.get(f"{API}/organizations").json()["data"][0]["id"]
    me = client.get(f"{API}/auth/me").json()["data"]["id"]
    for ids in (kept, scratch):
        ids["organization_id"], ids["user_id"] = organization, me
        ids["invitation_id"] = post(
            f"/organizations/{organization}/invitations",
            201,
            json={"email": "fuzz-invitee@example.com", "role": "viewer"},
        )
    return kept, scratch


def _use_seeded_ids(case: Case[Any], seeded: Seeded) -> None:
    """Swap every well-formed id of about half the cases for an existing one."""
    body = case.body if isinstance(case.body, dict) else None  # not NotSet's address
    if zlib.crc32(repr((case.path_parameters, case.query, body)).encode()) % 2:
        return
    destructive = case.method.upper() == "DELETE" or (case.method.upper(), case.path) in DESTRUCTIVE
    ids = seeded.scratch if destructive else seeded.kept
    for values in (case.path_parameters, case.query, case.body):
        if not isinstance(values, dict):
            continue
        for name, value in values.items():
            if name in ids and _is_uuid(value):
                values[name] = ids[name]


def _is_uuid(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


# Deterministic: SEED gives each operation its own Hypothesis seed, and nothing is replayed
# from an example database. The explicit phase carries the schema's examples and the
# coverage cases; no shrinking (a request per step; the report has the failing request).
FUZZ_SETTINGS = hypothesis.settings(
    deadline=None,
    database=None,
    phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
    # Only generation time can fail it, and a busy 2-core runner makes that slow.
    suppress_health_check=[hypothesis.HealthCheck.too_slow],
)


@schema.exclude(path_regex=HEAVY).parametrize()
@hypothesis.settings(FUZZ_SETTINGS, max_examples=15)
def test_api_conforms_to_its_schema(case: Case[Any], seeded: Seeded) -> None:
    _use_seeded_ids(case, seeded)
    case.call_and_validate(app=seeded.asgi, headers=seeded.headers, checks=CHECKS)


@schema.include(path_regex=HEAVY).parametrize()
@hypothesis.settings(FUZZ_SETTINGS, max_examples=3)
def test_heavy_operations_conform_to_the_schema(case: Case[Any], seeded: Seeded) -> None:
    _use_seeded_ids(case, seeded)
    case.call_and_validate(app=seeded.asgi, headers=seeded.headers, checks=CHECKS)


def _signed_in_operations() -> list[tuple[str, str]]:
    return [
        (method.upper(), path)
        for path, operations in DOCUMENT["paths"].items()
        if path not in PUBLIC
        for method in operations
    ]


@pytest.fixture(scope="module")
def http(seeded: Seeded) -> Iterator[TestClient]:
    """A client without credentials (no lifespan: ``seeded`` owns the container)."""
    test_client = TestClient(seeded.app)
    yield test_client
    test_client.close()


@pytest.mark.parametrize(("method", "path"), _signed_in_operations())
def test_signed_in_operations_refuse_anonymous_callers(
    http: TestClient, seeded: Seeded, method: str, path: str
) -> None:
    """Even for objects that exist, and before the input is validated."""
    url = path.format(**seeded.kept, conversation_id="c1", kind="whitelist", domain="x.com")
    response = http.request(method, url)
    assert response.status_code == 401, response.text
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json()["error"] == "unauthenticated"


def test_the_public_operations_answer_anonymous_callers(http: TestClient) -> None:
    assert {path for path in PUBLIC if path in DOCUMENT["paths"]} == PUBLIC
    for path in ("/", "/health", "/ready", f"{API}/auth/optional"):
        assert http.get(path).status_code == 200, path
    assert http.post(f"{API}/auth/login").status_code == 422  # the token goes in the body


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/reports/files", "page"),
        ("/notifications", "page"),
        ("/scoring/results/{campaign_id}", "page"),
        ("/campaigns", "skip"),
    ],
)
def test_offsets_past_what_the_database_can_count_are_refused(
    http: TestClient, seeded: Seeded, path: str, query: str
) -> None:
    """Found by the fuzzer: ``/reports/files?page=10**38`` was a 500 (SQLite overflow)."""
    url = API + path.format(**seeded.kept)
    response = http.get(url, params={query: 2**64}, headers=seeded.headers)
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "validation_error"


def test_a_nul_character_is_never_a_server_error(
    client: TestClient, settings: Settings, auth: Callable[[str], dict[str, str]]
) -> None:
    """PostgreSQL text columns refuse NUL: every route that stored or looked up such a
    text answered 500. Now a 422 there; SQLite stores it."""
    headers = auth("nul-user")
    setup = {"platform": "trade_desk", "goal": "awareness", "channel": "display"}
    answers = [
        client.post(f"{API}/campaigns", json={"name": "a\x00b", **setup}, headers=headers),
        client.put(f"{API}/auth/profile", json={"name": "a\x00b"}, headers=headers),
        client.get(f"{API}/ai/chat/history/a%00b", headers=headers),
    ]
    on_postgres = settings.database_url.startswith("postgresql")
    for response in answers:
        assert response.status_code < 500, response.text
        if on_postgres:
            assert response.status_code == 422, response.text
            assert response.json()["error"] == "invalid_input"


def _parameter(path: str, name: str) -> dict[str, Any]:
    [found] = [p for p in DOCUMENT["paths"][path]["get"]["parameters"] if p["name"] == name]
    schema: dict[str, Any] = found["schema"]
    schema = next((s for s in schema.get("anyOf", [schema]) if s.get("type") != "null"), schema)
    return {**schema, "description": found.get("description") or schema.get("description", "")}


def _property(model: str, name: str) -> dict[str, Any]:
    schema: dict[str, Any] = DOCUMENT["components"]["schemas"][model]["properties"][name]
    inner = next((s for s in schema.get("anyOf", [schema]) if s.get("type") != "null"), schema)
    return {**inner, "description": schema.get("description") or inner.get("description", "")}


def test_the_document_carries_the_values_and_ranges_the_api_enforces() -> None:
    """What the API refuses is in the document, so clients and the fuzzer know it."""
    for model in ("CampaignCreate", "TemplateCreate"):
        assert _property(model, "platform")["enum"] == ["trade_desk", "pulsepoint"]
        assert _property(model, "goal")["enum"] == ["awareness", "action"]
        assert _property(model, "channel")["enum"] == ["display", "ctv", "video", "audio"]
        assert _property(model, "min_impressions")["minimum"] == 0
    results = f"{API}/scoring/results/{{campaign_id}}"
    page, per_page = _parameter(results, "page"), _parameter(results, "per_page")
    assert page["minimum"] == 1
    assert (per_page["minimum"], per_page["maximum"]) == (1, 100)
    export = f"{API}/reports/export/campaigns/{{campaign_id}}/results/csv"
    for where in (_parameter(results, "min_score"), _parameter(export, "min_score")):
        assert (where["minimum"], where["maximum"]) == (0, 100)
    low, high = _parameter(export, "min_score"), _parameter(export, "max_score")
    assert "at most max_score" in low["description"]
    assert "at least min_score" in high["description"]
    assert "at most max_score" in _property("ExportOptions", "min_score")["description"]
    contamination = _parameter(f"{API}/scoring/outliers/{{campaign_id}}", "contamination")
    assert (contamination["exclusiveMinimum"], contamination["maximum"]) == (0, 0.5)
