"""Routes: organizations, their members and invitations, and the audit log (issue 21).

These name the organization in the path; the other routes act in the one the request
chooses with ``X-Organization-Id``. Not a member: 404; a role that may not: 403."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query

from caliber.api.deps import CurrentClaims, CurrentUser, SessionDep
from caliber.core.envelope import Envelope, Page, ok, page
from caliber.db.models import Organization, Role
from caliber.orgs import audit, invitations
from caliber.orgs import service as org_service
from caliber.orgs.policy import Member
from caliber.orgs.schemas import (
    AuditOut,
    InvitationCreate,
    InvitationOut,
    MemberOut,
    OrganizationCreate,
    OrganizationOut,
    RoleChange,
)

router = APIRouter()


def _organization(organization: Organization, role: str, user_id: uuid.UUID) -> OrganizationOut:
    return OrganizationOut(
        id=organization.id,
        name=organization.name,
        personal=organization.personal_user_id == user_id,
        role=Role(role),
        created_at=organization.created_at,
    )


@router.get("", response_model=Envelope[list[OrganizationOut]])
def list_organizations(user: CurrentUser, session: SessionDep) -> Any:
    """The caller's organizations and their role in each, the personal one first."""
    _, wrote = org_service.ensure_personal(session, user)
    if wrote:
        session.commit()
    found = org_service.list_mine(session, user.id)
    return ok([_organization(o, role, user.id) for o, role in found])


@router.post("", status_code=201, response_model=Envelope[OrganizationOut])
def create_organization(body: OrganizationCreate, user: CurrentUser, session: SessionDep) -> Any:
    """A new organization; the caller is its owner."""
    organization = org_service.create(session, user.id, body.name)
    audit.record(
        session,
        Member(user.id, organization.id, Role.OWNER),
        "organization.created",
        "organization",
        organization.id,
        name=organization.name,
    )
    session.commit()
    return ok(_organization(organization, Role.OWNER, user.id), "organization created")


@router.post("/invitations/{invitation_id}/accept", response_model=Envelope[OrganizationOut])
def accept_invitation(
    invitation_id: uuid.UUID, user: CurrentUser, claims: CurrentClaims, session: SessionDep
) -> Any:
    """Join with the invitation's role: only when signed in with the invited email,
    verified (403 otherwise); expired, revoked or used: 409 saying which."""
    membership = invitations.accept(session, user, claims, invitation_id)
    joined = Member(user.id, membership.organization_id, Role(membership.role))
    audit.record(session, joined, "member.joined", "user", user.id, invitation=str(invitation_id))
    session.commit()
    organization, role = org_service.get(session, user.id, membership.organization_id)
    return ok(_organization(organization, role, user.id), "invitation accepted")


@router.get("/{organization_id}", response_model=Envelope[OrganizationOut])
def get_organization(organization_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> Any:
    organization, role = org_service.get(session, user.id, organization_id)
    return ok(_organization(organization, role, user.id))


@router.get("/{organization_id}/members", response_model=Envelope[list[MemberOut]])
def list_members(organization_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> Any:
    """Every member and their role (any member may see who they work with)."""
    member = org_service.member_in(session, user.id, organization_id)
    rows = org_service.list_members(session, member)
    return ok(
        [
            MemberOut(
                user_id=u.id, email=u.email, name=u.name, role=Role(m.role), joined_at=m.created_at
            )
            for m, u in rows
        ]
    )


@router.put("/{organization_id}/members/{user_id}", response_model=Envelope[MemberOut])
def change_role(
    organization_id: uuid.UUID,
    user_id: uuid.UUID,
    body: RoleChange,
    user: CurrentUser,
    session: SessionDep,
) -> Any:
    """Owners and admins; only owners make or unmake owners; the last owner keeps the
    role (409)."""
    member = org_service.member_in(session, user.id, organization_id)
    changed = org_service.change_role(session, member, user_id, body.role)
    audit.record(session, member, "member.role_changed", "user", user_id, role=body.role.value)
    session.commit()
    rows = {m.user_id: u for m, u in org_service.list_members(session, member)}
    who = rows[user_id]
    return ok(
        MemberOut(
            user_id=who.id,
            email=who.email,
            name=who.name,
            role=Role(changed.role),
            joined_at=changed.created_at,
        ),
        f"role is now {changed.role}",
    )


@router.delete("/{organization_id}/members/{user_id}", response_model=Envelope[None])
def remove_member(
    organization_id: uuid.UUID, user_id: uuid.UUID, user: CurrentUser, session: SessionDep
) -> Any:
    """Owners and admins remove a member; anyone may leave (their own id). The last owner
    cannot (409). The removed member's next request no longer finds the organization."""
    member = org_service.member_in(session, user.id, organization_id)
    removed = org_service.remove(session, member, user_id)
    action = "member.left" if user_id == user.id else "member.removed"
    audit.record(session, member, action, "user", user_id, role=removed.role)
    session.commit()
    return ok(None, "left the organization" if user_id == user.id else "member removed")


@router.post(
    "/{organization_id}/invitations", status_code=201, response_model=Envelope[InvitationOut]
)
def create_invitation(
    organization_id: uuid.UUID, body: InvitationCreate, user: CurrentUser, session: SessionDep
) -> Any:
    """Invite an email address with a role (owners and admins; owners alone invite
    owners). The answer's ``id`` is the token to send; it expires after 7 days."""
    member = org_service.member_in(session, user.id, organization_id)
    invitation = invitations.create(session, member, body.email, body.role)
    audit.record(
        session,
        member,
        "member.invited",
        "invitation",
        invitation.id,
        email=invitation.email,
        role=invitation.role,
    )
    session.commit()
    return ok(InvitationOut.model_validate(invitation), f"{invitation.email} invited")


@router.get("/{organization_id}/invitations", response_model=Envelope[list[InvitationOut]])
def list_invitations(organization_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> Any:
    member = org_service.member_in(session, user.id, organization_id)
    return ok([InvitationOut.model_validate(i) for i in invitations.list_open(session, member)])


@router.delete(
    "/{organization_id}/invitations/{invitation_id}", response_model=Envelope[InvitationOut]
)
def revoke_invitation(
    organization_id: uuid.UUID, invitation_id: uuid.UUID, user: CurrentUser, session: SessionDep
) -> Any:
    member = org_service.member_in(session, user.id, organization_id)
    invitation = invitations.revoke(session, member, invitation_id)
    audit.record(
        session, member, "invitation.revoked", "invitation", invitation.id, email=invitation.email
    )
    session.commit()
    return ok(InvitationOut.model_validate(invitation), "invitation revoked")


@router.get("/{organization_id}/audit", response_model=Page[AuditOut])
def audit_log(
    organization_id: uuid.UUID,
    user: CurrentUser,
    session: SessionDep,
    page_number: Annotated[int, Query(alias="page", ge=1, le=10_000_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=100)] = 50,
) -> Any:
    """Who did what and when, newest first (owners and admins)."""
    member = org_service.member_in(session, user.id, organization_id)
    rows, total = audit.page(session, member, page=page_number, per_page=per_page)
    return page(
        [AuditOut.model_validate(r) for r in rows], total=total, page=page_number, per_page=per_page
    )
