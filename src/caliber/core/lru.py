"""A small thread-safe LRU of values computed once, for figures that never change within
a scoring run (keys carry the run's completion time, so a new run is a new key).

Each value is made once per process even when several threads ask for it at the same
time: the first makes it, the others wait for it (a 200k-row campaign's page index is
loaded once, not once per concurrent request). With ``weight``, the cache also keeps the
sum of its values' weights (rows, bytes) under ``max_weight``; a value heavier than that
alone is returned but not kept.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class RunCache(Generic[T]):
    def __init__(
        self,
        size: int,
        *,
        weight: Callable[[T], int] | None = None,
        max_weight: int | None = None,
    ) -> None:
        self._size = size
        self._weigh = weight
        self._max_weight = max_weight
        self._values: OrderedDict[Hashable, tuple[T, int]] = OrderedDict()
        self._total = 0
        self._making: dict[Hashable, threading.Lock] = {}
        self._lock = threading.Lock()

    def get_or_make(self, key: Hashable, make: Callable[[], T]) -> T:
        """The cached value of ``key``, else ``make()`` (outside the cache's lock; one
        maker per key at a time), kept."""
        with self._lock:
            found = self._hit(key)
            if found is not None:
                return found[0]
            maker = self._making.setdefault(key, threading.Lock())
        with maker:
            with self._lock:
                found = self._hit(key)
            if found is not None:
                return found[0]
            try:
                value = make()
                self._keep(key, value)
            finally:
                with self._lock:
                    self._making.pop(key, None)
        return value

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
            self._total = 0

    def __len__(self) -> int:
        return len(self._values)

    @property
    def total_weight(self) -> int:
        return self._total

    def _hit(self, key: Hashable) -> tuple[T] | None:
        if key not in self._values:
            return None
        self._values.move_to_end(key)
        return (self._values[key][0],)

    def _keep(self, key: Hashable, value: T) -> None:
        weight = self._weigh(value) if self._weigh is not None else 0
        if self._max_weight is not None and weight > self._max_weight:
            return
        with self._lock:
            old = self._values.pop(key, None)
            if old is not None:
                self._total -= old[1]
            self._values[key] = (value, weight)
            self._total += weight
            while len(self._values) > self._size or (
                self._max_weight is not None and self._total > self._max_weight
            ):
                _, (_, dropped) = self._values.popitem(last=False)
                self._total -= dropped
