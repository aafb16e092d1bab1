"""Heavy requests in flight per user (core.heavy): per process, and shared through Redis
by every API process."""

from __future__ import annotations

import os
import socket
import uuid
from contextlib import ExitStack

import pytest
import redis

from caliber.core.errors import RateLimited
from caliber.core.heavy import HeavyRequestLimiter

REDIS_URL = os.environ.get("CALIBER_TEST_REDIS_URL")
REQUIRED = os.environ.get("CALIBER_REQUIRE_SERVICES") == "1"


@pytest.fixture
def redis_url() -> str:
    if not REDIS_URL:
        if REQUIRED:
            pytest.fail("CALIBER_TEST_REDIS_URL is not set although services are required")
        pytest.skip("no Redis (set CALIBER_TEST_REDIS_URL; .ci/run does under CI=true)")
    return REDIS_URL


def _user() -> str:
    return uuid.uuid4().hex


def test_a_user_gets_their_slots_then_a_429_with_retry_after() -> None:
    limiter = HeavyRequestLimiter(2)
    alice, bob = _user(), _user()
    with ExitStack() as held:
        held.enter_context(limiter.slot(alice))
        held.enter_context(limiter.slot(alice))
        with pytest.raises(RateLimited) as refused, limiter.slot(alice):
            pass
        assert refused.value.retry_after == 5
        assert refused.value.details["limit"] == 2
        assert "at most 2 in flight" in refused.value.message
        with limiter.slot(bob):  # another user is not affected
            assert limiter.in_flight(bob) == 1
        assert limiter.in_flight(alice) == 2
    assert limiter.in_flight(alice) == 0
    with limiter.slot(alice):
        pass


def test_a_slot_is_given_back_when_the_request_fails() -> None:
    limiter = HeavyRequestLimiter(1)
    alice = _user()
    with pytest.raises(ValueError, match="boom"), limiter.slot(alice):
        raise ValueError("boom")
    with limiter.slot(alice):
        assert limiter.in_flight(alice) == 1


def test_redis_shares_the_slots_between_processes(redis_url: str) -> None:
    # two limiters on one Redis: two API processes (API_WORKERS=2) or two replicas
    first = HeavyRequestLimiter(2, redis_url)
    second = HeavyRequestLimiter(2, redis_url)
    assert first.backend == "redis"
    alice, bob = _user(), _user()
    with ExitStack() as held:
        held.enter_context(first.slot(alice))
        held.enter_context(second.slot(alice))
        for limiter in (first, second):
            with pytest.raises(RateLimited), limiter.slot(alice):
                pass
        with second.slot(bob):
            assert second.in_flight(bob) == 1
    with second.slot(alice), first.slot(alice):
        assert first.in_flight(alice) == 2


def test_slots_of_a_process_that_died_free_themselves(redis_url: str) -> None:
    limiter = HeavyRequestLimiter(1, redis_url)
    alice = _user()
    dead = limiter.slot(alice)
    dead.__enter__()  # a process killed in the middle of a request never gives it back
    with pytest.raises(RateLimited), limiter.slot(alice):
        pass
    # its lease runs out (moved into the past here instead of waiting an hour)
    client = redis.Redis.from_url(redis_url)
    key = f"caliber:heavy:{alice}"
    [token] = client.zrange(key, 0, -1)
    assert isinstance(token, bytes)
    client.zadd(key, {token: 0}, xx=True)
    with limiter.slot(alice):
        assert limiter.in_flight(alice) == 1


def test_without_redis_each_process_still_limits() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    limiter = HeavyRequestLimiter(1, f"redis://127.0.0.1:{port}/0")
    alice = _user()
    with limiter.slot(alice):
        assert limiter.backend == "memory (Redis unavailable)"
        with pytest.raises(RateLimited), limiter.slot(alice):
            pass
    with limiter.slot(alice):
        pass
