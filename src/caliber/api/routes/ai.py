"""Routes: the AI analyst (``api.md``): insights, chat, status."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query

from caliber.ai import prompts
from caliber.ai.schemas import (
    BatchInsightRequest,
    BlacklistInsightRequest,
    ChatRequest,
    DomainInsightRequest,
    InsightRequest,
    WhitelistInsightRequest,
)
from caliber.api.deps import ContainerDep, CurrentMember, CurrentUser, SessionDep
from caliber.core.envelope import Envelope, ok
from caliber.orgs.policy import Action, authorize

router = APIRouter()
Data = Envelope[dict[str, Any]]


@router.get("/status", response_model=Data)
def status(user: CurrentUser, session: SessionDep, container: ContainerDep) -> Any:
    """Which provider answers, whether it is configured, cache and rate-limit state."""
    return ok(container.ai.status(session, user.id))


@router.get("/insights/types", response_model=Data)
def insight_types(user: CurrentUser) -> Any:
    del user
    types = prompts.INSIGHT_TYPES.values()
    return ok(
        {
            "insight_types": [t.name for t in types],
            "descriptions": {t.name: t.description for t in types},
            "type_details": [
                {
                    "type": t.name,
                    "description": t.description,
                    "required_context": list(t.required_context),
                    "optional_context": list(t.optional_context),
                }
                for t in types
            ],
        }
    )


@router.post("/insights/generate", response_model=Data)
def generate(
    body: InsightRequest, member: CurrentMember, session: SessionDep, container: ContainerDep
) -> Any:
    authorize(session, member, Action.ASK_AI, campaign=body.campaign_id)
    found = container.ai.generate(
        session, member, body.campaign_id, body.insight_type, body.context_data
    )
    session.commit()
    return ok(found)


@router.post("/insights/domain", response_model=Data)
def domain(
    body: DomainInsightRequest, member: CurrentMember, session: SessionDep, container: ContainerDep
) -> Any:
    authorize(session, member, Action.ASK_AI, campaign=body.campaign_id)
    found = container.ai.generate(session, member, body.campaign_id, "domain", body.domain_data)
    session.commit()
    return ok(found)


@router.post("/insights/whitelist", response_model=Data)
def whitelist(
    body: WhitelistInsightRequest,
    member: CurrentMember,
    session: SessionDep,
    container: ContainerDep,
) -> Any:
    authorize(session, member, Action.ASK_AI, campaign=body.campaign_id)
    found = container.ai.generate(
        session, member, body.campaign_id, "whitelist", body.whitelist_data
    )
    session.commit()
    return ok(found)


@router.post("/insights/blacklist", response_model=Data)
def blacklist(
    body: BlacklistInsightRequest,
    member: CurrentMember,
    session: SessionDep,
    container: ContainerDep,
) -> Any:
    authorize(session, member, Action.ASK_AI, campaign=body.campaign_id)
    found = container.ai.generate(
        session, member, body.campaign_id, "blacklist", body.blacklist_data
    )
    session.commit()
    return ok(found)


@router.post("/insights/batch", response_model=Data)
def batch(
    body: BatchInsightRequest, member: CurrentMember, session: SessionDep, container: ContainerDep
) -> Any:
    """Several types; each that fails is listed in ``failed_insights``."""
    authorize(session, member, Action.ASK_AI, campaign=body.campaign_id)
    found = container.ai.batch(
        session, member, body.campaign_id, body.insight_types, body.context_data
    )
    session.commit()
    return ok(found)


@router.get("/insights/{campaign_id}", response_model=Data)
def list_insights(
    campaign_id: uuid.UUID,
    member: CurrentMember,
    session: SessionDep,
    container: ContainerDep,
    insight_type: Annotated[str | None, Query(max_length=64)] = None,
) -> Any:
    """The campaign's insights, whoever of the organization asked for them."""
    return ok(
        container.ai.list_insights(session, member.organization_id, campaign_id, insight_type)
    )


@router.delete("/insights/campaign/{campaign_id}", response_model=Envelope[None])
def clear_campaign(
    campaign_id: uuid.UUID, member: CurrentMember, session: SessionDep, container: ContainerDep
) -> Any:
    authorize(session, member, Action.ASK_AI, campaign=campaign_id)
    removed = container.ai.clear_campaign(session, member.organization_id, campaign_id)
    session.commit()
    return ok(None, f"{removed} insight(s) cleared")


@router.delete("/insights/{insight_id}", response_model=Envelope[None])
def delete_insight(
    insight_id: uuid.UUID, member: CurrentMember, session: SessionDep, container: ContainerDep
) -> Any:
    container.ai.delete_insight(session, member, insight_id)
    session.commit()
    return ok(None, "insight deleted")


@router.post("/chat", response_model=Data)
def chat(
    body: ChatRequest, member: CurrentMember, session: SessionDep, container: ContainerDep
) -> Any:
    """Chat histories stay personal; a campaign named must be the organization's."""
    authorize(session, member, Action.ASK_AI, campaign=body.campaign_id)
    answer = container.ai.chat(session, member, body.message, body.campaign_id, body.context_data)
    session.commit()
    return ok(answer)


@router.get("/chat/history/{conversation_id}", response_model=Data)
def history(
    conversation_id: str,
    user: CurrentUser,
    session: SessionDep,
    container: ContainerDep,
) -> Any:
    return ok(container.ai.history(session, user.id, conversation_id))


@router.delete("/chat/history/{conversation_id}", response_model=Envelope[None])
def clear_history(
    conversation_id: str, user: CurrentUser, session: SessionDep, container: ContainerDep
) -> Any:
    container.ai.clear_history(session, user.id, conversation_id)
    session.commit()
    return ok(None, "chat history cleared")
