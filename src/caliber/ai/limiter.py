"""Per-user request limits (per minute and per hour) with the ``limits`` library: on
Redis when REDIS_URL is set, shared by every process; in this process otherwise, and as
the fallback while Redis is down (limits then hold per process, never not at all)."""

from __future__ import annotations

import logging
import math
import threading
import time

from limits import RateLimitItem, RateLimitItemPerHour, RateLimitItemPerMinute
from limits.storage import MemoryStorage, RedisStorage, Storage
from limits.strategies import MovingWindowRateLimiter

from caliber.core import metrics
from caliber.core.errors import RateLimited

logger = logging.getLogger(__name__)

REDIS_TIMEOUT = 0.5
RETRY_REDIS_AFTER = 30.0  # seconds on the fallback before trying Redis again


class RateLimiter:
    def __init__(self, per_minute: int, per_hour: int, redis_url: str | None = None) -> None:
        self.items: tuple[RateLimitItem, ...] = (
            RateLimitItemPerMinute(per_minute),
            RateLimitItemPerHour(per_hour),
        )
        self._local = MovingWindowRateLimiter(MemoryStorage())
        self._shared: MovingWindowRateLimiter | None = None
        if redis_url:
            storage: Storage = RedisStorage(
                redis_url,
                wrap_exceptions=True,
                socket_timeout=REDIS_TIMEOUT,
                socket_connect_timeout=REDIS_TIMEOUT,
            )
            self._shared = MovingWindowRateLimiter(storage)
        self._down_until = 0.0
        self._lock = threading.Lock()

    @property
    def backend(self) -> str:
        if self._shared is None:
            return "memory"
        return "memory (Redis unavailable)" if self._on_fallback() else "redis"

    def _on_fallback(self) -> bool:
        return time.monotonic() < self._down_until

    def _limiter(self) -> MovingWindowRateLimiter:
        if self._shared is None or self._on_fallback():
            return self._local
        return self._shared

    def hit(self, user_id: str, cost: int = 1) -> None:
        """Count ``cost`` requests for the user, or raise 429 with the wait in seconds."""
        try:
            self._hit(self._limiter(), user_id, cost)
        except RateLimited:
            metrics.RATE_LIMITED.inc()
            raise
        except Exception as exc:  # the shared store failed: this process limits alone
            logger.warning("rate limits fall back to this process: Redis unavailable (%s)", exc)
            with self._lock:
                self._down_until = time.monotonic() + RETRY_REDIS_AFTER
            try:
                self._hit(self._local, user_id, cost)
            except RateLimited:
                metrics.RATE_LIMITED.inc()
                raise

    def _hit(self, limiter: MovingWindowRateLimiter, user_id: str, cost: int) -> None:
        for item in self.items:
            if cost > item.amount:
                raise RateLimited(
                    f"this request counts as {cost} requests, more than the {item.amount} "
                    f"allowed per {item.GRANULARITY.name}",
                    retry_after=item.get_expiry(),
                    limit=item.amount,
                    cost=cost,
                )
            if not limiter.test(item, "ai", user_id, cost=cost):
                reset = limiter.get_window_stats(item, "ai", user_id).reset_time
                wait = max(1, math.ceil(reset - time.time()))
                raise RateLimited(
                    f"too many AI requests: at most {item.amount} per "
                    f"{item.GRANULARITY.name}; try again in {wait} s",
                    retry_after=wait,
                    limit=item.amount,
                )
        for item in self.items:
            limiter.hit(item, "ai", user_id, cost=cost)

    def remaining(self, user_id: str) -> int | None:
        """Requests left before a limit is reached (None when the store cannot tell)."""
        try:
            limiter = self._limiter()
            return min(
                limiter.get_window_stats(item, "ai", user_id).remaining for item in self.items
            )
        except Exception:
            return None
