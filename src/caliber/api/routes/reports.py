"""Routes: exports and reports of a completed campaign (``api.md`` and docs/exports.md).

Downloads answer the file itself with ``Content-Disposition: attachment``; background
exports answer 202 with an id to poll and download.
"""

from __future__ import annotations

import logging
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response, StreamingResponse

from caliber.api.deps import ContainerDep, CurrentMember, SessionDep
from caliber.api.heavy import HeavyRequest
from caliber.core.envelope import Envelope, ok
from caliber.core.errors import UpstreamUnavailable
from caliber.jobs.names import GENERATE_EXPORT
from caliber.orgs import audit
from caliber.orgs.policy import Action, authorize
from caliber.reports import exports
from caliber.reports.schemas import ExportOut, ExportRequest
from caliber.reports.service import ExportOptions, Rendered, render
from caliber.scoring.repository import QualityStatus

logger = logging.getLogger(__name__)
router = APIRouter()

ListKind = Literal["whitelist", "blacklist"]
MinScore = Annotated[
    float | None, Query(ge=0, le=100, allow_inf_nan=False, description="at most max_score")
]
MaxScore = Annotated[
    float | None, Query(ge=0, le=100, allow_inf_nan=False, description="at least min_score")
]
MinImpressions = Annotated[
    float | None,
    Query(ge=0, allow_inf_nan=False, description="lists: eligibility; results: a filter"),
]
RunId = Annotated[
    uuid.UUID | None,
    Query(
        description="a run of the campaign (GET /campaigns/{id}/runs); default: its latest "
        "completed run"
    ),
]
EXPORT = "/export/campaigns/{campaign_id}"


def _attachment(rendered: Rendered) -> Response:
    headers = {
        **rendered.headers,
        "Content-Disposition": f'attachment; filename="{rendered.filename}"',
    }
    if isinstance(rendered.body, bytes):
        return Response(rendered.body, media_type=rendered.content_type, headers=headers)
    return StreamingResponse(rendered.body, media_type=rendered.content_type, headers=headers)


def _download(
    container: ContainerDep,
    session: SessionDep,
    member: CurrentMember,
    campaign_id: uuid.UUID,
    fmt: str,
    **options: Any,
) -> Response:
    chosen = ExportOptions(**{k: v for k, v in options.items() if v is not None})
    rendered = render(session, container.sessions, member.organization_id, campaign_id, fmt, chosen)
    if fmt.startswith(("whitelist_", "blacklist_")):  # a list on its way to a DSP
        audit.record(
            session,
            member,
            "list.exported",
            "campaign",
            campaign_id,
            format=fmt,
            run_id=None if chosen.run_id is None else str(chosen.run_id),
        )
        session.commit()
    return _attachment(rendered)


@router.get(f"{EXPORT}/results/csv", response_class=Response, dependencies=[HeavyRequest])
def results_csv(
    campaign_id: uuid.UUID,
    member: CurrentMember,
    session: SessionDep,
    container: ContainerDep,
    quality_status: QualityStatus | None = None,
    min_score: MinScore = None,
    max_score: MaxScore = None,
    min_impressions: MinImpressions = None,
    run_id: RunId = None,
) -> Response:
    """Every scored row (filtered as the results route), streamed."""
    return _download(
        container,
        session,
        member,
        campaign_id,
        "results_csv",
        quality_status=quality_status,
        min_score=min_score,
        max_score=max_score,
        min_impressions=min_impressions,
        run_id=run_id,
    )


@router.get(f"{EXPORT}/summary/csv", response_class=Response, dependencies=[HeavyRequest])
def summary_csv(
    campaign_id: uuid.UUID,
    member: CurrentMember,
    session: SessionDep,
    container: ContainerDep,
    run_id: RunId = None,
) -> Response:
    return _download(container, session, member, campaign_id, "summary_csv", run_id=run_id)


@router.get(
    f"{EXPORT}/optimization-lists/csv", response_class=Response, dependencies=[HeavyRequest]
)
def optimization_lists_csv(
    campaign_id: uuid.UUID,
    member: CurrentMember,
    session: SessionDep,
    container: ContainerDep,
    min_impressions: MinImpressions = None,
    run_id: RunId = None,
) -> Response:
    return _download(
        container,
        session,
        member,
        campaign_id,
        "optimization_lists_csv",
        min_impressions=min_impressions,
        run_id=run_id,
    )


@router.get(f"{EXPORT}/data/json", response_class=Response, dependencies=[HeavyRequest])
def campaign_json(
    campaign_id: uuid.UUID,
    member: CurrentMember,
    session: SessionDep,
    container: ContainerDep,
    include_results: bool = True,
    include_insights: bool = False,
    run_id: RunId = None,
) -> Response:
    """Metadata, config snapshot, data-quality report, summary, lists, and optionally
    every result and the stored AI insights."""
    return _download(
        container,
        session,
        member,
        campaign_id,
        "campaign_json",
        include_results=include_results,
        include_insights=include_insights,
        run_id=run_id,
    )


@router.get(EXPORT + "/{kind}/csv", response_class=Response, dependencies=[HeavyRequest])
def list_csv(
    campaign_id: uuid.UUID,
    kind: ListKind,
    member: CurrentMember,
    session: SessionDep,
    container: ContainerDep,
    min_impressions: MinImpressions = None,
    run_id: RunId = None,
) -> Response:
    return _download(
        container,
        session,
        member,
        campaign_id,
        f"{kind}_csv",
        min_impressions=min_impressions,
        run_id=run_id,
    )


@router.get(EXPORT + "/{kind}/json", response_class=Response, dependencies=[HeavyRequest])
def list_json(
    campaign_id: uuid.UUID,
    kind: ListKind,
    member: CurrentMember,
    session: SessionDep,
    container: ContainerDep,
    min_impressions: MinImpressions = None,
    run_id: RunId = None,
) -> Response:
    return _download(
        container,
        session,
        member,
        campaign_id,
        f"{kind}_json",
        min_impressions=min_impressions,
        run_id=run_id,
    )


@router.get(EXPORT + "/{kind}/txt", response_class=Response, dependencies=[HeavyRequest])
def list_txt(
    campaign_id: uuid.UUID,
    kind: ListKind,
    member: CurrentMember,
    session: SessionDep,
    container: ContainerDep,
    entries: Literal["web", "apps"] = "web",
    min_impressions: MinImpressions = None,
    run_id: RunId = None,
) -> Response:
    """One domain (or app id) a line, for a DSP's list upload."""
    return _download(
        container,
        session,
        member,
        campaign_id,
        f"{kind}_txt",
        entries=entries,
        min_impressions=min_impressions,
        run_id=run_id,
    )


@router.get(EXPORT + "/{kind}/trade-desk", response_class=Response, dependencies=[HeavyRequest])
def list_trade_desk(
    campaign_id: uuid.UUID,
    kind: ListKind,
    member: CurrentMember,
    session: SessionDep,
    container: ContainerDep,
    min_impressions: MinImpressions = None,
    run_id: RunId = None,
) -> Response:
    """A The Trade Desk bid-list body (POST /v3/bidlist)."""
    return _download(
        container,
        session,
        member,
        campaign_id,
        f"{kind}_trade_desk",
        min_impressions=min_impressions,
        run_id=run_id,
    )


@router.get(EXPORT + "/{kind}/dv360", response_class=Response, dependencies=[HeavyRequest])
def list_dv360(
    campaign_id: uuid.UUID,
    kind: ListKind,
    member: CurrentMember,
    session: SessionDep,
    container: ContainerDep,
    min_impressions: MinImpressions = None,
    run_id: RunId = None,
) -> Response:
    """A Display & Video 360 channel sites body (advertisers.channels.sites.replace)."""
    return _download(
        container,
        session,
        member,
        campaign_id,
        f"{kind}_dv360",
        min_impressions=min_impressions,
        run_id=run_id,
    )


@router.get("/campaigns/{campaign_id}/pdf", response_class=Response, dependencies=[HeavyRequest])
def campaign_pdf(
    campaign_id: uuid.UUID,
    member: CurrentMember,
    session: SessionDep,
    container: ContainerDep,
    include_charts: bool = True,
    include_details: bool = True,
    run_id: RunId = None,
) -> Response:
    """The client-ready PDF report."""
    return _download(
        container,
        session,
        member,
        campaign_id,
        "pdf",
        include_charts=include_charts,
        include_details=include_details,
        run_id=run_id,
    )


@router.get(
    "/reports/campaigns/{campaign_id}/pdf",
    response_class=Response,
    dependencies=[HeavyRequest],
    deprecated=True,
)
def campaign_pdf_seed_path(
    campaign_id: uuid.UUID,
    member: CurrentMember,
    session: SessionDep,
    container: ContainerDep,
    include_charts: bool = True,
    include_details: bool = True,
    run_id: RunId = None,
) -> Response:
    """The seed's path of the PDF report: the same answer as
    ``/reports/campaigns/{campaign_id}/pdf``, which replaces it."""
    return campaign_pdf(
        campaign_id, member, session, container, include_charts, include_details, run_id
    )


# --- background exports --------------------------------------------------------------


@router.post("/exports", status_code=202, response_model=Envelope[ExportOut])
def create_export(
    body: ExportRequest, member: CurrentMember, session: SessionDep, container: ContainerDep
) -> Any:
    """Queue an export; poll ``GET /reports/exports/{id}``, then download it."""
    authorize(session, member, Action.WORK, campaign=body.campaign_id)
    export = exports.create_export(session, member, body.campaign_id, body.format, body.options)
    audit.record(
        session,
        member,
        "export.created",
        "export",
        export.id,
        campaign_id=str(body.campaign_id),
        format=body.format,
    )
    session.commit()
    try:  # the job acts for the member who asked, while they remain one
        container.jobs.enqueue(
            GENERATE_EXPORT, export_id=str(export.id), user_id=str(member.user_id)
        )
    except Exception:
        logger.exception("could not queue export %s", export.id)
        exports.delete_export(session, member.organization_id, export.id)
        session.commit()
        raise UpstreamUnavailable("the job queue is unavailable; try again shortly") from None
    return ok(ExportOut.model_validate(export), "export queued")


@router.get("/exports", response_model=Envelope[list[ExportOut]])
def list_exports(member: CurrentMember, session: SessionDep) -> Any:
    """The organization's exports, newest first (the last 100)."""
    return ok(
        [ExportOut.model_validate(e) for e in exports.list_exports(session, member.organization_id)]
    )


@router.get("/exports/{export_id}", response_model=Envelope[ExportOut])
def get_export(export_id: uuid.UUID, member: CurrentMember, session: SessionDep) -> Any:
    return ok(
        ExportOut.model_validate(exports.get_export(session, member.organization_id, export_id))
    )


@router.get("/exports/{export_id}/download", response_class=Response)
def download_export(
    export_id: uuid.UUID, member: CurrentMember, session: SessionDep, container: ContainerDep
) -> Response:
    export, body = exports.download(session, container.storage, member.organization_id, export_id)
    return _attachment(
        Rendered(
            export.filename or "export", export.content_type or "application/octet-stream", body
        )
    )


@router.delete("/exports/{export_id}", response_model=Envelope[None])
def delete_export(
    export_id: uuid.UUID, member: CurrentMember, session: SessionDep, container: ContainerDep
) -> Any:
    authorize(session, member, Action.WORK, export=export_id)
    key = exports.delete_export(session, member.organization_id, export_id)
    session.commit()
    if key:
        try:
            container.storage.delete(key)
        except Exception:  # the row is gone; a leftover file is only logged
            logger.warning("could not remove the file of export %s", export_id)
    return ok(None, "export deleted")
