"""Campaign and template rules: setups validated by the engine, the status machine,
safe deletions. Never commits: the route (or job) that calls it owns the transaction."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from caliber.campaigns import choices, repository
from caliber.campaigns.schemas import (
    CampaignCreate,
    ProgressUpdate,
    ReadingUpdate,
    StatusUpdate,
    TemplateCreate,
)
from caliber.core.errors import Conflict, InvalidInput
from caliber.db.base import utcnow
from caliber.db.models import Campaign, CampaignStatus, CampaignTemplate
from caliber.engine.config import DEFAULT_MIN_IMPRESSIONS, Level, Setup
from caliber.engine.options import ReadOptions
from caliber.orgs.policy import Member

# The status machine of a campaign: pending → processing → completed | failed, and
# failed → pending. Only the system starts a run (POST /scoring/start) and only a run
# that saved its results completes a campaign (or fails it when it cannot), so the
# status route lets a client make just the two moves that are theirs to make:
CLIENT_TRANSITIONS: dict[CampaignStatus, frozenset[CampaignStatus]] = {
    # cancel the run in progress (its result is discarded; earlier results stay)
    CampaignStatus.PROCESSING: frozenset({CampaignStatus.FAILED}),
    # reset a failed campaign, ready to be scored again
    CampaignStatus.FAILED: frozenset({CampaignStatus.PENDING}),
    CampaignStatus.PENDING: frozenset(),
    CampaignStatus.COMPLETED: frozenset(),
}
CLIENT_RULE = (
    "a client may only cancel a run in progress (processing → failed) or reset a failed "
    "campaign (failed → pending); scoring starts with POST /scoring/start, and only a "
    "scoring run completes a campaign"
)
CANCELLED = "cancelled by the user"
UNDELETABLE = frozenset({CampaignStatus.PROCESSING, CampaignStatus.COMPLETED})
PROGRESS_STATUSES = frozenset({CampaignStatus.PENDING, CampaignStatus.PROCESSING})


def build_setup(values: Mapping[str, Any]) -> Setup:
    """The engine's setup for stored or requested values; raises the engine's errors
    (unsupported combination, unknown value, bad weights) with their messages."""
    weights = values.get("custom_weights")
    level = values.get("list_confidence")
    return Setup.create(
        str(values["platform"]),
        str(values["goal"]),
        str(values["channel"]),
        ctr_sensitivity=bool(values.get("ctr_sensitivity", False)),
        min_impressions=float(values.get("min_impressions", DEFAULT_MIN_IMPRESSIONS)),
        weights=None if weights is None else dict(weights),
        # absent (a setup stored before issue 17, a classic run's snapshot): classic
        list_confidence=None if level is None else float(level),
    )


def setup_of(campaign: Campaign | CampaignTemplate) -> Setup:
    return build_setup(_setup_values(campaign))


def _setup_values(obj: Campaign | CampaignTemplate) -> dict[str, Any]:
    return {
        "platform": obj.platform,
        "goal": obj.goal,
        "channel": obj.channel,
        "ctr_sensitivity": obj.ctr_sensitivity,
        "min_impressions": obj.min_impressions,
        "custom_weights": obj.custom_weights,
        "list_confidence": obj.list_confidence,
    }


def _normalized(setup: Setup) -> dict[str, Any]:
    """Column values of a validated setup (enum values lower-cased as the engine reads them)."""
    return {
        "platform": str(setup.platform),
        "goal": str(setup.goal),
        "channel": str(setup.channel),
        "ctr_sensitivity": setup.ctr_sensitivity,
        "min_impressions": float(setup.min_impressions),
        "custom_weights": None if setup.weights is None else dict(setup.weights),
        "list_confidence": setup.list_confidence,
    }


def check_analysis_level(setup: Setup, options: ReadOptions, requested: Level | None) -> None:
    """The seed's ``analysis_level`` must name what the setup scores by, unless the column
    mapping says which column that dimension is read from (e.g. ``supply_vendor`` for a
    display setup with ``{"domain": "Supply Vendor"}``); else a 422 naming the value."""
    if requested is None:
        return
    level = str(setup.resolve().level)
    if str(requested) == level or level in options.columns:
        return
    raise InvalidInput(
        f"analysis_level {str(requested)!r} does not match this setup, which scores by "
        f"{level}: send analysis_level {level!r}, or map the {level} dimension to the "
        f'column to score by (column_mapping {{"{level}": "<header>"}})',
        field="analysis_level",
        requested=str(requested),
        valid=level,
    )


# --- templates --------------------------------------------------------------------


def create_template(session: Session, member: Member, data: TemplateCreate) -> CampaignTemplate:
    setup = build_setup(data.model_dump())
    options = choices.options_from_fields(data.reading_sent())
    check_analysis_level(setup, options, data.analysis_level)
    template = CampaignTemplate(
        owner_id=member.user_id,
        organization_id=member.organization_id,
        name=data.name,
        description=data.description,
        read_options=choices.stored(options),
        **_normalized(setup),
    )
    session.add(template)
    session.flush()
    return template


def list_templates(session: Session, org_id: uuid.UUID) -> list[CampaignTemplate]:
    return repository.list_templates(session, org_id)


def get_template(session: Session, org_id: uuid.UUID, template_id: uuid.UUID) -> CampaignTemplate:
    return repository.get_template(session, org_id, template_id)


def delete_template(session: Session, org_id: uuid.UUID, template_id: uuid.UUID) -> None:
    template = repository.get_template(session, org_id, template_id)
    if repository.template_in_use(session, template.id):
        raise Conflict(
            "this template is used by a campaign; delete those campaigns first",
            template_id=str(template_id),
        )
    session.delete(template)
    session.flush()


# --- campaigns --------------------------------------------------------------------


def create_campaign(session: Session, member: Member, data: CampaignCreate) -> Campaign:
    """From a template (its setup copied, fields sent alongside override it) or from the
    setup given; either way validated by the engine."""
    values: dict[str, Any] = {}
    options = ReadOptions()
    if data.template_id is not None:
        template = repository.get_template(session, member.organization_id, data.template_id)
        values = _setup_values(template)
        options = choices.loaded(template.read_options)
    values.update(data.overrides())
    setup = build_setup(values)
    options = choices.with_sent(options, data.reading_sent())
    check_analysis_level(setup, options, data.analysis_level)
    campaign = Campaign(
        owner_id=member.user_id,
        organization_id=member.organization_id,
        template_id=data.template_id,
        name=data.name,
        description=data.description,
        status=CampaignStatus.PENDING,
        progress_percentage=0,
        read_options=choices.stored(options),
        **_normalized(setup),
    )
    session.add(campaign)
    session.flush()
    return campaign


def list_campaigns(
    session: Session,
    org_id: uuid.UUID,
    *,
    skip: int,
    limit: int,
    status: CampaignStatus | None = None,
) -> tuple[list[Campaign], int]:
    return repository.list_campaigns(session, org_id, skip=skip, limit=limit, status=status)


def get_campaign(session: Session, org_id: uuid.UUID, campaign_id: uuid.UUID) -> Campaign:
    return repository.get_campaign(session, org_id, campaign_id)


def delete_campaign(session: Session, org_id: uuid.UUID, campaign_id: uuid.UUID) -> None:
    campaign = repository.get_campaign_for_update(session, org_id, campaign_id)
    if campaign.status in UNDELETABLE:
        raise Conflict(
            f"a {campaign.status} campaign cannot be deleted",
            campaign_id=str(campaign_id),
            status=campaign.status,
        )
    session.delete(campaign)  # its scoring results go with it (ON DELETE CASCADE)
    session.flush()


def set_weights(
    session: Session, org_id: uuid.UUID, campaign_id: uuid.UUID, weights: dict[str, float] | None
) -> Campaign:
    """Custom weights (None: the setup's defaults) for the next scoring run; the engine's
    422 for weights that do not fit the setup, 409 while a run is in progress."""
    campaign = repository.get_campaign_for_update(session, org_id, campaign_id)
    if campaign.status == CampaignStatus.PROCESSING:
        raise Conflict(
            "the campaign is being scored; change its weights when the run has finished",
            campaign_id=str(campaign_id),
        )
    setup = build_setup({**_setup_values(campaign), "custom_weights": weights})
    campaign.custom_weights = _normalized(setup)["custom_weights"]
    campaign.updated_at = utcnow()
    session.flush()
    return campaign


def set_template_weights(
    session: Session, org_id: uuid.UUID, template_id: uuid.UUID, weights: dict[str, float] | None
) -> CampaignTemplate:
    template = repository.get_template(session, org_id, template_id)
    setup = build_setup({**_setup_values(template), "custom_weights": weights})
    template.custom_weights = _normalized(setup)["custom_weights"]
    template.updated_at = utcnow()
    session.flush()
    return template


def set_confidence(
    session: Session, org_id: uuid.UUID, campaign_id: uuid.UUID, level: float | None
) -> Campaign:
    """The level of the lists for the next run (None: classic); 409 while a run is in
    progress (it scores with the setup it started with). Earlier runs keep theirs."""
    campaign = repository.get_campaign_for_update(session, org_id, campaign_id)
    if campaign.status == CampaignStatus.PROCESSING:
        raise Conflict(
            "the campaign is being scored; change its list confidence when the run has finished",
            campaign_id=str(campaign_id),
        )
    setup = build_setup({**_setup_values(campaign), "list_confidence": level})
    campaign.list_confidence = setup.list_confidence
    campaign.updated_at = utcnow()
    session.flush()
    return campaign


def set_template_confidence(
    session: Session, org_id: uuid.UUID, template_id: uuid.UUID, level: float | None
) -> CampaignTemplate:
    """The level campaigns made from the template later copy (None: classic)."""
    template = repository.get_template(session, org_id, template_id)
    setup = build_setup({**_setup_values(template), "list_confidence": level})
    template.list_confidence = setup.list_confidence
    template.updated_at = utcnow()
    session.flush()
    return template


def set_reading(
    session: Session, org_id: uuid.UUID, campaign_id: uuid.UUID, data: ReadingUpdate
) -> Campaign:
    """Replace the campaign's reading choices for its next run (409 while one is in
    progress: it reads the file with the choices it started with)."""
    campaign = repository.get_campaign_for_update(session, org_id, campaign_id)
    if campaign.status == CampaignStatus.PROCESSING:
        raise Conflict(
            "the campaign is being scored; change how its file is read when the run has finished",
            campaign_id=str(campaign_id),
        )
    campaign.read_options = choices.stored(choices.options_from_fields(data.reading_sent()))
    campaign.updated_at = utcnow()
    session.flush()
    return campaign


def set_template_reading(
    session: Session, org_id: uuid.UUID, template_id: uuid.UUID, data: ReadingUpdate
) -> CampaignTemplate:
    """Replace the template's reading choices (campaigns made from it later copy them)."""
    template = repository.get_template(session, org_id, template_id)
    template.read_options = choices.stored(choices.options_from_fields(data.reading_sent()))
    template.updated_at = utcnow()
    session.flush()
    return template


def reading_of(campaign: Campaign | CampaignTemplate) -> ReadOptions:
    """The reading choices stored on a campaign or template."""
    return choices.loaded(campaign.read_options)


def update_status(
    session: Session, org_id: uuid.UUID, campaign_id: uuid.UUID, data: StatusUpdate
) -> Campaign:
    """A client's move along :data:`CLIENT_TRANSITIONS`; any other is a 422 naming the
    moves allowed from the current status (409 if the status changed meanwhile)."""
    campaign = repository.get_campaign_for_update(session, org_id, campaign_id)
    current = CampaignStatus(campaign.status)
    target = data.status
    allowed = sorted(CLIENT_TRANSITIONS[current])
    if target not in allowed:
        choices = ", ".join(f"'{status}'" for status in allowed) or "none"
        raise InvalidInput(
            f"{CLIENT_RULE}; allowed from '{current}': {choices}",
            field="status",
            current=str(current),
            requested=str(target),
            allowed=[str(status) for status in allowed],
        )
    if target is CampaignStatus.FAILED:  # cancel: the job finds it no longer processing
        values: dict[str, Any] = {
            "status": target,
            "error_message": data.error_message or CANCELLED,
            "current_step": "failed",
        }
    else:  # failed -> pending: ready to be scored again (any results stay readable)
        values = {
            "status": target,
            "error_message": None,
            "progress_percentage": 0,
            "current_step": None,
            "started_at": None,
        }
    # guarded on the status read above: a run completing or failing meanwhile wins
    if not repository.update_if_status(session, org_id, campaign_id, current, **values):
        raise Conflict(
            "this campaign changed state meanwhile; read it again",
            campaign_id=str(campaign_id),
        )
    return repository.get_campaign_for_update(session, org_id, campaign_id)


def update_progress(
    session: Session, org_id: uuid.UUID, campaign_id: uuid.UUID, data: ProgressUpdate
) -> Campaign:
    """Record counts (and optionally a step and percentage) while a campaign is pending
    or processing; a finished campaign's figures are final."""
    campaign = repository.get_campaign_for_update(session, org_id, campaign_id)
    if campaign.status not in PROGRESS_STATUSES:
        raise Conflict(
            f"the progress of a {campaign.status} campaign cannot change",
            status=campaign.status,
        )
    total = data.total_records if data.total_records is not None else campaign.total_records
    if total is not None and data.processed_records > total:
        raise InvalidInput(
            f"processed_records ({data.processed_records}) exceeds total_records ({total})",
            field="processed_records",
            processed_records=data.processed_records,
            total_records=total,
        )
    campaign.processed_records = data.processed_records
    campaign.total_records = total
    if data.progress_percentage is not None:
        campaign.progress_percentage = data.progress_percentage
    elif total:
        campaign.progress_percentage = min(100, data.processed_records * 100 // total)
    if data.current_step is not None:
        campaign.current_step = data.current_step
    session.flush()
    return campaign
