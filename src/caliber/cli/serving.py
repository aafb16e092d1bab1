"""The serving commands: `caliber serve` (migrations, then the API, with its embedded
job worker when no broker is configured), `caliber worker` and `caliber beat`.

uvicorn, Celery and the app are imported inside the commands so ``--help`` starts fast.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from caliber.cli.output import fail
from caliber.cli.settings import load_settings

# the Celery queues (caliber.jobs.celery_app.QUEUES; kept here so --help stays fast)
QUEUES = ("scoring", "exports", "maintenance", "monitoring", "notifications")


def add_serve(commands: Any) -> None:
    """`caliber serve`."""
    serve_cmd = commands.add_parser(
        "serve",
        help="run the web service",
        description="Apply migrations, then serve the API. With no configuration it runs on "
        "one machine: SQLite and file storage under DATA_DIR, and a Celery worker it starts "
        "itself on a broker kept in files under DATA_DIR (no Redis needed).",
    )
    serve_cmd.add_argument("--host", default="127.0.0.1", help="address (default: 127.0.0.1)")
    serve_cmd.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    serve_cmd.add_argument(
        "--no-migrate", action="store_true", help="do not apply migrations first"
    )
    serve_cmd.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="API processes sharing the port (default: API_WORKERS, 1); about one per core",
    )
    serve_cmd.set_defaults(handler=_serve)


def add_worker(commands: Any) -> None:
    """`caliber worker`."""
    worker_cmd = commands.add_parser(
        "worker",
        help="run a Celery worker",
        description="Run a Celery worker for Caliber's background jobs, on REDIS_URL / "
        "CELERY_BROKER_URL (or, with neither, the embedded broker under DATA_DIR).",
    )
    worker_cmd.add_argument(
        "--queues",
        default=",".join(QUEUES),
        help=f"comma-separated queues (default: all: {','.join(QUEUES)})",
    )
    worker_cmd.add_argument("--concurrency", type=int, default=2, help="processes (default 2)")
    worker_cmd.add_argument("--loglevel", default="info", help="log level (default info)")
    worker_cmd.add_argument("--hostname", default=None, help="worker name (default: celery's)")
    worker_cmd.add_argument(
        "--pool",
        default=os.environ.get("CALIBER_WORKER_POOL") or None,
        help="execution pool: prefork (default), solo or threads; also CALIBER_WORKER_POOL",
    )
    worker_cmd.add_argument(
        "--beat", action="store_true", help="also run beat inside this worker (one per site)"
    )
    worker_cmd.add_argument(
        "--schedule-file", default=None, help="beat's state file with --beat (default: DATA_DIR)"
    )
    worker_cmd.add_argument(
        "--nice",
        type=int,
        default=0,
        metavar="N",
        help="run at CPU niceness N or more (0-19, default 0; `caliber serve` runs its "
        "embedded worker at 10 so scoring does not slow the API on a shared machine)",
    )
    worker_cmd.add_argument("--exit-with-parent", type=int, default=None, help=argparse.SUPPRESS)
    worker_cmd.set_defaults(handler=_worker)


def add_beat(commands: Any) -> None:
    """`caliber beat`."""
    beat_cmd = commands.add_parser(
        "beat",
        help="run Celery beat (the periodic tasks' clock)",
        description="Run Celery beat with Caliber's schedule (health checks, the watchdog).",
    )
    beat_cmd.add_argument("--loglevel", default="info", help="log level (default info)")
    beat_cmd.add_argument(
        "--schedule-file", default=None, help="where beat keeps its state (default: DATA_DIR)"
    )
    beat_cmd.set_defaults(handler=_beat)


def _serve(args: argparse.Namespace) -> None:
    import uvicorn

    from caliber.api.app import create_app
    from caliber.core.logging import configure_logging
    from caliber.db.migrate import upgrade

    settings = load_settings()
    workers = settings.API_WORKERS if args.workers is None else args.workers
    if not 1 <= workers <= 64:
        fail(f"--workers must be between 1 and 64, got {workers}")
    configure_logging(settings.LOG_LEVEL, json_lines=settings.json_logs)
    settings = _guard_dev_sign_in(settings, args.host, args.port)
    if not args.no_migrate:
        upgrade(settings.database_url)
    options: dict[str, Any] = {
        "host": args.host,
        "port": args.port,
        "log_level": settings.LOG_LEVEL.lower(),
        "access_log": False,  # Caliber logs each request itself (with its id and user)
        # httptools with a cap on header bytes and a header deadline (api/protocol.py);
        # idle keep-alive connections close after 5 s (uvicorn's default, said here)
        "http": "caliber.api.protocol:BoundedHttpToolsProtocol",
        "timeout_keep_alive": 5,
        # uvicorn's own lines go through Caliber's handler: JSON, or text that escapes
        # control characters like every other line
        "log_config": None,
    }
    worker = _embedded_worker(settings)
    if workers > 1:
        # uvicorn's supervisor starts the processes (each builds the app from the same
        # environment) and returns once they have stopped; the job worker is ours.
        # /metrics adds up the processes' values, kept in files of a folder they share
        from caliber.core.metrics import multiprocess_folder

        try:
            with multiprocess_folder():
                uvicorn.run("caliber.api.app:create_app", factory=True, workers=workers, **options)
        finally:
            if worker is not None:
                worker.stop()
        return
    # one process: uvicorn re-raises SIGINT/SIGTERM once it has shut down, so the worker
    # is stopped by the app's shutdown, not after run() returns
    stop = () if worker is None else (worker.stop,)
    try:
        app = create_app(settings, on_shutdown=stop)
    except BaseException:
        for hook in stop:
            hook()
        raise
    uvicorn.run(app, **options)


def _guard_dev_sign_in(settings: Any, host: str, port: int) -> Any:
    """Dev sign-in on a non-loopback address only when AUTH_DEV_MODE=true says so: the
    development default never serves the development user to other machines."""
    import logging

    from caliber.core.settings import is_loopback_host

    if not settings.dev_sign_in or is_loopback_host(host):
        return settings
    log = logging.getLogger("caliber.serve")
    if settings.AUTH_DEV_MODE:
        log.warning(
            "AUTH_DEV_MODE=true on %s:%d, not a loopback address: ANYONE who can reach this "
            "port acts as the development user without a token",
            host,
            port,
        )
        return settings
    log.warning(
        "dev sign-in is off: %s is not a loopback address (set AUTH_DEV_MODE=true to have "
        "it anyway, or serve on 127.0.0.1); requests need a token",
        host,
    )
    # the API processes of --workers build their settings from the environment
    os.environ["AUTH_DEV_MODE"] = "false"
    return settings.model_copy(update={"AUTH_DEV_MODE": False})


def _embedded_worker(settings: Any) -> Any:
    """With Celery and no broker configured, the worker `caliber serve` runs itself."""
    from caliber.jobs.broker import is_embedded

    if settings.JOB_RUNNER != "celery" or not is_embedded(settings):
        return None
    from caliber.worker.embedded import EmbeddedWorker, worker_command

    settings.DATA_DIR.mkdir(parents=True, exist_ok=True)
    schedule = (settings.DATA_DIR / "celerybeat-schedule").resolve()
    worker = EmbeddedWorker(worker_command(settings.JOB_WORKERS, schedule))
    worker.start()
    sys.stderr.write(
        f"caliber: background jobs run in an embedded Celery worker (pid {worker.pid}) "
        "on the file broker under DATA_DIR; set REDIS_URL to use separate workers\n"
    )
    return worker


def _celery_app() -> Any:
    from caliber.jobs.celery_app import app

    load_settings()  # a clear error for bad settings before Celery starts
    return app


def _worker(args: argparse.Namespace) -> None:
    app = _celery_app()
    queues = [q.strip() for q in args.queues.split(",") if q.strip()]
    unknown = sorted(set(queues) - set(QUEUES))
    if unknown or not queues:
        fail(f"unknown queue(s) {', '.join(unknown) or '(none)'}; known: {', '.join(QUEUES)}")
    if args.concurrency < 1:
        fail("--concurrency must be at least 1")
    if not 0 <= args.nice <= 19:
        fail(f"--nice must be between 0 and 19, got {args.nice}")
    if args.nice:
        from caliber.worker.embedded import lower_priority

        lower_priority(os.getpid(), args.nice)  # the pool's processes inherit it
    argv = [
        "worker",
        f"--queues={','.join(queues)}",
        f"--concurrency={args.concurrency}",
        f"--loglevel={args.loglevel}",
    ]
    if args.hostname:
        argv.append(f"--hostname={args.hostname}")
    if args.pool:
        argv.append(f"--pool={args.pool}")
    if args.beat:
        settings = load_settings()
        settings.DATA_DIR.mkdir(parents=True, exist_ok=True)
        schedule = args.schedule_file or str(settings.DATA_DIR / "celerybeat-schedule")
        argv += ["--beat", f"--schedule={schedule}"]
    if args.exit_with_parent:
        from caliber.worker.embedded import exit_with_parent

        exit_with_parent(args.exit_with_parent)
    app.worker_main(argv)


def _beat(args: argparse.Namespace) -> None:
    app = _celery_app()
    settings = load_settings()
    schedule = args.schedule_file or str(settings.DATA_DIR / "celerybeat-schedule")
    settings.DATA_DIR.mkdir(parents=True, exist_ok=True)
    app.start(["beat", f"--loglevel={args.loglevel}", f"--schedule={schedule}"])
