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
