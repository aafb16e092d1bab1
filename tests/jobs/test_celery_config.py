"""The Celery configuration built from settings, and routing on a real (file) broker."""

from __future__ import annotations

from pathlib import Path

import pytest

from caliber.core.settings import Settings
from caliber.jobs import names
from caliber.jobs.broker import broker_url, is_embedded
from caliber.jobs.celery_app import QUEUES, TASK_ROUTES, beat_schedule, celery_config, client_app


def _settings(tmp_path: Path, **values: object) -> Settings:
    return Settings(_env_file=None, DATA_DIR=tmp_path / "data", **values)  # type: ignore[arg-type]


def test_redis_configuration_follows_the_settings(tmp_path: Path) -> None:
    settings = _settings(tmp_path, REDIS_URL="redis://cache.example:6380/2")
    config = celery_config(settings)
    assert config["broker_url"] == "redis://cache.example:6380/2"
    assert config["result_backend"] == "redis://cache.example:6380/2"
    assert (config["task_time_limit"], config["task_soft_time_limit"]) == (1800, 1500)
    assert config["broker_transport_options"]["visibility_timeout"] > config["task_time_limit"]
    assert config["task_acks_late"] is True
    assert config["task_reject_on_worker_lost"] is True
    assert config["worker_prefetch_multiplier"] == 1
    assert config["worker_max_tasks_per_child"] == 1000
    assert config["accept_content"] == ["json"]
    assert config["worker_enable_remote_control"] is True
    assert not is_embedded(settings)


def test_a_separate_broker_url_wins_over_redis(tmp_path: Path) -> None:
    settings = _settings(
        tmp_path, REDIS_URL="redis://cache.example/0", CELERY_BROKER_URL="redis://mq.example/1"
    )
    assert broker_url(settings) == "redis://mq.example/1"
    assert celery_config(settings)["result_backend"] == "redis://cache.example/0"


def test_every_queue_has_its_own_exchange_and_key_and_every_route_a_queue(
    tmp_path: Path,
) -> None:
    queues = celery_config(_settings(tmp_path))["task_queues"]
    assert [q.name for q in queues] == list(QUEUES)
    for queue in queues:
        assert queue.exchange.name == queue.name
        assert queue.routing_key == queue.name
    assert {route["queue"] for route in TASK_ROUTES.values()} <= set(QUEUES)


def test_beat_runs_the_original_schedule(tmp_path: Path) -> None:
    schedule = beat_schedule(_settings(tmp_path))
    every = {entry["task"]: entry["schedule"].total_seconds() for entry in schedule.values()}
    assert every[names.HEALTH_CHECK] == 300
    assert every[names.FAIL_STUCK_CAMPAIGNS] == 300
    assert every[names.CLEANUP_OLD_FILES] == 24 * 3600
    assert every[names.UPDATE_CAMPAIGN_STATISTICS] == 3600
    assert every[names.CLEANUP_OLD_EXPORTS] == 4 * 3600
    assert every[names.CLEANUP_OLD_RUNS] == 3600  # runs beyond RUN_RETENTION


def test_no_broker_means_the_embedded_file_broker(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    config = celery_config(settings)
    assert is_embedded(settings)
    assert config["broker_url"] == "filesystem://"
    assert config["result_backend"] is None
    assert config["worker_enable_remote_control"] is False
    options = config["broker_transport_options"]
    messages = Path(options["data_folder_in"])
    assert messages == Path(options["data_folder_out"])
    assert messages.is_dir()
    assert messages.is_relative_to((tmp_path / "data").resolve())


@pytest.mark.parametrize(
    ("task", "queue"),
    [(names.HEALTH_CHECK, "monitoring"), (names.SCORE_CAMPAIGN, "scoring")],
)
def test_a_task_reaches_exactly_its_own_queue(tmp_path: Path, task: str, queue: str) -> None:
    """With every queue declared (as a worker does), one send is one message, in the
    routed queue only."""
    settings = _settings(tmp_path)
    app = client_app(settings)
    with app.connection_for_write() as connection:
        channel = connection.default_channel
        for declared in app.amqp.queues.values():
            declared(channel).declare()
        app.send_task(task, kwargs={}, connection=connection)
    folder = Path(celery_config(settings)["broker_transport_options"]["data_folder_in"])
    files = [path.name for path in folder.iterdir()]
    assert len(files) == 1, files
    assert files[0].endswith(f".{queue}.msg")


def test_a_scoring_run_is_not_held_back_by_a_rate_limit() -> None:
    """Issue 19: the scoring task had rate_limit 60/m, a token bucket per worker that made
    a run wait up to a second after the previous run's start even on an idle worker (1-2 s
    of a 3-4 s drop-to-first-page in benchmarks/end_to_end.py). The worker's processes
    bound the runs in flight; no other limit applies to the task."""
    from caliber.worker.tasks import process_campaign_scoring

    assert process_campaign_scoring.rate_limit is None


def test_the_embedded_broker_is_polled_often_enough_for_a_run_to_start_at_once(
    tmp_path: Path,
) -> None:
    """Issue 19: the embedded worker looked for new tasks every 0.25 s, so a scoring run
    waited 0.13 s on average before its job began (0.25 s in the 1M-row end-to-end run, of
    a 1.84 s drop-to-first-page); polled every 0.1 s, about 0.05 s."""
    options = celery_config(_settings(tmp_path))["broker_transport_options"]
    assert options["polling_interval"] <= 0.1
