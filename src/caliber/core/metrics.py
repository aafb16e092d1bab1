"""Prometheus metrics (``GET /metrics``): requests, jobs, the analyst's tokens, cache and
rate limits. Names are prefixed ``caliber_``.

One API process serves the metrics it counted itself. ``caliber serve --workers N``
runs N processes on one port, and a scrape reaches any one of them, so it switches
prometheus-client to its multiprocess mode: it sets ``PROMETHEUS_MULTIPROC_DIR`` (a fresh
folder, :func:`multiprocess_folder`) before starting them, each process writes its values
to files there, and ``/metrics`` adds up every process's files (:func:`exposition`):
counters and histograms of processes that have stopped included, gauges of live
processes only (each gauge declares how its processes' values combine).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"

HTTP_REQUESTS = Counter(
    "caliber_http_requests_total", "HTTP requests answered", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "caliber_http_request_duration_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
JOBS_ENQUEUED = Counter("caliber_jobs_enqueued_total", "background jobs sent", ["job"])
JOBS_FAILED_TO_ENQUEUE = Counter(
    "caliber_jobs_enqueue_failures_total", "jobs the queue refused (answered 503)", ["job"]
)
JOB_RUNS = Counter(
    "caliber_job_runs_total", "background jobs run in this process", ["job", "outcome"]
)
LLM_TOKENS = Counter(
    "caliber_llm_tokens_total", "tokens used by the AI provider", ["provider", "kind"]
)
AI_CALLS = Counter("caliber_ai_calls_total", "AI provider calls", ["provider", "outcome"])
AI_CACHE = Counter("caliber_ai_cache_requests_total", "insight cache lookups", ["result"])
RATE_LIMITED = Counter(
    "caliber_rate_limit_rejections_total", "AI requests refused by the rate limits"
)
HEAVY_REJECTED = Counter(
    "caliber_heavy_request_rejections_total",
    "exports, reports and analyses refused: the user had HEAVY_REQUESTS_PER_USER in flight",
)
HEAVY_IN_FLIGHT = Gauge(
    "caliber_heavy_requests_in_flight",
    "exports, reports and analyses being answered",
    multiprocess_mode="livesum",
)


API_PROCESSES = Gauge(
    "caliber_api_processes",
    "API processes serving (each counts 1 from its start to its stop)",
    multiprocess_mode="livesum",
)


def exposition() -> tuple[bytes, str]:
    """The metrics in the Prometheus text format, and its content type: this process's,
    or in multiprocess mode every process's added up."""
    folder = os.environ.get(MULTIPROCESS_ENV)
    if not folder:
        return generate_latest(), CONTENT_TYPE_LATEST
    _forget_dead_processes(folder)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=folder)  # type: ignore[no-untyped-call]
    return generate_latest(registry), CONTENT_TYPE_LATEST


def process_started() -> None:
    """The API process serves (counted by ``caliber_api_processes``)."""
    API_PROCESSES.set(1)


def process_stopping() -> None:
    """The API process stops: its live gauges leave the sums (its counters stay)."""
    API_PROCESSES.set(0)
    folder = os.environ.get(MULTIPROCESS_ENV)
    if folder:
        multiprocess.mark_process_dead(os.getpid(), folder)  # type: ignore[no-untyped-call]


_LIVE_GAUGE_FILE = re.compile(r"gauge_live\w*?_(\d+)\.db")


def _forget_dead_processes(folder: str) -> None:
    """Drop the live gauges of processes that died without stopping (a SIGKILL, an
    out-of-memory kill): no process of theirs would ever take them out of the sums."""
    dead = set()
    for path in Path(folder).glob("gauge_live*.db"):
        found = _LIVE_GAUGE_FILE.fullmatch(path.name)
        if found and not _alive(int(found.group(1))):
            dead.add(int(found.group(1)))
    for pid in dead:
        multiprocess.mark_process_dead(pid, folder)  # type: ignore[no-untyped-call]


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie, dead but not yet reaped, does not)."""
    proc = Path("/proc")
    if proc.is_dir():
        try:
            stat = (proc / str(pid) / "stat").read_text()
        except OSError:
            return False
        return stat.rpartition(")")[2].split()[:1] not in (["Z"], ["X"])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def multiprocess_folder() -> Iterator[Path]:
    """``PROMETHEUS_MULTIPROC_DIR`` for the API processes started inside the block (they
    inherit the environment and must have it before they import prometheus-client): the
    folder already named there, emptied of an earlier run's files, or a fresh temporary
    folder, removed afterwards."""
    named = os.environ.get(MULTIPROCESS_ENV)
    if named:
        folder = Path(named)
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("*.db"):
            old.unlink()
        yield folder
        return
    folder = Path(tempfile.mkdtemp(prefix="caliber-metrics-"))
    os.environ[MULTIPROCESS_ENV] = str(folder)
    try:
        yield folder
    finally:
        os.environ.pop(MULTIPROCESS_ENV, None)
        shutil.rmtree(folder, ignore_errors=True)
