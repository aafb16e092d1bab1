"""The analyst's insights: one type or a batch, generated from the campaign's stored
figures (and what the client adds), cached by their context, stored in ``ai_insights``,
listed and deleted by their owner.

The campaign's ownership (404) and the type (422) are checked before the rate limit
(429), the context the type needs (422; 404 for a domain that is not a scored row) after
it; the answer then comes from the cache when the same context was analysed, else from
the provider, and nothing is stored unless the provider answered.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from caliber.ai import prompts
from caliber.ai.base import AnalystBase
from caliber.ai.context import campaign_context, domain_context, find_domain
from caliber.ai.providers import AIRequest
from caliber.campaigns import repository as campaign_repository
from caliber.core import metrics
from caliber.core.errors import CaliberError, InvalidInput, NotFound
from caliber.db.base import utcnow
from caliber.db.models import AIInsight, Campaign
from caliber.orgs import policy
from caliber.orgs.policy import Member

# what the prompts say of a run scored without list_confidence (issue 17)
CLASSIC_LISTS = "off: the classic lists (every eligible row listed by its score alone)"


def _hash(values: dict[str, Any]) -> str:
    text = json.dumps(values, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def insight_out(row: AIInsight, *, cached: bool = False) -> dict[str, Any]:
    extra = row.extra or {}
    return {
        "id": str(row.id),
        "campaign_id": None if row.campaign_id is None else str(row.campaign_id),
        "insight_type": row.insight_type,
        "content": row.content,
        "generated_at": row.created_at,
        "provider": row.provider,
        "model": extra.get("model"),
        "domain": extra.get("domain"),
        "context_data": extra.get("client_context") or {},
        "cached": cached,
    }


class Insights(AnalystBase):
    """Generating, listing and deleting the insights of the user's campaigns."""

    @staticmethod
    def _check_type(kind: str) -> None:
        if kind not in prompts.INSIGHT_TYPES:
            raise InvalidInput(
                f"unknown insight type {kind!r}; choose one of " + ", ".join(prompts.INSIGHT_TYPES),
                field="insight_type",
            )

    def _values(
        self,
        session: Session,
        context: dict[str, Any],
        kind: str,
        client: dict[str, Any],
    ) -> dict[str, Any]:
        """The template's values: the server's figures, plus what the client added."""
        values: dict[str, Any] = dict(context)
        values["client_context"] = {k: v for k, v in client.items() if k != "domain"}
        values["level"] = context["campaign"]["analysis_level"].replace("_", " ")
        # a confident run's decisions (and notes when its lists are thin); classic: none
        values["confidence"] = context.get("confidence") or CLASSIC_LISTS
        if context.get("scored"):
            values["lists"] = {
                kind_: {k: v for k, v in context[kind_].items() if k != "entries"}
                for kind_ in ("whitelist", "blacklist")
            }
        if kind == "domain":
            name = client.get("domain")
            if not isinstance(name, str) or not name.strip():
                raise InvalidInput(
                    "domain insights need domain_data.domain: the name of a scored row",
                    missing=["domain"],
                )
            if context.get("scored"):
                row = find_domain(session, context, name)
                if row is None:
                    raise NotFound(f"{name.strip()!r} is not among this campaign's scored rows")
                values["domain"] = domain_context(context, row)
        missing = prompts.missing_fields(kind, values)
        if missing:
            hint = "" if context.get("scored") else " (the campaign has no scoring results yet)"
            raise InvalidInput(
                f"the {kind} insight is missing context: {', '.join(missing)}{hint}",
                missing=missing,
            )
        return values

    def _insight(
        self,
        session: Session,
        member: Member,
        context: dict[str, Any],
        kind: str,
        client: dict[str, Any],
    ) -> dict[str, Any]:
        campaign_id = uuid.UUID(context["campaign"]["id"])
        values = self._values(session, context, kind, client)
        digest = _hash({"kind": kind, **values})
        key = f"insight:{campaign_id}:{kind}:{digest}"
        if self.cache_enabled and (hit := self.cache.get(key)) is not None:
            row = session.get(AIInsight, uuid.UUID(hit["insight_id"]))
            # insights follow the organization: a colleague's answer is a hit too
            if row is not None and row.campaign_id == campaign_id:
                metrics.AI_CACHE.labels("hit").inc()
                self._record(session, member.user_id, campaign_id, kind, None)
                session.flush()
                return insight_out(row, cached=True)
        if self.cache_enabled:
            metrics.AI_CACHE.labels("miss").inc()
        messages = [
            {"role": "system", "content": prompts.INSIGHT_SYSTEM},
            {"role": "user", "content": prompts.render(kind, values)},
        ]
        completion = self._complete(AIRequest(kind, messages, values))
        row = AIInsight(
            owner_id=member.user_id,  # who asked
            campaign_id=campaign_id,
            insight_type=kind,
            context_hash=digest,
            provider=completion.provider,
            content=completion.text,
            extra={
                "model": completion.model,
                "prompt_tokens": completion.prompt_tokens,
                "completion_tokens": completion.completion_tokens,
                "client_context": values["client_context"],
                "domain": (values.get("domain") or {}).get("name"),
            },
        )
        session.add(row)
        self._record(session, member.user_id, campaign_id, kind, completion)
        session.flush()
        if self.cache_enabled:
            self.cache.set(key, {"insight_id": str(row.id)}, self.settings.CACHE_TTL)
        return insight_out(row)

    def generate(
        self,
        session: Session,
        member: Member,
        campaign_id: uuid.UUID,
        kind: str,
        client: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """One insight (any type; ``client`` adds context, e.g. ``domain`` for a domain)."""
        context = campaign_context(session, member.organization_id, campaign_id)
        self._check_type(kind)
        self.limiter.hit(str(member.user_id))
        return self._insight(session, member, context, kind, client or {})

    def batch(
        self,
        session: Session,
        member: Member,
        campaign_id: uuid.UUID,
        kinds: Sequence[str],
        client: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Several types at once, counted as that many requests; one failing type is
        reported and the others still delivered."""
        context = campaign_context(session, member.organization_id, campaign_id)
        for kind in kinds:
            self._check_type(kind)
        self.limiter.hit(str(member.user_id), cost=len(kinds))
        insights: list[dict[str, Any]] = []
        failed: list[dict[str, Any]] = []
        for kind in kinds:
            try:
                with session.begin_nested():
                    insights.append(self._insight(session, member, context, kind, client or {}))
            except CaliberError as exc:
                failed.append({"insight_type": kind, "error": exc.code, "message": exc.message})
        return {
            "campaign_id": str(campaign_id),
            "insights": insights,
            "failed_insights": failed,
            "total_insights": len(insights),
            "generated_at": utcnow(),
        }

    def list_insights(
        self,
        session: Session,
        org_id: uuid.UUID,
        campaign_id: uuid.UUID,
        insight_type: str | None = None,
    ) -> dict[str, Any]:
        campaign_repository.get_campaign(session, org_id, campaign_id)
        if insight_type is not None:
            self._check_type(insight_type)
        query = select(AIInsight).where(AIInsight.campaign_id == campaign_id)
        if insight_type is not None:
            query = query.where(AIInsight.insight_type == insight_type)
        rows = list(session.scalars(query.order_by(AIInsight.created_at.desc(), AIInsight.id)))
        return {
            "campaign_id": str(campaign_id),
            "insights": [insight_out(r) for r in rows],
            "total_insights": len(rows),
            "insight_types": sorted({r.insight_type for r in rows}),
        }

    def delete_insight(self, session: Session, member: Member, insight_id: uuid.UUID) -> None:
        row = session.scalar(
            select(AIInsight)
            .join(Campaign, Campaign.id == AIInsight.campaign_id)
            .where(AIInsight.id == insight_id, Campaign.organization_id == member.organization_id)
        )
        if row is None:
            raise NotFound("insight not found", insight_id=str(insight_id))
        policy.require(member, policy.Action.ASK_AI)
        campaign_id = row.campaign_id
        session.delete(row)
        session.flush()
        if campaign_id is not None:
            self.cache.delete_prefix(f"insight:{campaign_id}:")

    def clear_campaign(self, session: Session, org_id: uuid.UUID, campaign_id: uuid.UUID) -> int:
        campaign_repository.get_campaign(session, org_id, campaign_id)
        result = session.execute(
            delete(AIInsight)
            .where(AIInsight.campaign_id == campaign_id)  # the organization's campaign
            .execution_options(synchronize_session=False)
        )
        self.cache.delete_prefix(f"insight:{campaign_id}:")
        return int(getattr(result, "rowcount", 0) or 0)
