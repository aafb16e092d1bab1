"""Organizations and who belongs to them: the personal one, the caller's choice per
request, members and their roles (the routes commit; invitations: ``orgs.invitations``)."""

from __future__ import annotations

import uuid

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from caliber.core.errors import Conflict, InvalidInput, NotFound
from caliber.db.models import Campaign, Export, FileUpload, Membership, Organization, Role, User
from caliber.orgs import policy, repository
from caliber.orgs.policy import Member

HEADER = "X-Organization-Id"


def personal_name(user: User) -> str:
    """As migration 0009 names the personal organizations it makes."""
    who = (user.name or user.email or "").strip()
    return f"{who[:180]} (personal)" if who else "Personal"


def ensure_personal(session: Session, user: User) -> tuple[Organization, bool]:
    """The user's personal organization, made (with them its owner) on first sign-in;
    and whether it was made now. Concurrent first requests converge on one through
    the unique ``personal_user_id``."""
    found = repository.personal_of(session, user.id)
    if found is not None:
        return found, False
    try:
        with session.begin_nested():
            organization = repository.add_organization(
                session, personal_name(user), user.id, personal=True
            )
    except IntegrityError:
        again = repository.personal_of(session, user.id)
        if again is None:
            raise
        return again, False
    return organization, True


def member_of(
    session: Session,
    user: User,
    header: str | None,
    known: tuple[uuid.UUID, str | None] | None = None,
) -> tuple[Member, bool]:
    """The caller in the organization ``header`` names (default: their personal one);
    not a member (or no such organization): not found. Also whether anything was written
    (a personal organization made now). ``known``: the personal organization and the
    role in it, when this request has already read them (``auth.service.sign_in``)."""
    if header is None or not header.strip():
        # the default, on most requests: the personal organization and the role in it
        # in one round trip (issue 19), or none when read with the user; made below on
        # a first sign-in
        found = known if known is not None else repository.personal_role(session, user.id)
        if found is not None:
            if found[1] is None:
                raise NotFound("organization not found", organization_id=str(found[0]))
            return Member(user.id, found[0], Role(found[1])), False
    personal, wrote = ensure_personal(session, user)
    if header is None or not header.strip():
        organization_id = personal.id
    else:
        try:
            organization_id = uuid.UUID(header.strip())
        except ValueError:
            raise InvalidInput(
                f"{HEADER} must be an organization's id (a UUID); got {header.strip()[:80]!r}",
                header=HEADER,
            ) from None
    role = repository.role_of(session, organization_id, user.id)
    if role is None:
        raise NotFound("organization not found", organization_id=str(organization_id))
    return Member(user.id, organization_id, Role(role)), wrote


def scope_of(session: Session, user_id: uuid.UUID, organization_id: uuid.UUID | None) -> uuid.UUID:
    """``organization_id`` when ``user_id`` is still one of its members (a job acting for
    the user who started it); not found otherwise."""
    if (
        organization_id is not None
        and repository.role_of(session, organization_id, user_id) is not None
    ):
        return organization_id
    raise NotFound("not found: not a member of its organization")


def campaign_scope(session: Session, user_id: uuid.UUID, campaign_id: uuid.UUID) -> uuid.UUID:
    found = repository.organization_of(session, Campaign, campaign_id)
    return scope_of(session, user_id, found)


def export_scope(session: Session, user_id: uuid.UUID, export_id: uuid.UUID) -> uuid.UUID:
    found = repository.organization_of(session, Export, export_id)
    return scope_of(session, user_id, found)


def upload_scope(session: Session, user_id: uuid.UUID, file_id: uuid.UUID) -> uuid.UUID:
    found = repository.organization_of(session, FileUpload, file_id)
    return scope_of(session, user_id, found)


def list_mine(session: Session, user_id: uuid.UUID) -> list[tuple[Organization, str]]:
    """The user's organizations and their role in each, the personal one first."""
    return repository.with_roles(session, user_id)


def create(session: Session, user_id: uuid.UUID, name: str) -> Organization:
    """A new organization; its creator its owner."""
    return repository.add_organization(session, name, user_id)


def get(
    session: Session, user_id: uuid.UUID, organization_id: uuid.UUID
) -> tuple[Organization, str]:
    found = repository.with_role(session, user_id, organization_id)
    if found is None:
        raise NotFound("organization not found", organization_id=str(organization_id))
    return found


def member_in(session: Session, user_id: uuid.UUID, organization_id: uuid.UUID) -> Member:
    """The caller in the organization a path names; not a member: not found."""
    _, role = get(session, user_id, organization_id)
    return Member(user_id, organization_id, Role(role))


def list_members(session: Session, member: Member) -> list[tuple[Membership, User]]:
    return repository.members(session, member.organization_id)


def _membership(session: Session, organization_id: uuid.UUID, user_id: uuid.UUID) -> Membership:
    found = repository.membership(session, organization_id, user_id, for_update=True)
    if found is None:
        raise NotFound("member not found", user_id=str(user_id))
    return found


def _keep_an_owner(session: Session, target: Membership, verb: str) -> None:
    if target.role == Role.OWNER and repository.owners(session, target.organization_id) <= 1:
        raise Conflict(
            f"the last owner cannot {verb}: make another member an owner first",
            user_id=str(target.user_id),
        )


def change_role(session: Session, member: Member, user_id: uuid.UUID, role: Role) -> Membership:
    """Set a member's role (owners and admins; owners alone make or unmake owners; the
    last owner keeps the role)."""
    target = _membership(session, member.organization_id, user_id)
    policy.require(member, policy.Action.MANAGE_MEMBERS)
    policy.require_grant(member, Role(target.role))
    policy.require_grant(member, role)
    if role != Role.OWNER:
        _keep_an_owner(session, target, "be demoted")
    target.role = role
    session.flush()
    return target


def remove(session: Session, member: Member, user_id: uuid.UUID) -> Membership:
    """Remove a member (owners and admins; anyone may leave; the last owner cannot). Their
    access ends with the next request: every request reads the membership again."""
    target = _membership(session, member.organization_id, user_id)
    if user_id != member.user_id:
        policy.require(member, policy.Action.MANAGE_MEMBERS)
        policy.require_grant(member, Role(target.role))
    _keep_an_owner(session, target, "leave")
    session.delete(target)
    session.flush()
    return target
