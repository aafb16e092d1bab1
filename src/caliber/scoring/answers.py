"""What the results routes answer, encoded once per run: the encoded body with the run it
comes from, and the per-process caches of a run's encoded pages, counts and lists.

A run's rows never change (a new run has a new run id, and every key carries it), so
what is computed from them is kept per run, query and process: the result pages of
:mod:`caliber.scoring.results` and the lists of :mod:`caliber.scoring.lists`. The run's
marker is not cached with them: a run's pages stay the same when a later run starts or
fails, whether they are ``stale`` does not.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import orjson

from caliber.core.lru import RunCache
from caliber.scoring import pages
from caliber.scoring.runs import ResultsRun


@dataclass(frozen=True)
class Answer:
    """A response body (the envelope, encoded) and the run its results come from."""

    body: bytes
    run: ResultsRun


def with_run(cached: bytes, run: ResultsRun) -> Answer:
    """The cached envelope with its ``run`` (which is not cached with it: a run's pages
    stay the same when a later run starts or fails, its marker does not)."""
    return Answer(cached[:-1] + b',"run":' + dumps(run.to_dict()) + b"}", run)


def dumps(value: Any) -> bytes:
    """orjson; the standard library for what orjson cannot write (integers beyond 64
    bits, which Caliber itself never stores)."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value, separators=(",", ":")).encode()


# encoded pages (~75 KB for 50 rows): at most 64 MB per process
page_bodies: RunCache[bytes] = RunCache(4096, weight=len, max_weight=64 * 2**20)
# encoded lists (a 200k-row campaign's list is ~7 MB)
list_bodies: RunCache[bytes] = RunCache(64, weight=len, max_weight=128 * 2**20)
# Results never change within a run, so lists are kept per run (keyed by the run's id)
# in a small per-process cache.
run_values: RunCache[Any] = RunCache(256)


def clear_read_caches() -> None:
    """Forget every cached page, count and list of this process (tests; a new run never
    needs it: its keys are new)."""
    for cache in (page_bodies, list_bodies, run_values):
        cache.clear()
    pages.index().clear()


def whole(value: float) -> int | float:
    """A count as the engine shows it: an integer when it is a whole number."""
    return int(value) if float(value).is_integer() else value
