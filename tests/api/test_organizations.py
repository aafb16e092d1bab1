"""Organizations (issue 21): the personal one, the request's choice, invitations with
verified and unverified emails, expired and revoked ones, members and the last owner, a
removed member's access, the audit log, and the seed's /auth/me and /auth/register."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta

from fastapi.testclient import TestClient

from caliber.api.container import Container
from caliber.db.base import utcnow
from caliber.db.models import Invitation
from tests.api.test_scoring import API, attach, create_campaign
from tests.engine.exports import make_export

CSV = make_export("trade_desk", "display", seed=91).encode()

Auth = Callable[[str], dict[str, str]]
Token = Callable[..., str]


def bearer(token: str, organization: str | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {token}"}
    if organization is not None:
        headers["X-Organization-Id"] = organization
    return headers


def in_org(headers: dict[str, str], organization: str) -> dict[str, str]:
    return {**headers, "X-Organization-Id": organization}


def team(client: TestClient, owner: dict[str, str], name: str = "Agency") -> str:
    response = client.post(f"{API}/organizations", json={"name": name}, headers=owner)
    assert response.status_code == 201, response.text
    assert response.json()["data"]["role"] == "owner"
    organization: str = response.json()["data"]["id"]
    return organization


def invite(
    client: TestClient, inviter: dict[str, str], organization: str, email: str, role: str
) -> str:
    response = client.post(
        f"{API}/organizations/{organization}/invitations",
        json={"email": email, "role": role},
        headers=inviter,
    )
    assert response.status_code == 201, response.text
    invitation: str = response.json()["data"]["id"]
    return invitation


def accept(client: TestClient, headers: dict[str, str], invitation: str) -> int:
    url = f"{API}/organizations/invitations/{invitation}/accept"
    return client.post(url, headers=headers).status_code


def join(
    client: TestClient, owner: dict[str, str], organization: str, auth: Auth, uid: str, role: str
) -> dict[str, str]:
    """``uid`` signed in, invited with ``role`` and accepted: their headers in the team."""
    headers = auth(uid)
    assert accept(client, headers, invite(client, owner, organization, f"{uid}@example.com", role))
    return in_org(headers, organization)


def user_id(client: TestClient, headers: dict[str, str]) -> str:
    found: str = client.get(f"{API}/auth/me", headers=headers).json()["data"]["id"]
    return found


def test_a_user_works_in_their_personal_organization_by_default(
    client: TestClient, auth: Auth
) -> None:
    alice = auth("org-alice")
    (personal,) = client.get(f"{API}/organizations", headers=alice).json()["data"]
    assert (personal["personal"], personal["role"]) == (True, "owner")
    campaign = create_campaign(client, alice)
    body = client.get(f"{API}/campaigns/{campaign}", headers=alice).json()["data"]
    assert body["organization_id"] == personal["id"]
    # the header naming it is the same as sending none
    same = client.get(f"{API}/campaigns", headers=in_org(alice, personal["id"])).json()
    assert [c["id"] for c in same["data"]] == [campaign]
    # /auth/me answers like /auth/profile
    me = client.get(f"{API}/auth/me", headers=alice).json()
    assert me == client.get(f"{API}/auth/profile", headers=alice).json()


def test_each_organization_says_what_the_callers_role_may_do(
    client: TestClient, auth: Auth
) -> None:
    """The permissions a client shows its controls by are the policy's, per role (the
    roles table of docs/service.md), on the list and on one organization."""
    owner = auth("perm-owner")
    agency = team(client, owner)
    expected = {
        "owner": ["read", "work", "ask_ai", "manage_members", "read_audit"],
        "admin": ["read", "work", "ask_ai", "manage_members", "read_audit"],
        "analyst": ["read", "work", "ask_ai"],
        "viewer": ["read"],
    }
    members = {"owner": owner}
    for role in ("admin", "analyst", "viewer"):
        members[role] = join(client, owner, agency, auth, f"perm-{role}", role)
    for role, headers in members.items():
        listed = client.get(f"{API}/organizations", headers=headers).json()["data"]
        (mine,) = [o for o in listed if o["id"] == agency]
        assert (mine["role"], mine["permissions"]) == (role, expected[role])
        one = client.get(f"{API}/organizations/{agency}", headers=headers).json()["data"]
        assert one["permissions"] == expected[role]
    # a viewer made analyst may work from the next answer on
    viewer_id = user_id(client, members["viewer"])
    changed = client.put(
        f"{API}/organizations/{agency}/members/{viewer_id}",
        json={"role": "analyst"},
        headers=owner,
    )
    assert changed.status_code == 200, changed.text
    again = client.get(f"{API}/organizations/{agency}", headers=members["viewer"]).json()
    assert again["data"]["permissions"] == expected["analyst"]


def test_the_header_must_name_one_of_the_callers_organizations(
    client: TestClient, auth: Auth
) -> None:
    alice, bob = auth("org-alice"), auth("org-bob")
    agency = team(client, alice)
    for organization in (agency, str(uuid.uuid4())):
        response = client.get(f"{API}/campaigns", headers=in_org(bob, organization))
        assert response.status_code == 404, response.text
        assert response.json()["error"] == "not_found"
        assert client.get(f"{API}/organizations/{organization}", headers=bob).status_code == 404
    bad = client.get(f"{API}/campaigns", headers=in_org(bob, "not-a-uuid"))
    assert bad.status_code == 422
    assert "X-Organization-Id" in bad.json()["message"]


def test_an_invitation_is_accepted_only_with_its_verified_email(
    client: TestClient, auth: Auth, token_for: Token
) -> None:
    alice = auth("org-alice")
    agency = team(client, alice)
    shared = create_campaign(client, in_org(alice, agency))
    invitation = invite(client, alice, agency, "Org-Bob@Example.com", "analyst")

    unverified = bearer(token_for("org-bob", email="org-bob@example.com", email_verified=False))
    refused = client.post(
        f"{API}/organizations/invitations/{invitation}/accept", headers=unverified
    )
    assert refused.status_code == 403, refused.text
    assert "verif" in refused.json()["message"]
    # someone else, verified, cannot take it: not found
    assert accept(client, auth("org-carol"), invitation) == 404
    assert client.get(
        f"{API}/campaigns/{shared}", headers=in_org(unverified, agency)
    ).status_code == (404)

    verified = bearer(token_for("org-bob", email="org-bob@example.com"))
    assert accept(client, verified, invitation) == 200
    bob = in_org(verified, agency)
    assert client.get(f"{API}/campaigns/{shared}", headers=bob).status_code == 200
    roles = {
        o["name"]: o["role"] for o in client.get(f"{API}/organizations", headers=bob).json()["data"]
    }
    assert roles["Agency"] == "analyst"
    # used: refused saying so
    again = client.post(f"{API}/organizations/invitations/{invitation}/accept", headers=verified)
    assert again.status_code == 409
    assert "already accepted" in again.json()["message"]


def test_expired_and_revoked_invitations_are_refused_clearly(
    client: TestClient, container: Container, auth: Auth
) -> None:
    alice, bob = auth("org-alice"), auth("org-bob")
    agency = team(client, alice)
    expired = invite(client, alice, agency, "org-bob@example.com", "viewer")
    with container.sessions() as session:
        row = session.get(Invitation, uuid.UUID(expired))
        assert row is not None
        row.expires_at = utcnow() - timedelta(minutes=1)
        session.commit()
    response = client.post(f"{API}/organizations/invitations/{expired}/accept", headers=bob)
    assert response.status_code == 409
    assert "expired" in response.json()["message"]

    revoked = invite(client, alice, agency, "org-bob@example.com", "viewer")
    url = f"{API}/organizations/{agency}/invitations/{revoked}"
    gone = client.delete(url, headers=alice)
    assert gone.status_code == 200
    assert gone.json()["data"]["revoked_at"] is not None
    response = client.post(f"{API}/organizations/invitations/{revoked}/accept", headers=bob)
    assert response.status_code == 409
    assert "revoked" in response.json()["message"]
    assert client.get(f"{API}/campaigns", headers=in_org(bob, agency)).status_code == 404


def test_a_removed_member_loses_access_on_their_next_request(
    client: TestClient, auth: Auth
) -> None:
    alice = auth("org-alice")
    agency = team(client, alice)
    campaign = create_campaign(client, in_org(alice, agency))
    bob = join(client, alice, agency, auth, "org-bob", "analyst")
    assert client.get(f"{API}/campaigns/{campaign}", headers=bob).status_code == 200
    removed = client.delete(
        f"{API}/organizations/{agency}/members/{user_id(client, bob)}", headers=alice
    )
    assert removed.status_code == 200, removed.text
    assert client.get(f"{API}/campaigns/{campaign}", headers=bob).status_code == 404
    assert client.get(f"{API}/organizations/{agency}", headers=bob).status_code == 404
    # the campaign stays the organization's
    assert client.get(f"{API}/campaigns/{campaign}", headers=in_org(alice, agency)).status_code == (
        200
    )


def test_the_last_owner_can_neither_leave_nor_be_demoted(client: TestClient, auth: Auth) -> None:
    alice = auth("org-alice")
    agency = team(client, alice)
    me = user_id(client, alice)
    members = f"{API}/organizations/{agency}/members"
    demoted = client.put(f"{members}/{me}", json={"role": "admin"}, headers=alice)
    assert demoted.status_code == 409
    assert "last owner" in demoted.json()["message"]
    left = client.delete(f"{members}/{me}", headers=alice)
    assert left.status_code == 409
    # an admin may manage members but not owners
    admin = join(client, alice, agency, auth, "org-admin", "admin")
    promoted = client.put(
        f"{members}/{user_id(client, admin)}", json={"role": "owner"}, headers=admin
    )
    assert promoted.status_code == 403
    assert "admin" in promoted.json()["message"]
    assert client.delete(f"{members}/{me}", headers=admin).status_code == 403
    # with a second owner, the first may go
    assert (
        client.put(
            f"{members}/{user_id(client, admin)}", json={"role": "owner"}, headers=alice
        ).status_code
        == 200
    )
    assert client.delete(f"{members}/{me}", headers=alice).status_code == 200
    roles = [m["role"] for m in client.get(members, headers=admin).json()["data"]]
    assert roles == ["owner"]


def test_the_audit_log_records_who_did_what_for_owners_and_admins(
    client: TestClient, container: Container, auth: Auth
) -> None:
    alice = auth("org-alice")
    agency = team(client, alice)
    viewer = join(client, alice, agency, auth, "org-viewer", "viewer")
    analyst = join(client, alice, agency, auth, "org-analyst", "analyst")
    campaign = create_campaign(client, analyst)
    names = ("cpm", "ias_display_fully_in_view_1s_rate", "ctr", "ad_load_xl_rate")
    weights = {"weights": {**dict.fromkeys(names, 0.2), "ad_refresh_below_15s_rate": 0.2}}
    changed = client.put(f"{API}/campaigns/{campaign}/weights", json=weights, headers=analyst)
    assert changed.status_code == 200, changed.text
    attach(container, campaign, CSV)
    started = client.post(f"{API}/scoring/start", json={"campaign_id": campaign}, headers=analyst)
    assert started.status_code == 202, started.text
    container.jobs.join(timeout=120)
    url = f"{API}/reports/export/campaigns/{campaign}/whitelist/trade-desk"
    assert client.get(url, headers=viewer).status_code == 200  # viewers download lists
    client.delete(f"{API}/organizations/{agency}/members/{user_id(client, viewer)}", headers=alice)

    audit = f"{API}/organizations/{agency}/audit"
    for refused in (analyst,):
        response = client.get(audit, headers=refused)
        assert response.status_code == 403
        assert "analyst" in response.json()["message"]
    first = client.get(audit, params={"per_page": 2}, headers=alice).json()
    assert first["per_page"] == 2
    assert first["has_next"] is True
    entries = client.get(audit, params={"per_page": 100}, headers=alice).json()["data"]
    by_action = {e["action"]: e for e in reversed(entries)}
    analyst_id, viewer_id = user_id(client, analyst), user_id(client, viewer)
    assert by_action["campaign.created"]["actor_id"] == analyst_id
    assert by_action["campaign.created"]["object_id"] == campaign
    assert by_action["campaign.scored"]["actor_id"] == analyst_id
    assert by_action["campaign.weights_changed"]["details"]["weights"] == weights["weights"]
    assert by_action["list.exported"]["actor_id"] == viewer_id
    assert by_action["list.exported"]["details"]["format"] == "whitelist_trade_desk"
    assert by_action["member.invited"]["details"]["email"] in (
        "org-viewer@example.com",
        "org-analyst@example.com",
    )
    assert by_action["member.removed"]["object_id"] == viewer_id
    assert entries[0]["created_at"] >= entries[-1]["created_at"]  # newest first


def test_register_creates_only_the_tokens_user_and_joins_only_by_invitation(
    client: TestClient, auth: Auth, token_for: Token
) -> None:
    alice = auth("org-alice")
    agency = team(client, alice)
    token = token_for("org-dave", email="org-dave@example.com")
    body = {"firebase_uid": "org-dave", "email": "org-dave@example.com", "name": "Dave"}
    url = f"{API}/auth/register"
    for wrong in ({"firebase_uid": "someone-else"}, {"email": "other@example.com"}):
        response = client.post(url, json={**body, **wrong}, headers=bearer(token))
        assert response.status_code == 403, response.text
    unverified = token_for("org-dave", email="org-dave@example.com", email_verified=False)
    assert client.post(url, json=body, headers=bearer(unverified)).status_code == 403
    # no invitation to that organization: not joined, nothing made
    response = client.post(url, json={**body, "organization_id": agency}, headers=bearer(token))
    assert response.status_code == 404
    invite(client, alice, agency, "org-dave@example.com", "viewer")
    response = client.post(url, json={**body, "organization_id": agency}, headers=bearer(token))
    assert response.status_code == 201, response.text
    assert response.json()["data"]["name"] == "Dave"
    names = {
        o["name"]: o["role"]
        for o in client.get(f"{API}/organizations", headers=bearer(token)).json()["data"]
    }
    assert names["Agency"] == "viewer"
    assert len(names) == 2  # and the personal one


def test_the_seeds_pdf_path_answers_as_the_pdf_route_and_is_deprecated(
    client: TestClient, container: Container, auth: Auth
) -> None:
    from tests.api.test_scoring import scored_campaign

    alice = auth("org-alice")
    campaign = scored_campaign(client, container, alice, CSV)
    params = {"include_charts": "false"}
    new = client.get(f"{API}/reports/campaigns/{campaign}/pdf", params=params, headers=alice)
    old = client.get(
        f"{API}/reports/reports/campaigns/{campaign}/pdf", params=params, headers=alice
    )
    assert (old.status_code, old.headers["content-type"]) == (200, "application/pdf")
    assert old.headers["content-disposition"] == new.headers["content-disposition"]
    assert old.content[:5] == b"%PDF-"
    assert abs(len(old.content) - len(new.content)) < 64  # only the creation time differs
    spec = client.get("/openapi.json").json()["paths"]
    assert spec[f"{API}/reports/reports/campaigns/{{campaign_id}}/pdf"]["get"]["deprecated"]
    assert "deprecated" not in spec[f"{API}/reports/campaigns/{{campaign_id}}/pdf"]["get"]
    # another user's campaign: not found there too
    assert (
        client.get(f"{API}/reports/reports/campaigns/{campaign}/pdf", headers=auth("org-bob"))
    ).status_code == 404


def test_a_member_is_not_invited_again_whatever_the_case_of_their_address(
    client: TestClient, auth: Auth, token_for: Token
) -> None:
    alice = auth("org-alice")
    agency = team(client, alice)
    carol = bearer(token_for("org-carol", email="Org-Carol@Example.com"))
    assert accept(
        client, carol, invite(client, alice, agency, "org-carol@example.com", "viewer")
    ) == (200)
    again = client.post(
        f"{API}/organizations/{agency}/invitations",
        json={"email": "ORG-CAROL@example.com", "role": "admin"},
        headers=alice,
    )
    assert again.status_code == 409, again.text
    assert "already a member" in again.json()["message"]


def test_a_viewer_replaying_another_organizations_ids_finds_nothing_rather_than_a_403(
    client: TestClient, auth: Auth
) -> None:
    alice = auth("org-alice")
    agency = team(client, alice)
    viewer = join(client, alice, agency, auth, "org-viewer", "viewer")
    elsewhere = create_campaign(client, auth("org-erin"))  # in Erin's personal organization
    mine = create_campaign(client, in_org(alice, agency))
    for campaign, status in ((elsewhere, 404), (mine, 403)):
        answers = [
            client.delete(f"{API}/campaigns/{campaign}", headers=viewer),
            client.put(
                f"{API}/campaigns/{campaign}/confidence",
                json={"list_confidence": 0.8},
                headers=viewer,
            ),
            client.post(f"{API}/scoring/start", json={"campaign_id": campaign}, headers=viewer),
        ]
        assert [a.status_code for a in answers] == [status] * 3, [a.text for a in answers]


def test_a_job_acts_for_its_starter_only_while_they_are_a_member(
    client: TestClient, container: Container, auth: Auth
) -> None:
    from caliber.scoring import jobs as scoring_jobs
    from tests.api.test_scoring import hold_jobs

    alice = auth("org-alice")
    agency = team(client, alice)
    analyst = join(client, alice, agency, auth, "org-analyst", "analyst")
    campaign = create_campaign(client, analyst)
    attach(container, campaign, CSV)
    calls = hold_jobs(container)
    started = client.post(f"{API}/scoring/start", json={"campaign_id": campaign}, headers=analyst)
    assert started.status_code == 202, started.text
    (job,) = calls
    assert (job["campaign_id"], job["user_id"]) == (
        campaign,
        user_id(client, analyst),
    )  # not the org
    client.delete(f"{API}/organizations/{agency}/members/{job['user_id']}", headers=alice)
    scoring_jobs.run_scoring_job(container, campaign_id=campaign, user_id=job["user_id"])
    progress = f"{API}/scoring/progress/{campaign}"
    assert client.get(progress, headers=in_org(alice, agency)).json()["data"]["status"] == (
        "processing"
    )
    # the same job for someone who is still a member completes it
    scoring_jobs.run_scoring_job(container, campaign_id=campaign, user_id=user_id(client, alice))
    assert client.get(progress, headers=in_org(alice, agency)).json()["data"]["status"] == (
        "completed"
    )
