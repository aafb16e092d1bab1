"""What every request to the analyst shares: the provider, rate limiter and insight
cache built from settings, the provider's call counted in the metrics, its row in
``ai_usage``, and the status report of all of them (``GET /ai/status``).

The analyst itself, :class:`caliber.ai.service.Analyst`, is this base with its insights
(:mod:`caliber.ai.insights`) and its chat (:mod:`caliber.ai.chat`).
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from caliber.ai.cache import Cache, build_cache
from caliber.ai.limiter import RateLimiter
from caliber.ai.providers import AIRequest, Completion, Provider, build_provider
from caliber.core import metrics
from caliber.core.errors import CaliberError
from caliber.core.settings import Settings
from caliber.db.models import AIUsage


class AnalystBase:
    """The provider, cache and rate limiter, and the accounting of each call."""

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
