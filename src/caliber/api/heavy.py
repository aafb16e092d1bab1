"""The dependency that holds one of the user's heavy-request slots while an export, a
report or an analysis is answered (:mod:`caliber.core.heavy`); a streamed download keeps
it until its last byte is sent."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import Depends, Request

from caliber.api.deps import CurrentUser
from caliber.core.heavy import HeavyRequestLimiter


def limiter(request: Request) -> HeavyRequestLimiter:
    found: HeavyRequestLimiter = request.app.state.heavy_requests
    return found


def heavy_request(request: Request, user: CurrentUser) -> Iterator[None]:
    """One slot for the request (429 with Retry-After when the user has none left),
    given back once the response has been sent: FastAPI exits a dependency with yield
    after the whole body, a streamed one too."""
    with limiter(request).slot(str(user.id)):
        yield


HeavyRequest = Depends(heavy_request)
