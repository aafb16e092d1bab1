"""Users from verified claims: created on first sign-in, safe under concurrent logins."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from caliber.auth.verifier import Claims
from caliber.db.base import utcnow
from caliber.db.models import User

DEV_UID = "dev-user"
DEV_CLAIMS = Claims(uid=DEV_UID, email="dev@caliber.local", name="Development User")


def get_or_create_user(session: Session, claims: Claims, *, touch_login: bool = False) -> User:
    """The user with ``claims.uid``; created if new. Concurrent first logins converge on one
    row through the unique ``firebase_uid`` (the loser of the race reads the winner's)."""
    return ensure_user(session, claims, touch_login=touch_login)[0]


def ensure_user(
    session: Session, claims: Claims, *, touch_login: bool = False
) -> tuple[User, bool]:
    """:func:`get_or_create_user`, and whether it wrote anything (the caller commits then,
    so a new account outlives a request that fails later; a plain read does not)."""
    user = session.scalar(select(User).where(User.firebase_uid == claims.uid))
    wrote = touch_login
    if user is None:
        wrote = True
        email = claims.email
        if email and session.scalar(select(User.id).where(User.email == email)) is not None:
            email = None  # another account owns this address; keep the sign-in working
        candidate = User(firebase_uid=claims.uid, email=email, name=claims.name)
        try:
            with session.begin_nested():
                session.add(candidate)
            user = candidate
        except IntegrityError:
            user = session.scalar(select(User).where(User.firebase_uid == claims.uid))
            if user is None:
                raise
    if touch_login:
        user.last_login_at = utcnow()
    return user, wrote


def update_profile(session: Session, user: User, *, name: str) -> User:
    """Set the user's display name (validated by the caller: trimmed, 1–200 characters)."""
    user.name = name
    session.flush()
    return user
