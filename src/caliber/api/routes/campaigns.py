"""Routes: campaign templates and campaigns (``api.md``). Thin: parse, call the
campaign service, commit, answer in the envelope."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query

from caliber.api.deps import CurrentMember, SessionDep
from caliber.campaigns import service as campaign_service
from caliber.campaigns import statistics
from caliber.campaigns.schemas import (
    CampaignCreate,
    CampaignDetail,
    CampaignOut,
    ConfidenceUpdate,
    ProgressUpdate,
    ReadingUpdate,
    StatusUpdate,
    TemplateCreate,
    TemplateOut,
    WeightsUpdate,
)
from caliber.core.envelope import Envelope, Page, ok, page
from caliber.db.models import CampaignStatus
from caliber.orgs import audit
from caliber.orgs.policy import Action, authorize
from caliber.scoring import runs as scoring_runs
from caliber.scoring.schemas import RunOut

router = APIRouter()

MAX_LIMIT = 100
MAX_SKIP = 2**31 - 1


# Templates and statistics first: neither may be read as a campaign id.
@router.post("/templates", status_code=201, response_model=Envelope[TemplateOut])
def create_template(body: TemplateCreate, member: CurrentMember, session: SessionDep) -> Any:
    authorize(session, member, Action.WORK)
    template = campaign_service.create_template(session, member, body)
    audit.record(session, member, "template.created", "template", template.id, name=template.name)
    session.commit()
    return ok(TemplateOut.model_validate(template), "template created")


@router.get("/templates", response_model=Envelope[list[TemplateOut]])
def list_templates(member: CurrentMember, session: SessionDep) -> Any:
    templates = campaign_service.list_templates(session, member.organization_id)
    return ok([TemplateOut.model_validate(t) for t in templates])


@router.get("/templates/{template_id}", response_model=Envelope[TemplateOut])
def get_template(template_id: uuid.UUID, member: CurrentMember, session: SessionDep) -> Any:
    return ok(
        TemplateOut.model_validate(
            campaign_service.get_template(session, member.organization_id, template_id)
        )
    )


@router.put("/templates/{template_id}/weights", response_model=Envelope[TemplateOut])
def set_template_weights(
    template_id: uuid.UUID, body: WeightsUpdate, member: CurrentMember, session: SessionDep
) -> Any:
    """Save suggested or hand-made weights as the template's custom weights."""
    authorize(session, member, Action.WORK, template=template_id)
    template = campaign_service.set_template_weights(
        session, member.organization_id, template_id, body.weights
    )
    audit.record(
        session, member, "template.weights_changed", "template", template_id, weights=body.weights
    )
    session.commit()
    return ok(TemplateOut.model_validate(template), "weights saved")


@router.put("/templates/{template_id}/confidence", response_model=Envelope[TemplateOut])
def set_template_confidence(
    template_id: uuid.UUID, body: ConfidenceUpdate, member: CurrentMember, session: SessionDep
) -> Any:
    """Set the level of the lists (0.5 to 0.99; null: classic) campaigns made from the
    template later copy."""
    authorize(session, member, Action.WORK, template=template_id)
    template = campaign_service.set_template_confidence(
        session, member.organization_id, template_id, body.list_confidence
    )
    audit.record(
        session,
        member,
        "template.confidence_changed",
        "template",
        template_id,
        list_confidence=body.list_confidence,
    )
    session.commit()
    return ok(TemplateOut.model_validate(template), "list confidence saved")


@router.put("/templates/{template_id}/read-options", response_model=Envelope[TemplateOut])
def set_template_reading(
    template_id: uuid.UUID, body: ReadingUpdate, member: CurrentMember, session: SessionDep
) -> Any:
    """Replace the template's reading choices (campaigns created from it later copy them)."""
    authorize(session, member, Action.WORK, template=template_id)
    template = campaign_service.set_template_reading(
        session, member.organization_id, template_id, body
    )
    audit.record(
        session,
        member,
        "template.reading_changed",
        "template",
        template_id,
        read_options=template.read_options,
    )
    session.commit()
    return ok(TemplateOut.model_validate(template), "reading choices saved")


@router.delete("/templates/{template_id}", response_model=Envelope[None])
def delete_template(template_id: uuid.UUID, member: CurrentMember, session: SessionDep) -> Any:
    authorize(session, member, Action.WORK, template=template_id)
    campaign_service.delete_template(session, member.organization_id, template_id)
    audit.record(session, member, "template.deleted", "template", template_id)
    session.commit()
    return ok(None, "template deleted")


@router.get("/statistics", response_model=Envelope[dict[str, Any]])
def dashboard_statistics(member: CurrentMember, session: SessionDep) -> Any:
    """Dashboard figures over the organization's campaigns (cached until one changes)."""
    figures = statistics.get(session, member.organization_id)
    session.commit()
    return ok(figures)


@router.post("", status_code=201, response_model=Envelope[CampaignDetail])
def create_campaign(body: CampaignCreate, member: CurrentMember, session: SessionDep) -> Any:
    authorize(session, member, Action.WORK, template=body.template_id)
    campaign = campaign_service.create_campaign(session, member, body)
    audit.record(session, member, "campaign.created", "campaign", campaign.id, name=campaign.name)
    session.commit()
    return ok(CampaignDetail.model_validate(campaign), "campaign created")


@router.get("", response_model=Page[CampaignOut])
def list_campaigns(
    member: CurrentMember,
    session: SessionDep,
    skip: Annotated[int, Query(ge=0, le=MAX_SKIP)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    status: CampaignStatus | None = None,
) -> Any:
    campaigns, total = campaign_service.list_campaigns(
        session, member.organization_id, skip=skip, limit=limit, status=status
    )
    body = page(
        [CampaignOut.model_validate(c) for c in campaigns],
        total=total,
        page=skip // limit + 1,
        per_page=limit,
    )
    # skip need not be a multiple of limit: say what lies beyond this window
    body["has_next"] = skip + len(campaigns) < total
    body["has_prev"] = skip > 0
    return body


@router.get("/{campaign_id}", response_model=Envelope[CampaignDetail])
def get_campaign(campaign_id: uuid.UUID, member: CurrentMember, session: SessionDep) -> Any:
    campaign = campaign_service.get_campaign(session, member.organization_id, campaign_id)
    return ok(CampaignDetail.model_validate(campaign))


@router.get("/{campaign_id}/runs", response_model=Page[RunOut])
def list_runs(
    campaign_id: uuid.UUID,
    member: CurrentMember,
    session: SessionDep,
    page_number: Annotated[int, Query(alias="page", ge=1, le=10_000_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 20,
) -> Any:
    """The campaign's scoring runs, newest first: status, start and end, the file, the
    campaign score, list sizes and rows; ``latest_results`` marks the run the results
    routes read when no ``run_id`` is given (its latest completed run). Older runs stay
    readable by ``run_id`` until retention (``RUN_RETENTION`` runs per campaign)."""
    found, total = scoring_runs.list_runs(
        session, member.organization_id, campaign_id, page=page_number, per_page=per_page
    )
    return page(
        [RunOut.model_validate(run) for run in found],
        total=total,
        page=page_number,
        per_page=per_page,
    )


@router.delete("/{campaign_id}", response_model=Envelope[None])
def delete_campaign(campaign_id: uuid.UUID, member: CurrentMember, session: SessionDep) -> Any:
    authorize(session, member, Action.WORK, campaign=campaign_id)
    campaign_service.delete_campaign(session, member.organization_id, campaign_id)
    audit.record(session, member, "campaign.deleted", "campaign", campaign_id)
    session.commit()
    return ok(None, "campaign deleted")


@router.put("/{campaign_id}/weights", response_model=Envelope[CampaignDetail])
def set_weights(
    campaign_id: uuid.UUID, body: WeightsUpdate, member: CurrentMember, session: SessionDep
) -> Any:
    """Save custom weights for the next scoring run (POST /scoring/start re-scores)."""
    authorize(session, member, Action.WORK, campaign=campaign_id)
    campaign = campaign_service.set_weights(
        session, member.organization_id, campaign_id, body.weights
    )
    audit.record(
        session, member, "campaign.weights_changed", "campaign", campaign_id, weights=body.weights
    )
    session.commit()
    return ok(CampaignDetail.model_validate(campaign), "weights saved; start scoring to apply them")


@router.put("/{campaign_id}/confidence", response_model=Envelope[CampaignDetail])
def set_confidence(
    campaign_id: uuid.UUID, body: ConfidenceUpdate, member: CurrentMember, session: SessionDep
) -> Any:
    """Set the level of the lists (0.5 to 0.99; null: classic) for the next scoring run;
    409 while a run is in progress. Earlier runs keep the level they were scored with."""
    authorize(session, member, Action.WORK, campaign=campaign_id)
    campaign = campaign_service.set_confidence(
        session, member.organization_id, campaign_id, body.list_confidence
    )
    audit.record(
        session,
        member,
        "campaign.confidence_changed",
        "campaign",
        campaign_id,
        list_confidence=body.list_confidence,
    )
    session.commit()
    return ok(
        CampaignDetail.model_validate(campaign),
        "list confidence saved; start scoring to apply it",
    )


@router.put("/{campaign_id}/read-options", response_model=Envelope[CampaignDetail])
def set_reading(
    campaign_id: uuid.UUID, body: ReadingUpdate, member: CurrentMember, session: SessionDep
) -> Any:
    """Replace how the campaign's file is read (number format, sheet, header row, column
    mapping; a field left out or null is detected) for the next scoring run; 409 while a
    run is in progress. ``GET /reports/files/{id}/validate`` shows what they give."""
    authorize(session, member, Action.WORK, campaign=campaign_id)
    campaign = campaign_service.set_reading(session, member.organization_id, campaign_id, body)
    audit.record(
        session,
        member,
        "campaign.reading_changed",
        "campaign",
        campaign_id,
        read_options=campaign.read_options,
    )
    session.commit()
    return ok(
        CampaignDetail.model_validate(campaign),
        "reading choices saved; start scoring to apply them",
    )


@router.put("/{campaign_id}/status", response_model=Envelope[CampaignDetail])
def update_status(
    campaign_id: uuid.UUID, body: StatusUpdate, member: CurrentMember, session: SessionDep
) -> Any:
    authorize(session, member, Action.WORK, campaign=campaign_id)
    campaign = campaign_service.update_status(session, member.organization_id, campaign_id, body)
    session.commit()
    return ok(CampaignDetail.model_validate(campaign), f"status is now {campaign.status}")


@router.put("/{campaign_id}/progress", response_model=Envelope[CampaignDetail])
def update_progress(
    campaign_id: uuid.UUID, body: ProgressUpdate, member: CurrentMember, session: SessionDep
) -> Any:
    authorize(session, member, Action.WORK, campaign=campaign_id)
    campaign = campaign_service.update_progress(session, member.organization_id, campaign_id, body)
    session.commit()
    return ok(CampaignDetail.model_validate(campaign))
