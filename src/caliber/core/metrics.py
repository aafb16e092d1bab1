"""Prometheus metrics of this process (``GET /metrics``): requests, jobs, the analyst's
tokens, cache and rate limits. Names are prefixed ``caliber_``."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

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


def exposition() -> tuple[bytes, str]:
    """The metrics in the Prometheus text format, and its content type."""
    return generate_latest(), CONTENT_TYPE_LATEST
