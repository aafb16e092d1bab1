"""Every route, four roles and an outsider (issue 21): an organization with an owner, an
admin, an analyst and a viewer, and a user who is none of these; each replays the
organization's ids on every route of the OpenAPI schema (in the organization, by
``X-Organization-Id``) and each answer is asserted: allowed, 403 naming the role, or 404.
Routes that change something are classified here by what they do (``KINDS``); a new one
fails the walk until it is. The roles that may change things walk a world of their own,
deletions last, so each of their answers is the route's and not a leftover's."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from caliber.api.container import Container
from tests.api.conftest import run_jobs
from tests.api.test_isolation import OWN_SCOPE, World, make_world, request_for, snapshot
from tests.api.test_organizations import in_org, join, team, user_id
from tests.api.test_scoring import API

Auth = Callable[[str], dict[str, str]]
ALLOWED = "allowed"
# what each kind of route answers each role (caliber.orgs.policy)
EXPECTED: dict[str, dict[str, int | str]] = {
    "read": {
        "outsider": 404,
        "viewer": ALLOWED,
        "analyst": ALLOWED,
        "admin": ALLOWED,
        "owner": ALLOWED,
    },
    "work": {
        "outsider": 404,
        "viewer": 403,
        "analyst": ALLOWED,
        "admin": ALLOWED,
        "owner": ALLOWED,
    },
    "manage": {"outsider": 404, "viewer": 403, "analyst": 403, "admin": ALLOWED, "owner": ALLOWED},
    # the chat history is its author's (the world's maker, the owner) alone
    "personal": {"outsider": 404, "viewer": 404, "analyst": 404, "admin": 404, "owner": ALLOWED},
    # an invitation is accepted by its invitee only (the world's is for someone else)
    "invitee": {"outsider": 404, "viewer": 404, "analyst": 404, "admin": 404, "owner": 404},
}
P = f"{API}"
# every route that is not a GET (a GET only reads: "read", but the chat history's)
KINDS: dict[tuple[str, str], str] = {
    **{
        ("POST", f"{P}{path}"): "read"  # computations and lists asked by POST: nothing saved
        for path in (
            "/scoring/optimization-list",
            "/scoring/weights/suggest",
            "/scoring/weights/sensitivity",
        )
    },
    ("POST", f"{P}/notifications/{{notification_id}}/read"): "work",  # the organization's inbox
    **{
        (method, f"{P}{path}"): "work"
        for method, path in (
            ("POST", "/campaigns/templates"),
            ("PUT", "/campaigns/templates/{template_id}/weights"),
            ("PUT", "/campaigns/templates/{template_id}/confidence"),
            ("PUT", "/campaigns/templates/{template_id}/read-options"),
            ("DELETE", "/campaigns/templates/{template_id}"),
            ("POST", "/campaigns"),
            ("DELETE", "/campaigns/{campaign_id}"),
            ("PUT", "/campaigns/{campaign_id}/weights"),
            ("PUT", "/campaigns/{campaign_id}/confidence"),
            ("PUT", "/campaigns/{campaign_id}/read-options"),
            ("PUT", "/campaigns/{campaign_id}/status"),
            ("PUT", "/campaigns/{campaign_id}/progress"),
            ("POST", "/campaigns/{campaign_id}/upload"),
            ("POST", "/scoring/start"),
            ("POST", "/reports/upload"),
            ("DELETE", "/reports/files/{file_id}"),
            ("POST", "/reports/files/{file_id}/assign-campaign"),
            ("POST", "/reports/exports"),
            ("DELETE", "/reports/exports/{export_id}"),
            # the AI analyst: analysts and up
            ("POST", "/ai/insights/generate"),
            ("POST", "/ai/insights/domain"),
            ("POST", "/ai/insights/whitelist"),
            ("POST", "/ai/insights/blacklist"),
            ("POST", "/ai/insights/batch"),
            ("DELETE", "/ai/insights/campaign/{campaign_id}"),
            ("DELETE", "/ai/insights/{insight_id}"),
            ("POST", "/ai/chat"),
        )
    },
    **{
        (method, f"{P}{path}"): "manage"
        for method, path in (
            ("PUT", "/organizations/{organization_id}/members/{user_id}"),
            ("DELETE", "/organizations/{organization_id}/members/{user_id}"),
            ("POST", "/organizations/{organization_id}/invitations"),
            ("GET", "/organizations/{organization_id}/invitations"),
            ("DELETE", "/organizations/{organization_id}/invitations/{invitation_id}"),
            ("GET", "/organizations/{organization_id}/audit"),
        )
    },
    ("GET", f"{P}/ai/chat/history/{{conversation_id}}"): "personal",
    ("DELETE", f"{P}/ai/chat/history/{{conversation_id}}"): "personal",
    ("POST", f"{P}/organizations/invitations/{{invitation_id}}/accept"): "invitee",
    # the caller's own: every signed-in user, whatever their roles
    ("GET", f"{P}/organizations"): "own",
    ("POST", f"{P}/organizations"): "own",
    ("GET", f"{P}/ai/status"): "own",
    ("GET", f"{P}/ai/insights/types"): "own",
}


def _kind(method: str, path: str) -> str | None:
    if (method, path) in OWN_SCOPE:
        return "own"
    return KINDS.get((method, path), "read" if method == "GET" else None)


def _routes(client: TestClient) -> list[tuple[str, str]]:
    """Every operation of the schema; deletions last, and the campaign's own last of all
    (what the others read)."""
    spec = client.get("/openapi.json").json()
    found = [(m.upper(), path) for path, ops in spec["paths"].items() for m in ops]
    return sorted(
        found,
        key=lambda r: (
            r[0] == "DELETE",
            r[1].endswith("{campaign_id}"),  # its insights cleared, then itself
            r[1].endswith("/campaigns/{campaign_id}"),
            r[1],
        ),
    )


@dataclasses.dataclass
class Team:
    organization: str
    owner: dict[str, str]
    members: dict[str, dict[str, str]]


@pytest.fixture
def agency(client: TestClient, auth: Auth) -> Team:
    owner = auth("role-owner")
    organization = team(client, owner)
    members = {
        role: join(client, owner, organization, auth, f"role-{role}", role)
        for role in ("viewer", "analyst", "admin")
    }
    members["owner"] = in_org(owner, organization)
    members["outsider"] = in_org(auth("role-outsider"), organization)
    return Team(organization, owner, members)


def _world(client: TestClient, container: Container, agency: Team, auth: Auth, n: int) -> World:
    """A world made by the owner in the organization, its member target one that the
    member routes may change and remove."""
    world = make_world(client, container, agency.members["owner"])
    assert world.organization == agency.organization
    target = join(client, agency.owner, agency.organization, auth, f"role-target-{n}", "analyst")
    return dataclasses.replace(world, user=user_id(client, target))


def _walk(
    client: TestClient, container: Container, world: World, role: str, headers: dict[str, str]
) -> tuple[int, list[str]]:
    walked, unclassified = 0, []
    for method, path in _routes(client):
        kind = _kind(method, path)
        if kind is None:
            unclassified.append(f"{method} {path}")
            continue
        if kind == "own":
            continue
        request: dict[str, Any] | None = request_for(world, method, path)
        if request is None and method == "GET" and "{" not in path:
            request = {"url": path}  # a list of the organization's
        assert request is not None, (method, path)
        if method == "DELETE" and "{campaign_id}" in path:
            run_jobs(container)  # the scoring started above is done before it goes
        url = request.pop("url")
        response = client.request(method, url, headers=headers, **request)
        expected = EXPECTED[kind][role]
        where = (role, method, path, response.status_code, response.text[:300])
        if expected == ALLOWED:
            assert response.status_code not in (403, 404), where
            assert response.status_code < 500, where
        else:
            assert response.status_code == expected, where
            body = response.json()
            assert body["success"] is False, where
            if expected == 403:
                assert f"is {role}" in body["message"], where
                assert body["details"]["role"] == role, where
        walked += 1
    return walked, unclassified


@pytest.mark.parametrize("role", ["outsider", "viewer"])
def test_outsiders_find_nothing_and_viewers_change_nothing(
    client: TestClient, container: Container, agency: Team, auth: Auth, role: str
) -> None:
    world = _world(client, container, agency, auth, 0)
    before = snapshot(client, world, agency.members["owner"])
    walked, unclassified = _walk(client, container, world, role, agency.members[role])
    assert unclassified == [], f"classify these routes in {__file__}: {unclassified}"
    assert walked >= 80
    assert snapshot(client, world, agency.members["owner"]) == before


@pytest.mark.parametrize("role", ["analyst", "admin", "owner"])
def test_members_who_may_act_can_on_every_route(
    client: TestClient, container: Container, agency: Team, auth: Auth, role: str
) -> None:
    world = _world(client, container, agency, auth, 1)
    walked, unclassified = _walk(client, container, world, role, agency.members[role])
    assert unclassified == [], f"classify these routes in {__file__}: {unclassified}"
    assert walked >= 80


def test_every_api_route_documents_the_403_of_a_role_and_the_404(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    for path, operations in spec["paths"].items():
        if not path.startswith(API):
            continue
        for method, operation in operations.items():
            assert {"403", "404"} <= set(operation["responses"]), (method, path)
            if not path.startswith(f"{API}/auth/"):  # register's 403: not the token's user
                assert "role" in operation["responses"]["403"]["description"], (method, path)
