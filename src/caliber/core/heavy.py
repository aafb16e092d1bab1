"""How many heavy requests (exports, analytics, PDF reports) each user may have in flight.

A results CSV of a 300,000-row campaign is seconds of CPU in the API process, an outlier
detection tens of seconds: without a bound, one user sending a few at once holds every
thread and core the service has. Each user gets ``per_user`` slots; a request that finds
them all taken is refused at once (429 with ``Retry-After``), never queued.

With ``REDIS_URL`` the slots are shared by every API process (``API_WORKERS`` and
replicas): a sorted set per user of the requests in flight, each scored by when its lease
ends, taken and given back by a script (atomic, on the server's clock), so a process that
dies holding slots frees them when their leases end. Without Redis, or while it does not
answer, each process counts alone (the limit then holds per process, never not at all).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from caliber.core import metrics
from caliber.core.errors import RateLimited

logger = logging.getLogger(__name__)

REDIS_TIMEOUT = 0.5
RETRY_REDIS_AFTER = 30.0  # seconds counting in process before trying Redis again
LEASE_SECONDS = 3600  # a slot of a process that died is free again after this long
RETRY_AFTER_SECONDS = 5  # what a refused request is told to wait

# KEYS[1]: the user's set; ARGV: limit, lease seconds, token. Expired leases go first.
_ACQUIRE = """
local now = redis.call('TIME')
local seconds = tonumber(now[1]) + tonumber(now[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', seconds)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  return 0
end
redis.call('ZADD', KEYS[1], seconds + tonumber(ARGV[2]), ARGV[3])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]))
return 1
"""


class HeavyRequestLimiter:
    """At most ``per_user`` heavy requests in flight per user (see the module doc)."""

    def __init__(
        self,
        per_user: int,
        redis_url: str | None = None,
        *,
        lease_seconds: int = LEASE_SECONDS,
        retry_after: int = RETRY_AFTER_SECONDS,
    ) -> None:
        self.per_user = per_user
        self.lease_seconds = lease_seconds
        self.retry_after = retry_after
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()
        self._down_until = 0.0
        self._redis: Any = None
        self._errors: tuple[type[Exception], ...] = (OSError,)
        if redis_url:
            import redis  # noqa: PLC0415 - only with REDIS_URL

            self._redis = redis.Redis.from_url(
                redis_url, socket_timeout=REDIS_TIMEOUT, socket_connect_timeout=REDIS_TIMEOUT
            )
            self._acquire = self._redis.register_script(_ACQUIRE)
            self._errors = (redis.RedisError, OSError)
        # a test seam: called with the user id once a slot is taken, before the request
        # runs (tests hold requests in flight with it; None in service)
        self.on_acquired: Callable[[str], None] | None = None

    @property
    def backend(self) -> str:
        if self._redis is None:
            return "memory"
        return "memory (Redis unavailable)" if self._on_fallback() else "redis"

    def _on_fallback(self) -> bool:
        return time.monotonic() < self._down_until

    @contextmanager
    def slot(self, user_id: str, what: str = "request") -> Iterator[None]:
        """Hold one of the user's slots for the ``with`` block, or raise
        :class:`RateLimited` (429) when they are all taken."""
        release = self._take(user_id, what)
        metrics.HEAVY_IN_FLIGHT.inc()
        try:
            if self.on_acquired is not None:
                self.on_acquired(user_id)
            yield
        finally:
            metrics.HEAVY_IN_FLIGHT.dec()
            release()

    def _take(self, user_id: str, what: str) -> Callable[[], None]:
        if self._redis is not None and not self._on_fallback():
            token = uuid.uuid4().hex
            key = f"caliber:heavy:{user_id}"
            try:
                taken = self._acquire(keys=[key], args=[self.per_user, self.lease_seconds, token])
            except self._errors as exc:
                logger.warning(
                    "heavy-request limits fall back to this process: Redis unavailable (%s)",
                    exc,
                )
                with self._lock:
                    self._down_until = time.monotonic() + RETRY_REDIS_AFTER
            else:
                if not taken:
                    self._refuse(what)
                return lambda: self._give_back(key, token)
        with self._lock:
            count = self._counts.get(user_id, 0)
            if count >= self.per_user:
                self._refuse(what)
            self._counts[user_id] = count + 1
        return lambda: self._release_local(user_id)

    def _refuse(self, what: str) -> None:
        metrics.HEAVY_REJECTED.inc()
        raise RateLimited(
            f"too many heavy requests (exports, reports, analytics) at once: at most "
            f"{self.per_user} in flight per user; try this {what} again in "
            f"{self.retry_after} s",
            retry_after=self.retry_after,
            limit=self.per_user,
        )

    def _give_back(self, key: str, token: str) -> None:
        try:
            self._redis.zrem(key, token)
        except self._errors as exc:  # the lease ends on its own
            logger.warning("could not give back a heavy-request slot (%s)", exc)

    def _release_local(self, user_id: str) -> None:
        with self._lock:
            count = self._counts.get(user_id, 0) - 1
            if count > 0:
                self._counts[user_id] = count
            else:
                self._counts.pop(user_id, None)

    def in_flight(self, user_id: str) -> int:
        """The user's slots taken (in Redis when it is the backend, else here)."""
        if self._redis is not None and not self._on_fallback():
            try:
                key = f"caliber:heavy:{user_id}"
                return int(self._redis.zcount(key, f"({time.time()}", "+inf"))
            except self._errors:
                pass
        with self._lock:
            return self._counts.get(user_id, 0)
