"""The FastAPI application factory."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from functools import partial

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.middleware.trustedhost import TrustedHostMiddleware
from fastapi.staticfiles import StaticFiles

from caliber.api import errors
from caliber.api.bodies import BodyGuardMiddleware
from caliber.api.container import Container
from caliber.api.methods import AllowedMethodsMiddleware
from caliber.api.middleware import RequestIdMiddleware
from caliber.api.routes import (
    ai,
    analytics,
    auth,
    campaigns,
    changes,
    files,
    health,
    notifications,
    organizations,
    reports,
    scoring,
    web,
)
from caliber.campaigns.statistics import organization_of, update_statistics
from caliber.core import metrics
from caliber.core.heavy import HeavyRequestLimiter
from caliber.core.logging import configure_logging
from caliber.core.settings import Settings, get_settings
from caliber.jobs.names import GENERATE_EXPORT, SCORE_CAMPAIGN
from caliber.notifications.jobs import send_completion_notification
from caliber.reports.exports import run_export
from caliber.scoring import pages as result_pages
from caliber.scoring.jobs import run_scoring_job

logger = logging.getLogger(__name__)
_MULTIPART_OVERHEAD = 1024 * 1024  # framing around an upload of the maximum size


def _score_and_notify(services: Container, *, campaign_id: str, user_id: str) -> None:
    """The in-process pool's scoring job: score, then store the user's notification (on
    Celery these are two tasks, the second on the notifications queue)."""
    run_scoring_job(services, campaign_id=campaign_id, user_id=user_id)
    send_completion_notification(services, campaign_id=campaign_id, user_id=user_id)
    organization = organization_of(services.sessions, uuid.UUID(campaign_id))
    if organization is not None:
        update_statistics(services.sessions, str(organization))


def _warn_about_dev_sign_in(settings: Settings) -> None:
    if not settings.dev_sign_in:
        return
    if settings.AUTH_DEV_MODE:
        logger.warning(
            "AUTH_DEV_MODE=true: dev sign-in is on for every client: any request without a "
            "token, from any address that reaches this server, acts as the development user"
        )
    else:
        logger.warning(
            "dev sign-in is on for loopback connections (ENVIRONMENT=%s): a request without "
            "a token from this machine acts as the development user",
            settings.ENVIRONMENT.value,
        )


# Response headers a cross-origin web app may read: the request id to quote in a support
# request, which results a page holds, when to retry, and a download's file name.
EXPOSED_HEADERS = [
    "X-Request-ID",
    "X-Results-Completed-At",
    "X-Results-Stale",
    "Retry-After",
    "Content-Disposition",
]


def create_app(
    settings: Settings | None = None,
    container: Container | None = None,
    on_shutdown: Sequence[Callable[[], None]] = (),
) -> FastAPI:
    """Build the app from ``settings`` (default: the environment); ``on_shutdown`` runs
    when the server stops (before the container closes)."""
    settings = settings or get_settings()
    configure_logging(settings.LOG_LEVEL, json_lines=settings.json_logs)
    _warn_about_dev_sign_in(settings)
    services = container or Container.build(settings)
    result_pages.configure(settings.RESULT_CACHE_ROWS)
    services.jobs.register(SCORE_CAMPAIGN, partial(_score_and_notify, services))
    services.jobs.register(GENERATE_EXPORT, partial(run_export, services))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        metrics.process_started()
        yield
        metrics.process_stopping()  # its live gauges leave the sums of /metrics
        for hook in on_shutdown:
            hook()
        services.close()

    app = FastAPI(
        title=settings.PROJECT_NAME,
        version="0.1.0",
        lifespan=lifespan,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url="/redoc",
    )
    app.state.container = services
    # each user's exports, reports and analyses in flight (shared through Redis if set)
    app.state.heavy_requests = HeavyRequestLimiter(
        settings.HEAVY_REQUESTS_PER_USER, settings.REDIS_URL
    )
    errors.install(app)
    prefix = settings.API_V1_STR
    app.include_router(health.router, tags=["health"])
    include = partial(app.include_router, responses=errors.RESPONSES)  # the error envelope
    include(auth.router, prefix=f"{prefix}/auth", tags=["auth"])
    include(campaigns.router, prefix=f"{prefix}/campaigns", tags=["campaigns"])
    include(scoring.router, prefix=f"{prefix}/scoring", tags=["scoring"])
    include(analytics.router, prefix=f"{prefix}/scoring", tags=["analytics"])
    include(changes.router, prefix=f"{prefix}/scoring", tags=["changes"])
    include(files.router, prefix=prefix, tags=["files"])
    include(notifications.router, prefix=f"{prefix}/notifications", tags=["notifications"])
    include(reports.router, prefix=f"{prefix}/reports", tags=["reports"])
    include(ai.router, prefix=f"{prefix}/ai", tags=["ai"])
    include(organizations.router, prefix=f"{prefix}/organizations", tags=["organizations"])
    app.include_router(web.router)  # the web app: /app/config.json, /app/... deep links
    app.mount("/static", StaticFiles(directory=web.STATIC), name="static")
    # request bodies (api/bodies.py): the route's sign-in before the first byte is read,
    # the size cap and the deadline; inside CORS, so its refusals carry CORS headers
    app.add_middleware(
        BodyGuardMiddleware,
        limit=settings.max_upload_bytes + _MULTIPART_OVERHEAD,
        timeout=settings.UPLOAD_BODY_TIMEOUT,
        min_rate=settings.UPLOAD_MIN_RATE,
        grace=settings.UPLOAD_RATE_GRACE,
    )
    # OPTIONS and undeclared methods: 204 / 405 with the path's complete Allow
    app.add_middleware(AllowedMethodsMiddleware, routes=app.routes)
    if settings.BACKEND_CORS_ORIGINS:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.BACKEND_CORS_ORIGINS,
            allow_credentials=True,
            allow_methods=["*"],
            allow_headers=["*"],
            # what a browser app on another origin reads of a response besides the body
            expose_headers=EXPOSED_HEADERS,
        )
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=settings.ALLOWED_HOSTS or ["*"])
    app.add_middleware(RequestIdMiddleware, settings=settings)
    return app
