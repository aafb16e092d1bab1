"""Request dependencies: the container, a database session, the signed-in user and the
organization the request acts in (``X-Organization-Id``, default their personal one)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.types import Scope

from caliber.api.container import Container
from caliber.auth.service import DEV_CLAIMS, ensure_user
from caliber.auth.verifier import Claims
from caliber.core.errors import Unauthenticated
from caliber.core.logging import set_request_user
from caliber.core.settings import Settings
from caliber.db.models import User
from caliber.orgs import repository as org_repository
from caliber.orgs import service as org_service
from caliber.orgs.policy import Member

SIGN_IN_FIRST = "sign in first: send 'Authorization: Bearer <Firebase ID token>'"


def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


ContainerDep = Annotated[Container, Depends(get_container)]


def _end(session: Session) -> None:
    session.rollback()
    session.close()


async def get_session(container: ContainerDep) -> AsyncIterator[Session]:
    """A session per request. Routes commit explicitly (the edge owns the transaction);
    anything not committed is rolled back here.

    Made on the event loop: a new session touches no connection until its first
    statement, and a sync dependency would cost a thread hop to enter and another to
    leave (issue 19: each hop is CPU every request pays). Its end, a rollback that is a
    round trip once it has used a connection, runs in a thread."""
    session = container.sessions()
    try:
        yield session
    finally:
        if session.in_transaction():
            await run_in_threadpool(_end, session)
        else:
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


PERSONAL_ROLE = "caliber_personal_role"  # request.state: what sign_in read with the user
PersonalRole = tuple[uuid.UUID, str | None]
"""A user's personal organization and their role in it (None: not a member)."""


def sign_in(session: Session, claims: Claims) -> tuple[User, bool, PersonalRole | None]:
    """:func:`ensure_user` for a request, with the user's personal organization and their
    role in it read by the same statement (what a request without ``X-Organization-Id``
    acts in: issue 19, one round trip instead of two). The organization is None on a
    first sign-in, or for a user without a personal one yet (then made by
    ``orgs.service.ensure_personal``)."""
    found = org_repository.user_with_personal_role(session, claims.uid)
    if found is None:
        user, wrote = ensure_user(session, claims)
        return user, wrote, None
    user, org_id, role = found
    return user, False, None if org_id is None else (org_id, role)


def _signed_in(request: Request, session: Session, claims: Claims) -> User:
    """The user of ``claims``, read on every request (a disabled account is refused at
    once), with their personal organization and role kept for :func:`current_member`."""
    user, wrote, personal = sign_in(session, claims)
    if not user.is_active:
        raise Unauthenticated("this account is disabled")
    if wrote:  # a new account; a plain read keeps its transaction (and connection)
        session.commit()
    setattr(request.state, PERSONAL_ROLE, personal)
    set_request_user(str(user.id))
    return user


def current_user(request: Request, container: ContainerDep, session: SessionDep) -> User:
    claims = resolve_claims(request, container)
    if claims is None:
        raise Unauthenticated(SIGN_IN_FIRST)
    return _signed_in(request, session, claims)


def optional_user(request: Request, container: ContainerDep, session: SessionDep) -> User | None:
    claims = resolve_claims(request, container)
    if claims is None:
        return None
    return _signed_in(request, session, claims)


CurrentUser = Annotated[User, Depends(current_user)]


def current_claims(request: Request, container: ContainerDep) -> Claims:
    """The verified claims themselves (whether the email is verified, for invitations)."""
    claims = resolve_claims(request, container)
    if claims is None:
        raise Unauthenticated(SIGN_IN_FIRST)
    return claims


CurrentClaims = Annotated[Claims, Depends(current_claims)]


def _member(session: Session, user: User, header: str | None) -> Member:
    member, wrote = org_service.member_of(session, user, header)
    if wrote:  # a personal organization made now; a plain read keeps its transaction
        session.commit()
    return member


async def current_member(request: Request, user: CurrentUser, session: SessionDep) -> Member:
    """The caller in the organization the request chose: ``X-Organization-Id``, or their
    personal organization (made on first sign-in). Not a member: 404. Read on every
    request, so a removed member's access ends with their next one: the personal one
    and the role in it by the very statement that read the user (:func:`current_user`,
    this request's), so no query and no thread here; any other in a thread."""
    header = request.headers.get(org_service.HEADER)
    personal: PersonalRole | None = getattr(request.state, PERSONAL_ROLE, None)
    if personal is not None and (header is None or not header.strip()):
        return org_service.member_of(session, user, None, personal)[0]
    return await run_in_threadpool(_member, session, user, header)


CurrentMember = Annotated[Member, Depends(current_member)]
OptionalUser = Annotated[User | None, Depends(optional_user)]
