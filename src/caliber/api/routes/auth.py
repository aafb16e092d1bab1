"""Routes: sign-in with a Firebase ID token, and the signed-in user's profile."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from caliber.api.deps import ContainerDep, CurrentUser, OptionalUser, SessionDep, claims_for_token
from caliber.api.errors import ErrorBody
from caliber.auth.schemas import LoginRequest, ProfileUpdate, UserOut
from caliber.auth.service import get_or_create_user, update_profile
from caliber.core.envelope import Envelope, ok
from caliber.core.errors import Unauthenticated

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
    session.commit()
    return ok(UserOut.model_validate(user), "signed in")


@router.get("/profile", response_model=Envelope[UserOut], responses=_UNAUTHENTICATED)
def get_profile(user: CurrentUser) -> dict[str, Any]:
    """The signed-in user."""
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
