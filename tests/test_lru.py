"""The per-run cache: each value made once, the least recently used evicted."""

from __future__ import annotations

from caliber.core.lru import RunCache


def test_values_are_made_once_and_the_oldest_goes_first() -> None:
    made: list[str] = []
    cache: RunCache[str] = RunCache(2)

    def make(key: str) -> str:
        made.append(key)
        return key.upper()

    assert cache.get_or_make("a", lambda: make("a")) == "A"
    assert cache.get_or_make("a", lambda: make("a")) == "A"
    cache.get_or_make("b", lambda: make("b"))
    cache.get_or_make("a", lambda: make("a"))  # a is now the most recent
    cache.get_or_make("c", lambda: make("c"))  # evicts b
    cache.get_or_make("b", lambda: make("b"))
    assert made == ["a", "b", "c", "b"]


def test_concurrent_askers_share_one_making() -> None:
    import threading
    import time

    calls: list[int] = []
    cache: RunCache[int] = RunCache(4)

    def slow() -> int:
        calls.append(1)
        time.sleep(0.2)
        return 42

    got: list[int] = []
    threads = [
        threading.Thread(target=lambda: got.append(cache.get_or_make("k", slow))) for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert got == [42] * 8
    assert len(calls) == 1


def test_a_failed_making_is_not_kept_and_is_retried() -> None:
    cache: RunCache[int] = RunCache(4)

    def boom() -> int:
        raise RuntimeError("no database")

    try:
        cache.get_or_make("k", boom)
    except RuntimeError:
        pass
    else:  # pragma: no cover
        raise AssertionError("the error was swallowed")
    assert cache.get_or_make("k", lambda: 7) == 7


def test_weights_bound_the_cache_and_heavy_values_are_not_kept() -> None:
    cache: RunCache[str] = RunCache(100, weight=len, max_weight=10)
    cache.get_or_make("a", lambda: "aaaa")
    cache.get_or_make("b", lambda: "bbbb")
    assert cache.total_weight == 8
    cache.get_or_make("c", lambda: "cccc")  # 12 > 10: the oldest (a) goes
    assert len(cache) == 2
    assert cache.total_weight == 8
    assert cache.get_or_make("a", lambda: "made again") == "made again"
    huge = cache.get_or_make("h", lambda: "x" * 11)  # heavier than the budget alone
    assert huge == "x" * 11
    assert cache.get_or_make("h", lambda: "not kept") == "not kept"
    assert cache.total_weight <= 10
