"""Routes: sign-in with a Firebase ID token, registration (the seed's), and the
signed-in user's profile."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from caliber.api.deps import (
    ContainerDep,
    CurrentClaims,
    CurrentUser,
    OptionalUser,
    SessionDep,
    claims_for_token,
)
from caliber.api.errors import ErrorBody
from caliber.auth.schemas import LoginRequest, ProfileUpdate, UserCreate, UserOut
from caliber.auth.service import ensure_user, get_or_create_user, update_profile
from caliber.core.envelope import Envelope, ok
from caliber.core.errors import PermissionDenied, Unauthenticated
from caliber.db.models import Role
from caliber.orgs import audit, invitations
from caliber.orgs import service as org_service
from caliber.orgs.policy import Member

router = APIRouter()

_UNAUTHENTICATED: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "No token, or a token that does not verify"}
}


@router.post(
    "/login",
    response_model=Envelope[UserOut],
    responses={
        **_UNAUTHENTICATED,
        503: {"model": ErrorBody, "description": "Firebase's certificate server is unavailable"},
    },
)
def login(body: LoginRequest, container: ContainerDep, session: SessionDep) -> dict[str, Any]:
    """Verify a Firebase ID token; create the user on first sign-in; record the sign-in."""
    claims = claims_for_token(container, body.token)
    user = get_or_create_user(session, claims, touch_login=True)
    if not user.is_active:
        raise Unauthenticated("this account is disabled")
    org_service.ensure_personal(session, user)
    session.commit()
    return ok(UserOut.model_validate(user), "signed in")


@router.post(
    "/register",
    status_code=201,
    response_model=Envelope[UserOut],
    responses={
        **_UNAUTHENTICATED,
        403: {"model": ErrorBody, "description": "The body is not the token's user"},
    },
)
def register(body: UserCreate, claims: CurrentClaims, session: SessionDep) -> dict[str, Any]:
    """Create (or find) the token's user: the body's uid and email must be the token's,
    and the email verified, so nobody registers someone else. With ``organization_id``,
    join it through an open invitation to that email (none: 404; expired or revoked:
    409)."""
    email = body.email.strip().lower()
    if body.firebase_uid != claims.uid:
        raise PermissionDenied(
            "firebase_uid must be the signed-in user's (the token's uid)", field="firebase_uid"
        )
    if (claims.email or "").strip().lower() != email:
        raise PermissionDenied("email must be the signed-in user's (the token's)", field="email")
    if not claims.email_verified:
        raise PermissionDenied(
            f"verify {email} with your sign-in provider first: registering needs a verified email",
            reason="email_not_verified",
        )
    user, _ = ensure_user(session, claims, touch_login=True)
    if not user.is_active:
        raise Unauthenticated("this account is disabled")
    if body.name is not None:
        update_profile(session, user, name=body.name)
    org_service.ensure_personal(session, user)
    if body.organization_id is not None:
        invitation = invitations.open_for(session, body.organization_id, email)
        membership = invitations.accept(session, user, claims, invitation)
        joined = Member(user.id, membership.organization_id, Role(membership.role))
        audit.record(session, joined, "member.joined", "user", user.id, invitation=str(invitation))
    session.commit()
    return ok(UserOut.model_validate(user), "registered")


@router.get("/profile", response_model=Envelope[UserOut], responses=_UNAUTHENTICATED)
def get_profile(user: CurrentUser) -> dict[str, Any]:
    """The signed-in user."""
    return ok(UserOut.model_validate(user))


@router.get("/me", response_model=Envelope[UserOut], responses=_UNAUTHENTICATED)
def me(user: CurrentUser) -> dict[str, Any]:
    """The signed-in user from the token (the seed's path; as ``GET /auth/profile``)."""
    return ok(UserOut.model_validate(user))


@router.put("/profile", response_model=Envelope[UserOut], responses=_UNAUTHENTICATED)
def put_profile(body: ProfileUpdate, user: CurrentUser, session: SessionDep) -> dict[str, Any]:
    """Change the signed-in user's display name."""
    update_profile(session, user, name=body.name)
    session.commit()
    return ok(UserOut.model_validate(user), "profile updated")


@router.post("/verify", responses=_UNAUTHENTICATED)
def verify(user: CurrentUser) -> dict[str, Any]:
    """Whether the bearer token is valid, and whose it is."""
    return ok({"verified": True, "user_id": str(user.id)})


@router.get("/optional")
def optional(user: OptionalUser) -> dict[str, Any]:
    """Optional sign-in: the user when a valid token is sent, nothing otherwise (a bad
    token is still a 401: it is never silently ignored)."""
    if user is None:
        return ok(None, "not signed in")
    return ok(UserOut.model_validate(user), "signed in")
