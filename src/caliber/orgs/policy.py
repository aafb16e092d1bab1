"""What a member's role may do: the one place that decides (issue 21).

Reading is every member's: viewers read everything of the organization and download its
reports. Analysts also create, change, score and delete campaigns, templates, uploads and
exports and ask the AI analyst. Owners and admins also manage members and invitations and
read the audit log; only owners make or unmake owners. Anything outside the caller's
organizations is "not found" (404) before any of this is asked: :func:`authorize` checks
that the objects it is given are the organization's first, so a viewer replaying another
organization's id learns nothing from a 403.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy.orm import Session

from caliber.core.errors import NotFound, PermissionDenied
from caliber.db.models import Campaign, CampaignTemplate, Export, FileUpload, Role
from caliber.orgs import repository


class Action(StrEnum):
    """What a request does, in the words a refusal uses."""

    READ = "read the organization's data"
    WORK = "create, change, score or delete campaigns, templates, uploads and exports"
    ASK_AI = "ask the AI analyst"
    MANAGE_MEMBERS = "manage members and invitations"
    READ_AUDIT = "read the audit log"


_ALLOWED: dict[Role, frozenset[Action]] = {
    Role.VIEWER: frozenset({Action.READ}),
    Role.ANALYST: frozenset({Action.READ, Action.WORK, Action.ASK_AI}),
    Role.ADMIN: frozenset(Action),
    Role.OWNER: frozenset(Action),
}


@dataclass(frozen=True)
class Member:
    """The caller, in the organization the request chose (``X-Organization-Id``)."""

    user_id: uuid.UUID
    organization_id: uuid.UUID
    role: Role


def allows(role: Role, action: Action) -> bool:
    return action in _ALLOWED[role]


def permissions(role: Role) -> list[str]:
    """What the role may do, by the names refusals use (``read``, ``work``, ``ask_ai``,
    ``manage_members``, ``read_audit``), in :class:`Action`'s order: what a client shows
    or hides its controls by, so this module stays the one place that decides."""
    return [action.name.lower() for action in Action if allows(role, action)]


def require(member: Member, action: Action) -> None:
    """Refuse (403, the role named) what the member's role may not do."""
    if not allows(member.role, action):
        raise PermissionDenied(
            f"your role in this organization is {member.role.value}: "
            f"a {member.role.value} may not {action.value}",
            role=member.role.value,
            action=action.name.lower(),
        )


def require_grant(member: Member, role: Role) -> None:
    """Owners alone make owners (and change or remove one)."""
    if role == Role.OWNER and member.role != Role.OWNER:
        raise PermissionDenied(
            f"your role in this organization is {member.role.value}: only an owner may "
            "make, change or remove an owner",
            role=member.role.value,
            action="manage_owners",
        )


_OWNED: dict[str, repository.Owned] = {
    "campaign": Campaign,
    "template": CampaignTemplate,
    "upload": FileUpload,
    "export": Export,
}
_MISSING = {
    "campaign": "campaign not found",
    "template": "template not found",
    "upload": "file not found",
    "export": "export not found",
}


def authorize(
    session: Session,
    member: Member,
    action: Action,
    *,
    campaign: uuid.UUID | None = None,
    template: uuid.UUID | None = None,
    upload: uuid.UUID | None = None,
    export: uuid.UUID | None = None,
) -> None:
    """404 for a named object outside the member's organization, then 403 for an action
    the role may not take. The service that acts scopes its own reads again (the object
    may go meanwhile); this only orders the two answers."""
    named = {"campaign": campaign, "template": template, "upload": upload, "export": export}
    for kind, object_id in named.items():
        if object_id is None:
            continue
        if not repository.belongs(session, _OWNED[kind], object_id, member.organization_id):
            raise NotFound(_MISSING[kind])
    require(member, action)
