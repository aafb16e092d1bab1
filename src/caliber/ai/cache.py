"""The insight cache: Redis when REDIS_URL is set, else in this process. A Redis that
stops answering is bypassed (a miss, logged), never an error for the user."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict
from typing import Any, Protocol

logger = logging.getLogger(__name__)

REDIS_TIMEOUT = 0.5  # seconds: a cache must never make a request slow


class Cache(Protocol):
    name: str

    def get(self, key: str) -> dict[str, Any] | None: ...

    def set(self, key: str, value: dict[str, Any], ttl: int) -> None: ...

    def delete_prefix(self, prefix: str) -> None: ...


class MemoryCache:
    """A bounded TTL cache for one process."""

    name = "memory"

    def __init__(self, max_entries: int = 2048) -> None:
        self._entries: OrderedDict[str, tuple[float, dict[str, Any]]] = OrderedDict()
        self._max = max_entries
        self._lock = threading.Lock()

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                return None
            expires, value = found
            if expires < time.monotonic():
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return value

    def set(self, key: str, value: dict[str, Any], ttl: int) -> None:
        with self._lock:
            self._entries[key] = (time.monotonic() + ttl, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)

    def delete_prefix(self, prefix: str) -> None:
        with self._lock:
            for key in [k for k in self._entries if k.startswith(prefix)]:
                del self._entries[key]


class RedisCache:
    """JSON values under ``caliber:`` keys with a TTL."""

    name = "redis"

    def __init__(self, url: str) -> None:
        import redis  # noqa: PLC0415

        self._redis = redis.Redis.from_url(
            url, socket_timeout=REDIS_TIMEOUT, socket_connect_timeout=REDIS_TIMEOUT
        )
        self._errors: tuple[type[Exception], ...] = (redis.RedisError, OSError)

    def _warn(self, action: str, exc: Exception) -> None:
        logger.warning("insight cache %s skipped: Redis unavailable (%s)", action, exc)

    def get(self, key: str) -> dict[str, Any] | None:
        try:
            raw = self._redis.get(f"caliber:{key}")
        except self._errors as exc:
            self._warn("read", exc)
            return None
        if raw is None:
            return None
        value: dict[str, Any] = json.loads(raw)
        return value

    def set(self, key: str, value: dict[str, Any], ttl: int) -> None:
        try:
            self._redis.set(f"caliber:{key}", json.dumps(value, default=str), ex=max(1, ttl))
        except self._errors as exc:
            self._warn("write", exc)

    def delete_prefix(self, prefix: str) -> None:
        try:
            keys = list(self._redis.scan_iter(match=f"caliber:{prefix}*", count=500))
            if keys:
                self._redis.delete(*keys)
        except self._errors as exc:
            self._warn("invalidation", exc)


def build_cache(redis_url: str | None) -> Cache:
    return RedisCache(redis_url) if redis_url else MemoryCache()
