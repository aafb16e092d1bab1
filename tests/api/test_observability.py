"""Structured logs with request and user ids, and the Prometheus metrics."""

from __future__ import annotations

import io
import json
import logging
import sys
import uuid
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from caliber.api.app import create_app
from caliber.api.container import Container
from caliber.core.logging import ContextFilter, JsonFormatter, TextFormatter, configure_logging
from caliber.core.settings import Settings
from tests.api.test_scoring import API, scored_campaign
from tests.engine.exports import make_export


def _samples(
    client: TestClient, **headers: str
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    found = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def _value(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def _capture(formatter: logging.Formatter) -> Iterator[io.StringIO]:
    """The access log through Caliber's filter and ``formatter``."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ContextFilter())
    handler.setFormatter(formatter)
    logger = logging.getLogger("caliber.access")
    logger.addHandler(handler)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """The access log as JSON lines."""
    yield from _capture(JsonFormatter())


@pytest.fixture
def text_log() -> Iterator[io.StringIO]:
    """The access log as text lines (LOG_FORMAT=text)."""
    yield from _capture(TextFormatter())


def test_requests_are_counted_by_route_template(
    client: TestClient, auth: Callable[[str], dict[str, str]]
) -> None:
    alice = auth("metrics-alice")
    route = "/api/v1/campaigns/{campaign_id}"
    before = _value(
        _samples(client), "caliber_http_requests_total", method="GET", route=route, status="404"
    )
    for _ in range(3):
        missing = client.get(f"{API}/campaigns/{uuid.uuid4()}", headers=alice)
        assert missing.status_code == 404
    samples = _samples(client)
    assert (
        _value(samples, "caliber_http_requests_total", method="GET", route=route, status="404")
        == before + 3
    )
    assert (
        _value(samples, "caliber_http_request_duration_seconds_count", method="GET", route=route)
        >= 3
    )
    # unknown paths share one label instead of one per URL
    client.get("/no/such/path")
    assert (
        _value(
            _samples(client),
            "caliber_http_requests_total",
            method="GET",
            route="unmatched",
            status="404",
        )
        >= 1
    )


def test_metrics_can_be_protected_or_turned_off(settings: Settings) -> None:
    protected = settings.model_copy(update={"METRICS_TOKEN": "s3cret-metrics"})
    with TestClient(create_app(protected, Container.build(protected))) as client:
        refused = client.get("/metrics")
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"] == "Bearer"
        assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert (
            client.get("/metrics", headers={"Authorization": "Bearer s3cret-metrics"}).status_code
            == 200
        )
    off = settings.model_copy(update={"METRICS_ENABLED": False})
    with TestClient(create_app(off, Container.build(off))) as client:
        assert client.get("/metrics").status_code == 404


def test_ai_tokens_cache_and_rate_limits_are_measured(
    client: TestClient, container: Container, auth: Callable[[str], dict[str, str]]
) -> None:
    alice = auth("metrics-ai")
    campaign_id = scored_campaign(
        client, container, alice, make_export("trade_desk", "display", seed=81).encode()
    )
    before = _samples(client)
    body = {"campaign_id": campaign_id, "insight_type": "performance"}
    for _ in range(2):
        assert (
            client.post(f"{API}/ai/insights/generate", json=body, headers=alice).status_code == 200
        )
    after = _samples(client)
    for result in ("hit", "miss"):
        assert (
            _value(after, "caliber_ai_cache_requests_total", result=result)
            == _value(before, "caliber_ai_cache_requests_total", result=result) + 1
        )
    assert (
        _value(after, "caliber_ai_calls_total", provider="offline", outcome="ok")
        == _value(before, "caliber_ai_calls_total", provider="offline", outcome="ok") + 1
    )
    assert ("caliber_llm_tokens_total", (("kind", "prompt"), ("provider", "offline"))) in after
    assert _value(after, "caliber_jobs_enqueued_total", job="process_campaign_scoring") >= 1

    from caliber.ai.service import Analyst

    container.ai = Analyst(container.settings.model_copy(update={"MAX_REQUESTS_PER_MINUTE": 1}))
    client.post(f"{API}/ai/chat", json={"message": "hi"}, headers=alice)
    assert client.post(f"{API}/ai/chat", json={"message": "hi"}, headers=alice).status_code == 429
    assert (
        _value(_samples(client), "caliber_rate_limit_rejections_total")
        >= _value(after, "caliber_rate_limit_rejections_total") + 1
    )


def test_access_log_lines_carry_ids_but_never_the_token(
    client: TestClient, auth: Callable[[str], dict[str, str]], json_log: io.StringIO
) -> None:
    alice = auth("log-alice")
    token = alice["Authorization"].removeprefix("Bearer ")
    profile = client.get(f"{API}/auth/profile", headers={**alice, "X-Request-ID": "req42abc"})
    assert profile.status_code == 200
    user_id = profile.json()["data"]["id"]
    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    entry = next(line for line in lines if line.get("request_id") == "req42abc")
    assert entry["user_id"] == user_id
    assert entry["route"] == "/api/v1/auth/profile"
    assert entry["status"] == 200
    assert entry["duration_ms"] >= 0
    assert entry["logger"] == "caliber.access"
    assert token not in json_log.getvalue()
    anonymous = client.get(f"{API}/campaigns", headers={"X-Request-ID": "anon1"})
    assert anonymous.status_code == 401
    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    assert "user_id" not in next(line for line in lines if line.get("request_id") == "anon1")


def test_json_lines_in_production_text_elsewhere() -> None:
    assert Settings(_env_file=None, LOG_FORMAT="auto").json_logs is False
    assert Settings(_env_file=None, LOG_FORMAT="json").json_logs is True
    record = logging.LogRecord("caliber.test", logging.ERROR, __file__, 1, "boom %s", ("x",), None)
    ContextFilter().filter(record)
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "boom x"
    assert line["level"] == "ERROR"
    assert "request_id" not in line  # no request: no id field


FORGED = "2030-01-01 00:00:00,000 INFO [forged - -] caliber.access: GET /admin 200 1.0 ms"


def test_a_path_with_encoded_newlines_leaves_one_text_log_line(
    client: TestClient, text_log: io.StringIO
) -> None:
    """CR LF (and the other line breaks) decoded from the path cannot start a forged line."""
    breaks = "%0d%0a", "%0a", "%0d", "%e2%80%a8", "%e2%80%a9", "%c2%85", "%0b", "%1b%5b2K"
    for separator in breaks:
        path = f"/nothing-here{separator}{FORGED.replace(' ', '%20')}"
        client.get(path, headers={"X-Request-ID": "forge1"})
        lines = text_log.getvalue().splitlines()
        assert len(lines) == 1, (separator, lines)
        assert " caliber.access: GET /nothing-here" in lines[0]
        assert "[forge1 - -]" in lines[0]
        assert FORGED in lines[0]  # still there, escaped, on the request's own line
        text_log.seek(0)
        text_log.truncate()


def test_a_path_with_line_separators_stays_one_json_line(
    client: TestClient, json_log: io.StringIO
) -> None:
    client.get("/nothing%e2%80%a8here%c2%85now%0d%0aok", headers={"X-Request-ID": "json1"})
    [line] = json_log.getvalue().splitlines()
    assert "\u2028" not in line
    assert "\x85" not in line
    assert json.loads(line)["message"].startswith("GET /nothing\u2028here\x85now\r\nok 404")


def test_text_lines_escape_every_field_and_indent_tracebacks() -> None:
    """Message, arguments and fields are escaped; a traceback's own lines are indented,
    including an exception message that carries a forged line."""
    record = logging.LogRecord(
        "caliber.files\nx",
        logging.WARNING,
        __file__,
        1,
        "upload %s by %s",
        (
            "evil.csv\r\n" + FORGED,
            "campaign\u2028name",
        ),
        None,
    )
    record.request_id, record.user_id, record.task_id = "r\n1", "-", "t\x1b"
    line = TextFormatter().format(record)
    assert line.splitlines() == [line]
    assert "evil.csv\\r\\n2030-01-01" in line
    assert "campaign\\u2028name" in line
    assert "[r\\n1 - t\\x1b] caliber.files\\nx:" in line
    try:
        raise ValueError("bad file\n" + FORGED)
    except ValueError:
        failure = logging.LogRecord(
            "caliber.jobs", logging.ERROR, __file__, 1, "run failed", (), sys.exc_info()
        )
    ContextFilter().filter(failure)
    first, *rest = TextFormatter().format(failure).splitlines()
    assert first.endswith("caliber.jobs: run failed")
    assert rest
    assert all(part.startswith("  ") for part in rest)
    assert "  " + FORGED in rest


def test_configure_logging_writes_text_through_the_escaping_formatter(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])
    monkeypatch.setattr(root, "level", root.level)
    configure_logging("INFO", json_lines=False)
    [handler] = root.handlers
    assert isinstance(handler.formatter, TextFormatter)
