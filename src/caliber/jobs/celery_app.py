"""The Celery app. Configured from settings when first used (never at import), so the
broker URL, queues and limits always come from the environment or `.env`.

Run a worker with ``caliber worker`` and beat with ``caliber beat``; Flower, when
installed, with ``celery --app caliber.jobs.celery_app:app flower``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from celery import Celery
from kombu import Exchange, Queue

from caliber.core.settings import Settings, get_settings
from caliber.jobs import names
from caliber.jobs.broker import broker_url, embedded_folders, is_embedded

QUEUES: tuple[str, ...] = ("scoring", "exports", "maintenance", "monitoring", "notifications")


def time_limits(settings: Settings) -> tuple[int, int]:
    """(hard, soft) task time limits: 30 and 25 minutes by default."""
    hard = settings.CELERY_TASK_TIME_LIMIT
    return hard, hard * 5 // 6


def visibility_timeout(settings: Settings) -> int:
    """How long Redis waits before re-delivering an unacknowledged task: longer than any
    task may run, so a slow task is never run twice at once."""
    return settings.CELERY_VISIBILITY_TIMEOUT or settings.CELERY_TASK_TIME_LIMIT + 10 * 60


TASK_ROUTES: dict[str, dict[str, str]] = {
    names.SCORE_CAMPAIGN: {"queue": "scoring"},
    names.HEALTH_CHECK: {"queue": "monitoring"},
    names.FAIL_STUCK_CAMPAIGNS: {"queue": "maintenance"},
    names.VALIDATE_FILE: {"queue": "maintenance"},
    names.GENERATE_OPTIMIZATION_LISTS: {"queue": "exports"},
    names.CLEANUP_OLD_FILES: {"queue": "maintenance"},
    names.SEND_COMPLETION_NOTIFICATION: {"queue": "notifications"},
    names.UPDATE_CAMPAIGN_STATISTICS: {"queue": "maintenance"},
    names.GENERATE_EXPORT: {"queue": "exports"},
    names.CLEANUP_OLD_EXPORTS: {"queue": "maintenance"},
    names.CLEANUP_OLD_RUNS: {"queue": "maintenance"},
}


def beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    """As the original: health check every CELERY_MONITOR_INTERVAL (5 minutes by
    default), statistics hourly, old exports every 4 hours, unused uploads daily; plus
    the watchdog at the health check's pace and the runs beyond RUN_RETENTION hourly."""
    every = timedelta(seconds=settings.CELERY_MONITOR_INTERVAL)
    return {
        "health-check": {"task": names.HEALTH_CHECK, "schedule": every},
        "fail-stuck-campaigns": {"task": names.FAIL_STUCK_CAMPAIGNS, "schedule": every},
        "update-campaign-statistics": {
            "task": names.UPDATE_CAMPAIGN_STATISTICS,
            "schedule": timedelta(hours=1),
        },
        "cleanup-old-exports": {"task": names.CLEANUP_OLD_EXPORTS, "schedule": timedelta(hours=4)},
        "cleanup-old-files": {"task": names.CLEANUP_OLD_FILES, "schedule": timedelta(days=1)},
        "cleanup-old-runs": {"task": names.CLEANUP_OLD_RUNS, "schedule": timedelta(hours=1)},
    }


def _transport_options(settings: Settings) -> dict[str, Any]:
    if is_embedded(settings):
        folders = embedded_folders(settings)
        for folder in folders.values():
            folder.mkdir(parents=True, exist_ok=True)
        return {
            # one folder: producers write where consumers read
            "data_folder_in": str(folders["messages"]),
            "data_folder_out": str(folders["messages"]),
            "control_folder": str(folders["control"]),
            # how long a run waits for the worker to see it (half this on average): 0.25 s
            # was about a seventh of a 1M-row file's drop-to-first-page (issue 19); an
            # idle poll is a listing of one small folder per queue
            "polling_interval": 0.1,
        }
    # sweep for tasks of vanished workers every 10 s (kombu's default scans only every
    # 10th sweep, ~100 s): the scan is one cheap sorted-set query
    return {
        "visibility_timeout": visibility_timeout(settings),
        "unacked_restore_interval": 10,
        "unacked_restore_throttle": 1,
    }


def celery_config(settings: Settings) -> dict[str, Any]:
    """Every Celery setting, from Caliber's settings."""
    hard, soft = time_limits(settings)
    visibility = visibility_timeout(settings)
    embedded = is_embedded(settings)
    return {
        "broker_url": broker_url(settings),
        # progress and results live in the database; the backend only serves task states
        "result_backend": settings.REDIS_URL,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "timezone": "UTC",
        "enable_utc": True,
        "task_time_limit": hard,
        "task_soft_time_limit": soft,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "worker_max_tasks_per_child": 1000,
        "task_default_retry_delay": 60,
        "task_default_queue": "maintenance",
        # each queue on its own exchange and key: declared without, all five are bound to
        # the default queue's exchange with one key, so a message published by exchange
        # and key (not by queue name, as Celery's routes do) would reach every queue
        "task_queues": [
            Queue(name, Exchange(name, type="direct"), routing_key=name) for name in QUEUES
        ],
        "task_default_exchange": "maintenance",
        "task_default_routing_key": "maintenance",
        "task_routes": TASK_ROUTES,
        "broker_transport_options": _transport_options(settings),
        "result_backend_transport_options": {"visibility_timeout": visibility},
        # the embedded broker has one worker, started by `caliber serve`: no broadcasts
        "worker_enable_remote_control": not embedded,
        "result_expires": 24 * 3600,
        "broker_connection_retry_on_startup": True,
        "beat_schedule": beat_schedule(settings),
        "worker_hijack_root_logger": False,
    }


def client_app(settings: Settings) -> Celery:
    """A Celery app that only sends tasks, configured from ``settings`` (the API's)."""
    client = Celery("caliber", set_as_current=False)
    client.conf.update(celery_config(settings))
    client.conf.update(
        # a broker or result store that is down must answer the request quickly (503),
        # not after a minute of reconnection attempts
        result_backend_transport_options={
            **celery_config(settings)["result_backend_transport_options"],
            "retry_policy": {"max_retries": 1, "interval_start": 0, "interval_step": 0.5},
        },
        broker_connection_timeout=2,
        task_publish_retry_policy={
            "max_retries": 2,
            "interval_start": 0,
            "interval_step": 0.5,
            "interval_max": 1,
        },
    )
    return client


# The workers' app: configured from the environment when first used.
app = Celery("caliber", include=["caliber.worker.tasks"])


def _configure(sender: Celery, **_: Any) -> None:
    sender.conf.update(celery_config(get_settings()))


app.on_configure.connect(_configure)
