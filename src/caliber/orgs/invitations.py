"""Invitations: an owner or admin invites an email address with a role; whoever signs in
with that address (verified by the token's ``email_verified`` claim) accepts it."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy.orm import Session

from caliber.auth.verifier import Claims
from caliber.core.errors import Conflict, NotFound, PermissionDenied
from caliber.db.base import utcnow
from caliber.db.models import Invitation, Membership, Role, User
from caliber.orgs import policy, repository
from caliber.orgs.policy import Member

VALID_FOR = timedelta(days=7)


def create(session: Session, member: Member, email: str, role: Role) -> Invitation:
    policy.require(member, policy.Action.MANAGE_MEMBERS)
    policy.require_grant(member, role)
    if repository.has_member_with_email(session, member.organization_id, email):
        raise Conflict(f"{email} is already a member of this organization", email=email)
    invitation = Invitation(
        organization_id=member.organization_id,
        email=email,
        role=role,
        invited_by=member.user_id,
        expires_at=utcnow() + VALID_FOR,
    )
    session.add(invitation)
    session.flush()
    return invitation


def list_open(session: Session, member: Member) -> list[Invitation]:
    """The organization's invitations, newest first (accepted, revoked and expired too:
    their fields say which)."""
    policy.require(member, policy.Action.MANAGE_MEMBERS)
    return repository.invitations(session, member.organization_id)


def _of(session: Session, member: Member, invitation_id: uuid.UUID) -> Invitation:
    found = repository.invitation_in(session, member.organization_id, invitation_id)
    if found is None:
        raise NotFound("invitation not found", invitation_id=str(invitation_id))
    return found


def revoke(session: Session, member: Member, invitation_id: uuid.UUID) -> Invitation:
    invitation = _of(session, member, invitation_id)
    policy.require(member, policy.Action.MANAGE_MEMBERS)
    if invitation.accepted_at is not None:
        raise Conflict("this invitation was already accepted; remove the member instead")
    if invitation.revoked_at is None:
        invitation.revoked_at = utcnow()
        session.flush()
    return invitation


def accept(session: Session, user: User, claims: Claims, invitation_id: uuid.UUID) -> Membership:
    """Join the invitation's organization with its role. Only the invited address, signed
    in with a verified email, may; another's invitation is not found (its id proves
    nothing else); expired, revoked or used ones are refused saying which."""
    invitation = repository.invitation_for_update(session, invitation_id)
    email = (claims.email or "").strip().lower()
    if invitation is None or invitation.email != email:
        raise NotFound("invitation not found", invitation_id=str(invitation_id))
    if not claims.email_verified:
        raise PermissionDenied(
            f"verify {claims.email} with your sign-in provider first: an invitation is "
            "accepted only by a verified email address",
            reason="email_not_verified",
        )
    if invitation.revoked_at is not None:
        raise Conflict("this invitation was revoked; ask for a new one", reason="revoked")
    if invitation.accepted_at is not None:
        raise Conflict("this invitation was already accepted", reason="accepted")
    if invitation.expires_at <= utcnow():
        raise Conflict(
            f"this invitation expired at {invitation.expires_at.isoformat()}; ask for a new one",
            reason="expired",
        )
    membership = repository.membership(session, invitation.organization_id, user.id)
    if membership is None:
        membership = Membership(
            organization_id=invitation.organization_id, user_id=user.id, role=invitation.role
        )
        session.add(membership)
    invitation.accepted_at = utcnow()
    invitation.accepted_by = user.id
    session.flush()
    return membership


def open_for(session: Session, organization_id: uuid.UUID, email: str) -> uuid.UUID:
    """The newest invitation of ``email`` to the organization, for registering with it;
    none: not found (whether the organization exists is not told)."""
    found = repository.newest_invitation(session, organization_id, email)
    if found is None:
        raise NotFound(
            f"no invitation for {email} to organization {organization_id}: ask one of its "
            "owners or admins to invite you",
            organization_id=str(organization_id),
        )
    return found
