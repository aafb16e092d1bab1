"""Routes: scoring (``api.md``): start a run, follow it, read its results and lists."""

from __future__ import annotations

import logging
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from sqlalchemy.orm import Session

from caliber.api.deps import ContainerDep, CurrentMember, SessionDep
from caliber.core.envelope import Envelope, Page, ok
from caliber.core.errors import UpstreamUnavailable
from caliber.jobs.names import SCORE_CAMPAIGN
from caliber.orgs import audit
from caliber.orgs.policy import Action, authorize
from caliber.scoring import answers as scoring_answers
from caliber.scoring import histogram as scoring_histogram
from caliber.scoring import impact as scoring_impact
from caliber.scoring import lists as scoring_lists
from caliber.scoring import results as scoring_results
from caliber.scoring import service as scoring_service
from caliber.scoring.repository import (
    Decision,
    QualityStatus,
    ResultFilters,
    SortColumn,
    SortDirection,
)
from caliber.scoring.runs import RESULTS_COMPLETED_HEADER, RESULTS_STALE_HEADER
from caliber.scoring.schemas import (
    ListType,
    OptimizationListOut,
    OptimizationListRequest,
    ProgressOut,
    ResultRow,
    ResultsRunOut,
    StartOut,
    StartScoring,
)

logger = logging.getLogger(__name__)
router = APIRouter()

MAX_PAGE = 10_000_000
MAX_PER_PAGE = 100
Score = Annotated[float | None, Query(ge=0, le=100, allow_inf_nan=False)]
MinImpressions = Annotated[float | None, Query(ge=0, allow_inf_nan=False)]
RunId = Annotated[
    uuid.UUID | None,
    Query(
        description="a run of the campaign (GET /campaigns/{id}/runs); default: its latest "
        "completed run"
    ),
]


# Results answers say which run they come from: ``run`` in the body, and headers.
class ResultsPage(Page[ResultRow]):
    run: ResultsRunOut


class SummaryEnvelope(Envelope[dict[str, Any]]):
    run: ResultsRunOut


class ListEnvelope(Envelope[OptimizationListOut]):
    run: ResultsRunOut


class ImpactEnvelope(Envelope[scoring_impact.ImpactOut]):
    run: ResultsRunOut


class HistogramEnvelope(Envelope[scoring_histogram.HistogramOut]):
    run: ResultsRunOut


RESULTS_HEADERS: dict[str, Any] = {
    RESULTS_COMPLETED_HEADER: {
        "description": "when the run these results come from completed",
        "schema": {"type": "string", "format": "date-time"},
    },
    RESULTS_STALE_HEADER: {
        "description": "true while a later run is in progress, or after it failed: the "
        "results are the last successful run's",
        "schema": {"type": "string", "enum": ["true", "false"]},
    },
}
RESULTS_RESPONSES: dict[int | str, dict[str, Any]] = {200: {"headers": RESULTS_HEADERS}}


@router.post("/start", status_code=202, response_model=Envelope[StartOut])
def start(
    body: StartScoring, member: CurrentMember, session: SessionDep, container: ContainerDep
) -> Any:
    """Check the file (422 naming what is wrong: unreadable, no rows, a missing column),
    mark the campaign processing, commit, then queue the job (a completed campaign is
    scored again; its results are replaced when the new run succeeds)."""
    org_id = member.organization_id
    authorize(session, member, Action.WORK, campaign=body.campaign_id)
    scoring_service.preflight(session, container.storage, org_id, body.campaign_id)
    rescoring = scoring_service.get_progress(session, org_id, body.campaign_id).results_run_id
    campaign = scoring_service.start_scoring(session, org_id, body.campaign_id)
    audit.record(
        session,
        member,
        "campaign.rescored" if rescoring is not None else "campaign.scored",
        "campaign",
        campaign.id,
        file_upload_id=str(campaign.file_upload_id),
    )
    session.commit()
    try:  # the job acts for the member who started it, while they remain one
        job_id = container.jobs.enqueue(
            SCORE_CAMPAIGN, campaign_id=str(campaign.id), user_id=str(member.user_id)
        )
    except Exception:
        logger.exception("could not queue scoring of campaign %s", campaign.id)
        scoring_service.fail(session, org_id, campaign.id, "the scoring job could not be queued")
        session.commit()
        raise UpstreamUnavailable(
            "the job queue is unavailable; start scoring again shortly",
            campaign_id=str(campaign.id),
        ) from None
    data = StartOut(
        campaign_id=campaign.id,
        status=campaign.status,
        job_id=job_id,
        started_at=campaign.started_at,
        config_used=campaign.run_snapshot or {},
    )
    return ok(data, "scoring started")


@router.get("/progress/{campaign_id}", response_model=Envelope[ProgressOut])
def progress(campaign_id: uuid.UUID, member: CurrentMember, session: SessionDep) -> Any:
    campaign = scoring_service.get_progress(session, member.organization_id, campaign_id)
    data = ProgressOut(
        campaign_id=campaign.id,
        status=campaign.status,
        progress_percentage=campaign.progress_percentage,
        current_step=campaign.current_step,
        total_records=campaign.total_records,
        processed_records=campaign.processed_records,
        started_at=campaign.started_at,
        completed_at=campaign.completed_at,
        error_message=campaign.error_message,
    )
    return ok(data)


@router.get("/results/{campaign_id}", response_model=ResultsPage, responses=RESULTS_RESPONSES)
def results(
    campaign_id: uuid.UUID,
    member: CurrentMember,
    session: SessionDep,
    page_number: Annotated[int, Query(alias="page", ge=1, le=MAX_PAGE)] = 1,
    per_page: Annotated[int, Query(ge=1, le=MAX_PER_PAGE)] = 50,
    sort_by: SortColumn = "score",
    sort_direction: SortDirection = "desc",
    quality_status: QualityStatus | None = None,
    min_score: Score = None,
    max_score: Score = None,
    min_impressions: MinImpressions = None,
    run_id: RunId = None,
    decision: Decision | None = None,
) -> Any:
    """A page of the run's rows. ``decision`` (a run scored with list_confidence only;
    else 422) keeps the rows with that decision."""
    filters = ResultFilters(quality_status, min_score, max_score, min_impressions, decision)
    answer = scoring_results.results_page_json(
        session,
        member.organization_id,
        campaign_id,
        filters=filters,
        sort_by=sort_by,
        direction=sort_direction,
        page=page_number,
        per_page=per_page,
        run_id=run_id,
    )
    return _json(answer)


@router.get("/summary/{campaign_id}", response_model=SummaryEnvelope, responses=RESULTS_RESPONSES)
def summary(
    campaign_id: uuid.UUID,
    member: CurrentMember,
    session: SessionDep,
    response: Response,
    run_id: RunId = None,
) -> Any:
    data, run = scoring_results.get_summary(session, member.organization_id, campaign_id, run_id)
    response.headers.update(run.headers())
    return {**ok(data), "run": run.to_dict()}


@router.post("/optimization-list", response_model=ListEnvelope, responses=RESULTS_RESPONSES)
def optimization_list(
    body: OptimizationListRequest, member: CurrentMember, session: SessionDep
) -> Any:
    return _list(
        session,
        member.organization_id,
        body.campaign_id,
        body.list_type,
        body.min_impressions,
        body.run_id,
    )


@router.get("/whitelist/{campaign_id}", response_model=ListEnvelope, responses=RESULTS_RESPONSES)
def whitelist(
    campaign_id: uuid.UUID,
    member: CurrentMember,
    session: SessionDep,
    min_impressions: MinImpressions = None,
    run_id: RunId = None,
) -> Any:
    return _list(session, member.organization_id, campaign_id, "whitelist", min_impressions, run_id)


@router.get("/blacklist/{campaign_id}", response_model=ListEnvelope, responses=RESULTS_RESPONSES)
def blacklist(
    campaign_id: uuid.UUID,
    member: CurrentMember,
    session: SessionDep,
    min_impressions: MinImpressions = None,
    run_id: RunId = None,
) -> Any:
    return _list(session, member.organization_id, campaign_id, "blacklist", min_impressions, run_id)


@router.get("/impact/{campaign_id}", response_model=ImpactEnvelope, responses=RESULTS_RESPONSES)
def impact(
    campaign_id: uuid.UUID,
    member: CurrentMember,
    session: SessionDep,
    response: Response,
    min_impressions: MinImpressions = None,
    run_id: RunId = None,
) -> Any:
    """What applying the run's lists in use would do: what the blacklist removes, the
    campaign's figures before, after blocking and after moving the removed spend to the
    whitelist, and the assumptions (``docs/service.md``). ``min_impressions``: the lists'
    eligibility floor (default: the run's)."""
    data, view = scoring_impact.run_impact(
        session, member.organization_id, campaign_id, run_id, min_impressions
    )
    response.headers.update(view.marker.headers())
    return {**ok(data), "run": view.marker.to_dict()}


@router.get(
    "/histogram/{campaign_id}", response_model=HistogramEnvelope, responses=RESULTS_RESPONSES
)
def histogram(
    campaign_id: uuid.UUID,
    member: CurrentMember,
    session: SessionDep,
    response: Response,
    run_id: RunId = None,
) -> Any:
    """The run's scores in bins of 10 points, counted over every row (with each bin's
    rows per quality status): the web app's score distribution at any size."""
    data, view = scoring_histogram.run_histogram(
        session, member.organization_id, campaign_id, run_id
    )
    response.headers.update(view.marker.headers())
    return {**ok(data), "run": view.marker.to_dict()}


def _list(
    session: Session,
    owner_id: uuid.UUID,
    campaign_id: uuid.UUID,
    list_type: ListType,
    min_impressions: float | None,
    run_id: uuid.UUID | None,
) -> Response:
    """The list's envelope, encoded once per run (see ``optimization_list_json``)."""
    return _json(
        scoring_lists.optimization_list_json(
            session, owner_id, campaign_id, list_type, min_impressions, run_id
        )
    )


def _json(answer: scoring_answers.Answer) -> Response:
    return Response(answer.body, media_type="application/json", headers=answer.run.headers())
