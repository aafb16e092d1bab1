"""Request dependencies: the container, a database session, the signed-in user and the
organization the request acts in (``X-Organization-Id``, default their personal one)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session
from starlette.types import Scope

from caliber.api.container import Container
from caliber.auth.service import DEV_CLAIMS, ensure_user
from caliber.auth.verifier import Claims
from caliber.core.errors import Unauthenticated
from caliber.core.logging import set_request_user
from caliber.core.settings import Settings
from caliber.db.models import User
from caliber.orgs import service as org_service
from caliber.orgs.policy import Member

SIGN_IN_FIRST = "sign in first: send 'Authorization: Bearer <Firebase ID token>'"


def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


ContainerDep = Annotated[Container, Depends(get_container)]


def get_session(container: ContainerDep) -> Iterator[Session]:
    """A session per request. Routes commit explicitly (the edge owns the transaction);
    anything not committed is rolled back here."""
    session = container.sessions()
    try:
        yield session
    finally:
        session.rollback()
        session.close()


SessionDep = Annotated[Session, Depends(get_session)]


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("the Authorization header must be 'Bearer <Firebase ID token>'")
    return token.strip()


def dev_sign_in_applies(scope: Scope, settings: Settings) -> bool:
    """Whether a request without a token acts as the development user: dev sign-in is on
    and the connection is a loopback one, or AUTH_DEV_MODE=true (see
    :meth:`Settings.dev_sign_in_for`)."""
    server, client = scope.get("server"), scope.get("client")
    return settings.dev_sign_in_for(
        None if server is None else server[0], None if client is None else client[0]
    )


def resolve_claims(request: Request, container: Container) -> Claims | None:
    """Claims from the bearer token; the dev user in dev mode; None when anonymous."""
    token = _bearer(request)
    if token is None:
        return DEV_CLAIMS if dev_sign_in_applies(request.scope, container.settings) else None
    return claims_for_token(container, token)


def claims_for_token(container: Container, token: str) -> Claims:
    """The verified claims of ``token``. A token that is sent is verified or refused, in
    dev mode too: dev sign-in stands in only for a missing token, never for one that
    nothing here can check."""
    if container.verifier is None:
        raise Unauthenticated(
            "this server cannot verify tokens (FIREBASE_PROJECT_ID is not set)"
            + (
                "; send no Authorization header to use dev sign-in"
                if container.settings.dev_sign_in
                else ""
            )
        )
    return container.verifier.verify(token)


def current_user(request: Request, container: ContainerDep, session: SessionDep) -> User:
    claims = resolve_claims(request, container)
    if claims is None:
        raise Unauthenticated(SIGN_IN_FIRST)
    user, wrote = ensure_user(session, claims)
    if not user.is_active:
        raise Unauthenticated("this account is disabled")
    if wrote:  # a new account; a plain read keeps its transaction (and connection)
        session.commit()
    set_request_user(str(user.id))
    return user


def optional_user(request: Request, container: ContainerDep, session: SessionDep) -> User | None:
    claims = resolve_claims(request, container)
    if claims is None:
        return None
    user, wrote = ensure_user(session, claims)
    if not user.is_active:
        raise Unauthenticated("this account is disabled")
    if wrote:  # a new account; a plain read keeps its transaction (and connection)
        session.commit()
    set_request_user(str(user.id))
    return user


CurrentUser = Annotated[User, Depends(current_user)]


def current_claims(request: Request, container: ContainerDep) -> Claims:
    """The verified claims themselves (whether the email is verified, for invitations)."""
    claims = resolve_claims(request, container)
    if claims is None:
        raise Unauthenticated(SIGN_IN_FIRST)
    return claims


CurrentClaims = Annotated[Claims, Depends(current_claims)]


def current_member(request: Request, user: CurrentUser, session: SessionDep) -> Member:
    """The caller in the organization the request chose: ``X-Organization-Id``, or their
    personal organization (made on first sign-in). Not a member: 404. Read on every
    request, so a removed member's access ends with their next one."""
    member, wrote = org_service.member_of(session, user, request.headers.get(org_service.HEADER))
    if wrote:  # a personal organization made now; a plain read keeps its transaction
        session.commit()
    return member


CurrentMember = Annotated[Member, Depends(current_member)]
OptionalUser = Annotated[User | None, Depends(optional_user)]
