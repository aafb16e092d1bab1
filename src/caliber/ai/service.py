"""The analyst: insights and chat about the user's own campaigns.

Order of every request: ownership (404) and input checks (422) first, then the rate
limit (429), then the cache, then the provider (503 on its failure). Nothing is written
until the provider has answered, so a failed call leaves no half-written insight or
chat turn; each call's tokens are recorded in ``ai_usage``.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from caliber.ai import prompts
from caliber.ai.cache import Cache, build_cache
from caliber.ai.context import campaign_context, domain_context, find_domain
from caliber.ai.limiter import RateLimiter
from caliber.ai.providers import AIRequest, Completion, Provider, build_provider
from caliber.campaigns import repository as campaign_repository
from caliber.core import metrics
from caliber.core.errors import CaliberError, InvalidInput, NotFound
from caliber.core.settings import Settings
from caliber.db.base import utcnow
from caliber.db.models import AIInsight, AIUsage, ChatConversation, ChatMessage

HISTORY_SENT = 10  # earlier messages sent with a chat question
SUMMARY_MESSAGES = 5
_DOMAIN_LIKE = re.compile(r"[\w-]+(?:\.[\w-]+)+", re.UNICODE)


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


class Analyst:
    def __init__(
        self,
        settings: Settings,
        provider: Provider | None = None,
        cache: Cache | None = None,
        limiter: RateLimiter | None = None,
    ) -> None:
        self.settings = settings
        self.provider = provider or build_provider(settings)
        self.cache = cache or build_cache(settings.REDIS_URL)
        self.limiter = limiter or RateLimiter(
            settings.MAX_REQUESTS_PER_MINUTE, settings.MAX_REQUESTS_PER_HOUR, settings.REDIS_URL
        )

    @property
    def cache_enabled(self) -> bool:
        return self.settings.CACHE_ENABLED and self.settings.CACHE_TTL > 0

    # --- status ---------------------------------------------------------------------

    def status(self, session: Session, owner_id: uuid.UUID) -> dict[str, Any]:
        last = session.scalar(
            select(AIUsage.created_at)
            .where(AIUsage.owner_id == owner_id)
            .order_by(AIUsage.created_at.desc())
            .limit(1)
        )
        configured = self.provider.configured
        return {
            "service_status": "operational" if configured else "unconfigured",
            "provider": self.provider.name,
            "model": self.provider.model,
            "openai_configured": self.provider.name == "openai" and configured,
            "cache_enabled": self.cache_enabled,
            "cache_backend": self.cache.name,
            "rate_limit_backend": self.limiter.backend,
            "rate_limits": {
                "per_minute": self.settings.MAX_REQUESTS_PER_MINUTE,
                "per_hour": self.settings.MAX_REQUESTS_PER_HOUR,
            },
            "rate_limit_remaining": self.limiter.remaining(str(owner_id)),
            "last_request_time": last,
        }

    # --- insights -------------------------------------------------------------------

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

    def _complete(self, request: AIRequest) -> Completion:
        """The provider's answer, counted in the metrics (tokens, calls, failures)."""
        try:
            completion = self.provider.complete(request)
        except CaliberError:
            metrics.AI_CALLS.labels(self.provider.name, "failed").inc()
            raise
        metrics.AI_CALLS.labels(completion.provider, "ok").inc()
        metrics.LLM_TOKENS.labels(completion.provider, "prompt").inc(completion.prompt_tokens)
        metrics.LLM_TOKENS.labels(completion.provider, "completion").inc(
            completion.completion_tokens
        )
        return completion

    def _record(
        self,
        session: Session,
        owner_id: uuid.UUID,
        campaign_id: uuid.UUID | None,
        purpose: str,
        completion: Completion | None,
    ) -> None:
        session.add(
            AIUsage(
                owner_id=owner_id,
                campaign_id=campaign_id,
                purpose=purpose,
                provider=completion.provider if completion else self.provider.name,
                model=completion.model if completion else self.provider.model,
                prompt_tokens=completion.prompt_tokens if completion else 0,
                completion_tokens=completion.completion_tokens if completion else 0,
                cached=completion is None,
            )
        )

    def _insight(
        self,
        session: Session,
        owner_id: uuid.UUID,
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
            if row is not None and row.owner_id == owner_id:
                metrics.AI_CACHE.labels("hit").inc()
                self._record(session, owner_id, campaign_id, kind, None)
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
            owner_id=owner_id,
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
        self._record(session, owner_id, campaign_id, kind, completion)
        session.flush()
        if self.cache_enabled:
            self.cache.set(key, {"insight_id": str(row.id)}, self.settings.CACHE_TTL)
        return insight_out(row)

    def generate(
        self,
        session: Session,
        owner_id: uuid.UUID,
        campaign_id: uuid.UUID,
        kind: str,
        client: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """One insight (any type; ``client`` adds context, e.g. ``domain`` for a domain)."""
        context = campaign_context(session, owner_id, campaign_id)
        self._check_type(kind)
        self.limiter.hit(str(owner_id))
        return self._insight(session, owner_id, context, kind, client or {})

    def batch(
        self,
        session: Session,
        owner_id: uuid.UUID,
        campaign_id: uuid.UUID,
        kinds: Sequence[str],
        client: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Several types at once, counted as that many requests; one failing type is
        reported and the others still delivered."""
        context = campaign_context(session, owner_id, campaign_id)
        for kind in kinds:
            self._check_type(kind)
        self.limiter.hit(str(owner_id), cost=len(kinds))
        insights: list[dict[str, Any]] = []
        failed: list[dict[str, Any]] = []
        for kind in kinds:
            try:
                with session.begin_nested():
                    insights.append(self._insight(session, owner_id, context, kind, client or {}))
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
        owner_id: uuid.UUID,
        campaign_id: uuid.UUID,
        insight_type: str | None = None,
    ) -> dict[str, Any]:
        campaign_repository.get_campaign(session, owner_id, campaign_id)
        if insight_type is not None:
            self._check_type(insight_type)
        query = select(AIInsight).where(
            AIInsight.owner_id == owner_id, AIInsight.campaign_id == campaign_id
        )
        if insight_type is not None:
            query = query.where(AIInsight.insight_type == insight_type)
        rows = list(session.scalars(query.order_by(AIInsight.created_at.desc(), AIInsight.id)))
        return {
            "campaign_id": str(campaign_id),
            "insights": [insight_out(r) for r in rows],
            "total_insights": len(rows),
            "insight_types": sorted({r.insight_type for r in rows}),
        }

    def delete_insight(self, session: Session, owner_id: uuid.UUID, insight_id: uuid.UUID) -> None:
        row = session.get(AIInsight, insight_id)
        if row is None or row.owner_id != owner_id:
            raise NotFound("insight not found", insight_id=str(insight_id))
        campaign_id = row.campaign_id
        session.delete(row)
        session.flush()
        if campaign_id is not None:
            self.cache.delete_prefix(f"insight:{campaign_id}:")

    def clear_campaign(self, session: Session, owner_id: uuid.UUID, campaign_id: uuid.UUID) -> int:
        campaign_repository.get_campaign(session, owner_id, campaign_id)
        result = session.execute(
            delete(AIInsight)
            .where(AIInsight.owner_id == owner_id, AIInsight.campaign_id == campaign_id)
            .execution_options(synchronize_session=False)
        )
        self.cache.delete_prefix(f"insight:{campaign_id}:")
        return int(getattr(result, "rowcount", 0) or 0)

    # --- chat -----------------------------------------------------------------------

    @staticmethod
    def conversation_id(owner_id: uuid.UUID, campaign_id: uuid.UUID | None) -> str:
        return f"{owner_id}:{campaign_id if campaign_id is not None else 'general'}"

    def _messages(
        self, session: Session, conversation_id: str, limit: int | None
    ) -> list[ChatMessage]:
        query = (
            select(ChatMessage)
            .where(ChatMessage.conversation_id == conversation_id)
            .order_by(ChatMessage.created_at.desc(), ChatMessage.id.desc())
        )
        if limit is not None:
            query = query.limit(limit)
        return list(reversed(list(session.scalars(query))))

    def chat(
        self,
        session: Session,
        owner_id: uuid.UUID,
        message: str,
        campaign_id: uuid.UUID | None = None,
        client: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        context = (
            campaign_context(session, owner_id, campaign_id) if campaign_id is not None else None
        )
        self.limiter.hit(str(owner_id))
        conversation_id = self.conversation_id(owner_id, campaign_id)
        earlier = self._messages(session, conversation_id, HISTORY_SENT)
        history = [{"role": m.role, "content": m.content} for m in earlier]
        if context is not None and context.get("scored"):
            for candidate in _DOMAIN_LIKE.findall(message):
                row = find_domain(session, context, candidate)
                if row is not None:
                    context["domain"] = domain_context(context, row)
                    break
        if context is not None and client:
            context["client_context"] = client
        messages = [{"role": "system", "content": prompts.CHAT_SYSTEM}]
        messages += [
            {
                "role": m["role"],
                "content": prompts.fence("earlier_message", m["content"])
                if m["role"] == "user"
                else m["content"],
            }
            for m in history
        ]
        messages.append(
            {
                "role": "user",
                "content": prompts.render(
                    "chat_user",
                    {
                        "campaign_context": context or "none: a general conversation",
                        "client_context": client or {},
                        "question": message,
                    },
                ),
            }
        )
        completion = self._complete(
            AIRequest("chat", messages, context, question=message, history=history)
        )
        conversation = session.get(ChatConversation, conversation_id)
        if conversation is None:
            conversation = ChatConversation(
                id=conversation_id, owner_id=owner_id, campaign_id=campaign_id
            )
            session.add(conversation)
        now = utcnow()
        conversation.updated_at = now
        session.add(
            ChatMessage(
                conversation_id=conversation_id, role="user", content=message, created_at=now
            )
        )
        session.add(
            ChatMessage(
                conversation_id=conversation_id,
                role="assistant",
                content=completion.text,
                created_at=now + timedelta(microseconds=1),  # after the question, always
            )
        )
        self._record(session, owner_id, campaign_id, "chat", completion)
        session.flush()
        recent = [*history, {"role": "user", "content": message}]
        return {
            "response": completion.text,
            "conversation_id": conversation_id,
            "timestamp": now,
            "context": self._summary(recent, len(history) + 2),
            "provider": completion.provider,
        }

    @staticmethod
    def _summary(messages: list[dict[str, str]], total: int) -> str:
        asked = [m["content"] for m in messages if m["role"] == "user"][-SUMMARY_MESSAGES:]
        topics = "; ".join(q if len(q) <= 60 else q[:57] + "..." for q in asked)
        return f"{total} messages in this conversation. Recent questions: {topics}"

    def _owned_conversation(
        self, session: Session, owner_id: uuid.UUID, conversation_id: str
    ) -> ChatConversation | None:
        """The user's conversation, None if it has no messages yet; 404 if it is not
        (and cannot become) theirs."""
        conversation = session.get(ChatConversation, conversation_id)
        if conversation is not None and conversation.owner_id == owner_id:
            return conversation
        if conversation is None and conversation_id.startswith(f"{owner_id}:"):
            return None
        raise NotFound("conversation not found", conversation_id=conversation_id)

    def history(
        self, session: Session, owner_id: uuid.UUID, conversation_id: str
    ) -> dict[str, Any]:
        conversation = self._owned_conversation(session, owner_id, conversation_id)
        messages = [] if conversation is None else self._messages(session, conversation_id, None)
        return {
            "conversation_id": conversation_id,
            "messages": [
                {"role": m.role, "content": m.content, "timestamp": m.created_at} for m in messages
            ],
            "created_at": None if conversation is None else conversation.created_at,
            "updated_at": None if conversation is None else conversation.updated_at,
        }

    def clear_history(self, session: Session, owner_id: uuid.UUID, conversation_id: str) -> None:
        conversation = self._owned_conversation(session, owner_id, conversation_id)
        if conversation is not None:
            session.execute(
                delete(ChatMessage).where(ChatMessage.conversation_id == conversation_id)
            )
            session.delete(conversation)
            session.flush()
