"""The analyst's rate limiter and insight cache, in process and on a real Redis."""

from __future__ import annotations

import os
import socket
import time
import uuid

import pytest

from caliber.ai.cache import MemoryCache, RedisCache
from caliber.ai.limiter import RateLimiter
from caliber.core.errors import RateLimited

REDIS_URL = os.environ.get("CALIBER_TEST_REDIS_URL")
REQUIRED = os.environ.get("CALIBER_REQUIRE_SERVICES") == "1"


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"redis://127.0.0.1:{port}/0"  # nothing listens there any more


@pytest.fixture
def redis_url() -> str:
    if not REDIS_URL:
        if REQUIRED:
            pytest.fail("CALIBER_TEST_REDIS_URL is not set although services are required")
        pytest.skip("no Redis (set CALIBER_TEST_REDIS_URL; .ci/run does under CI=true)")
    return REDIS_URL


def _user() -> str:
    return uuid.uuid4().hex


def test_the_minute_limit_counts_costs_and_says_when_to_retry() -> None:
    limiter = RateLimiter(per_minute=3, per_hour=100)
    user = _user()
    limiter.hit(user, cost=2)
    assert limiter.remaining(user) == 1
    with pytest.raises(RateLimited) as refused:
        limiter.hit(user, cost=2)
    assert 1 <= refused.value.retry_after <= 60
    limiter.hit(user)  # the refused request was not counted
    with pytest.raises(RateLimited):
        limiter.hit(user)
    limiter.hit(_user())  # another user has their own budget


def test_a_cost_above_the_limit_is_refused_outright() -> None:
    with pytest.raises(RateLimited, match="counts as 5 requests"):
        RateLimiter(per_minute=4, per_hour=100).hit(_user(), cost=5)


def test_redis_down_falls_back_to_limits_in_this_process() -> None:
    limiter = RateLimiter(per_minute=2, per_hour=100, redis_url=_closed_port_url())
    user = _user()
    started = time.monotonic()
    limiter.hit(user)
    assert limiter.backend == "memory (Redis unavailable)"
    limiter.hit(user)
    with pytest.raises(RateLimited):
        limiter.hit(user)
    assert time.monotonic() - started < 5  # short timeouts: a dead Redis does not stall


def test_limits_on_redis_are_shared_between_processes(redis_url: str) -> None:
    user = _user()
    first = RateLimiter(per_minute=3, per_hour=100, redis_url=redis_url)
    second = RateLimiter(per_minute=3, per_hour=100, redis_url=redis_url)
    first.hit(user, cost=2)
    second.hit(user)
    assert first.backend == "redis"
    with pytest.raises(RateLimited):
        second.hit(user)
    assert first.remaining(user) == 0


def test_memory_cache_expires_and_forgets_by_prefix() -> None:
    cache = MemoryCache(max_entries=3)
    cache.set("insight:a:1", {"v": 1}, ttl=60)
    cache.set("insight:a:2", {"v": 2}, ttl=60)
    cache.set("insight:b:1", {"v": 3}, ttl=0)
    assert cache.get("insight:a:1") == {"v": 1}
    assert cache.get("insight:b:1") is None  # expired
    cache.delete_prefix("insight:a:")
    assert cache.get("insight:a:2") is None
    for n in range(5):
        cache.set(f"k{n}", {"n": n}, ttl=60)
    assert cache.get("k0") is None  # bounded: the oldest went first
    assert cache.get("k4") == {"n": 4}


def test_redis_cache_round_trip_and_prefix_delete(redis_url: str) -> None:
    cache = RedisCache(redis_url)
    prefix = f"insight:{uuid.uuid4()}:"
    cache.set(prefix + "performance:x", {"insight_id": "1"}, ttl=60)
    cache.set(prefix + "optimization:y", {"insight_id": "2"}, ttl=60)
    assert cache.get(prefix + "performance:x") == {"insight_id": "1"}
    cache.delete_prefix(prefix)
    assert cache.get(prefix + "optimization:y") is None


def test_a_dead_redis_cache_is_a_miss_not_an_error() -> None:
    cache = RedisCache(_closed_port_url())
    cache.set("k", {"v": 1}, ttl=60)
    assert cache.get("k") is None
    cache.delete_prefix("k")
