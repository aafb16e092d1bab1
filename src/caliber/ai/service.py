"""The analyst: insights and chat about the user's own campaigns.

Order of every request: ownership (404) and input checks (422) first, then the rate
limit (429), then the cache, then the provider (503 on its failure). Nothing is written
until the provider has answered, so a failed call leaves no half-written insight or
chat turn; each call's tokens are recorded in ``ai_usage``.
"""

from __future__ import annotations

from caliber.ai.chat import Chat
from caliber.ai.insights import Insights


class Analyst(Insights, Chat):
    """Insights and chat about the user's own campaigns, on one provider, rate limiter
    and cache (:class:`~caliber.ai.base.AnalystBase`)."""
