"""The statements a read of results costs (issue 19: under saturation every round trip
of a result page is paid 16 requests at a time). Counted, not timed."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, delete, event, select, update

from caliber.api.container import Container
from caliber.core.errors import NotFound
from caliber.db.models import Campaign, Membership, Role, User
from caliber.orgs import repository as org_repository
from caliber.orgs import service as org_service
from caliber.sample.export import write_sample
from caliber.scoring import runs

Scorer = Callable[[str, bytes], tuple[str, dict[str, str]]]
RESULTS = "/api/v1/scoring/results/{}"


@contextmanager
def _statements(engine: Engine) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


@pytest.fixture
def scored(score_as: Scorer, tmp_path: Any) -> str:
    export = tmp_path / "x.csv"
    write_sample(export, "trade_desk", "display", rows=300)
    campaign_id, _ = score_as("alice", export.read_bytes())
    return campaign_id


def test_the_latest_results_are_found_in_one_statement(container: Container, scored: str) -> None:
    """The campaign and the run its results are come from one query (they were two: the
    campaign, then its run by id)."""
    cid = uuid.UUID(scored)
    with container.sessions() as session:
        campaign = session.get(Campaign, cid)
        assert campaign is not None
        org_id, run_id = campaign.organization_id, campaign.results_run_id
        session.expunge_all()  # nothing already in the session's identity map
        with _statements(container.engine) as seen:
            view = runs.results_view(session, org_id, cid)
        assert len(seen) == 1, seen
        assert (view.campaign.id, view.run.id) == (cid, run_id)
        assert view.marker.stale is False


def test_another_organizations_campaign_is_still_not_found(
    container: Container, scored: str
) -> None:
    with container.sessions() as session, pytest.raises(NotFound, match="campaign not found"):
        runs.results_view(session, uuid.uuid4(), uuid.UUID(scored))


def test_the_caller_in_their_personal_organization_takes_one_statement(
    container: Container, scored: str
) -> None:
    """Every request asks which organization the caller acts in: by default their
    personal one, and their role in it, now one query (they were two: the organization,
    then the membership). The header's other organizations are read as before."""
    with container.sessions() as session:
        user = session.scalar(select(User).where(User.firebase_uid == "alice"))
        assert user is not None
        campaign = session.get(Campaign, uuid.UUID(scored))
        assert campaign is not None
        with _statements(container.engine) as seen:
            member, wrote = org_service.member_of(session, user, None)
        assert len(seen) == 1, seen
        assert (member.organization_id, member.role, wrote) == (
            campaign.organization_id,
            Role.OWNER,
            False,
        )
        other = uuid.uuid4()
        with pytest.raises(NotFound, match="organization not found"):
            org_service.member_of(session, user, str(other))


def test_the_user_their_personal_organization_and_role_are_one_statement(
    container: Container, scored: str
) -> None:
    """What every request reads first: the signed-in user (a disabled account is refused
    at once) and, by default, the organization it acts in and the role there (a removed
    member is refused at once), one query (they were two: the user, then the rest)."""
    with container.sessions() as session:
        campaign = session.get(Campaign, uuid.UUID(scored))
        assert campaign is not None
        org_id = campaign.organization_id
        session.expunge_all()
        with _statements(container.engine) as seen:
            found = org_repository.user_with_personal_role(session, "alice")
        assert len(seen) == 1, seen
        assert found is not None
        user, personal, role = found
        assert (user.firebase_uid, personal, role) == ("alice", org_id, Role.OWNER)
        assert org_repository.user_with_personal_role(session, "nobody") is None


def test_a_result_page_costs_two_statements(
    client: TestClient, container: Container, score_as: Scorer, tmp_path: Any
) -> None:
    """A result page reads the user with their organization and role, then the campaign
    with its run: two statements (three before issue 19's last trim)."""
    export = tmp_path / "x.csv"
    write_sample(export, "trade_desk", "display", rows=300)
    campaign_id, headers = score_as("alice", export.read_bytes())
    page = RESULTS.format(campaign_id)
    assert client.get(page, headers=headers).status_code == 200  # the run's frame held
    with _statements(container.engine) as seen:
        response = client.get(page, params={"sort_by": "ctr"}, headers=headers)
    assert response.status_code == 200, response.text
    assert len(seen) == 2, seen


def test_the_one_statement_still_refuses_at_once(
    client: TestClient, container: Container, score_as: Scorer, tmp_path: Any
) -> None:
    """Nothing of the caller is kept between requests: a member removed from their
    personal organization gets 404 and a disabled account 401 on their very next one."""
    export = tmp_path / "x.csv"
    write_sample(export, "trade_desk", "display", rows=300)
    campaign_id, headers = score_as("alice", export.read_bytes())
    page = RESULTS.format(campaign_id)
    assert client.get(page, headers=headers).status_code == 200
    with container.sessions() as session:
        user = session.scalar(select(User).where(User.firebase_uid == "alice"))
        assert user is not None
        session.execute(delete(Membership).where(Membership.user_id == user.id))
        session.commit()
    removed = client.get(page, headers=headers)
    assert removed.status_code == 404
    assert removed.json()["message"] == "organization not found"
    with container.sessions() as session:
        session.execute(update(User).values(is_active=False))
        session.commit()
    disabled = client.get(page, headers=headers)
    assert disabled.status_code == 401
    assert "disabled" in disabled.json()["message"]
