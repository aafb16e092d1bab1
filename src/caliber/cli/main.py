"""The ``caliber`` command line: score a file, list setups, generate sample exports.

Built on argparse rather than Typer: Typer's import and argument parsing cost about
0.2 s per run (measured on the 1M-row benchmark), a fifth of a whole `caliber score`.
Bad input exits with status 2 and one line on stderr; heavy libraries are imported
inside the commands so ``caliber --help`` starts fast.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from rich.console import Console

    from caliber.engine.config import Setup
    from caliber.engine.pipeline import ScoringResult

EXIT_BAD_INPUT = 2
_PROGRESS_MIN_BYTES = 5 * 1024 * 1024
_TOP = 5
PLATFORMS = ("trade_desk", "pulsepoint")
# the Celery queues (caliber.jobs.celery_app.QUEUES; kept here so --help stays fast)
QUEUES = ("scoring", "exports", "maintenance", "monitoring", "notifications")
GOALS = ("awareness", "action")
CHANNELS = ("display", "ctv", "video", "audio")


class CliInputError(Exception):
    """A user error to report on one line."""


def fail(message: str) -> NoReturn:
    """A user error: one line on stderr and exit status 2."""
    raise CliInputError(message)


_fail = fail


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit status 2 via CliInputError."""

    def error(self, message: str) -> NoReturn:
        raise CliInputError(f"{message} (see '{self.prog} --help')")


def add_setup_arguments(command: argparse.ArgumentParser) -> None:
    """FILE and the scoring setup: shared by score, explain, outliers and weights."""
    command.add_argument("file", type=Path, help="CSV, TSV or Excel (.xlsx, .xls) export")
    command.add_argument("-p", "--platform", required=True, help=" | ".join(PLATFORMS))
    command.add_argument("-g", "--goal", required=True, help=" | ".join(GOALS))
    command.add_argument("-c", "--channel", required=True, help=" | ".join(CHANNELS))
    command.add_argument(
        "--ctr-sensitivity", action="store_true", help="weight CTR more (Trade Desk display)"
    )
    command.add_argument(
        "--min-impressions",
        type=float,
        default=250.0,
        help="volume filter and list eligibility (default: 250)",
    )
    command.add_argument(
        "--weights",
        help="custom weights as JSON, e.g. '{\"ctr\": 0.5, ...}', or @file.json",
    )


def score_file(args: argparse.Namespace) -> ScoringResult:
    """Score args.file with the setup options (no progress bar, no output files)."""
    with _no_gc():
        from caliber.engine.pipeline import score as run

    setup = _setup(args)
    _check_input(args.file)
    return run(args.file, setup)


def _setup(args: argparse.Namespace) -> Setup:
    """The engine setup of the options :func:`add_setup_arguments` adds."""
    with _no_gc():  # importing polars allocates a lot and triggers needless GC passes
        from caliber.engine.config import Setup

    return Setup.create(
        args.platform,
        args.goal,
        args.channel,
        ctr_sensitivity=args.ctr_sensitivity,
        min_impressions=args.min_impressions,
        weights=_parse_weights(args.weights),
    )


def build_parser() -> argparse.ArgumentParser:
    """The ``caliber`` parser with its subcommands."""
    parser = _Parser(
        prog="caliber",
        description="Score programmatic ad inventory from Trade Desk and PulsePoint exports.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    score_cmd = commands.add_parser(
        "score",
        help="score a file and write results, lists and a summary",
        description="Score FILE and write results.csv, whitelist.csv, blacklist.csv and "
        "summary.json into --out.",
    )
    add_setup_arguments(score_cmd)
    score_cmd.add_argument(
        "-o", "--out", type=Path, default=Path("caliber-out"), help="output directory"
    )
    score_cmd.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")
    score_cmd.set_defaults(handler=_score)

    from caliber.cli_analytics import add_commands

    add_commands(commands)

    configs_cmd = commands.add_parser(
        "configs",
        help="list every scoring setup",
        description="List every scoring setup: metrics, weights, directions, analysis level, "
        "accepted headers and defaults.",
    )
    configs_cmd.add_argument("--json", action="store_true", help="machine-readable JSON")
    configs_cmd.set_defaults(handler=_configs)

    sample_cmd = commands.add_parser(
        "sample",
        help="write a realistic sample export",
        description="Write a realistic export with the platform's real headers and quirks.",
    )
    sample_cmd.add_argument("-p", "--platform", required=True, help=" | ".join(PLATFORMS))
    sample_cmd.add_argument("-c", "--channel", required=True, help=" | ".join(CHANNELS))
    sample_cmd.add_argument("-o", "--out", type=Path, required=True, help="CSV file to write")
    sample_cmd.add_argument(
        "-n", "--rows", type=int, default=2000, help="data rows (default: 2000)"
    )
    sample_cmd.add_argument("--seed", type=int, default=7, help="random seed (default: 7)")
    sample_cmd.set_defaults(handler=_sample)

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

    db_cmd = commands.add_parser("db", help="database migrations")
    db_commands = db_cmd.add_subparsers(dest="db_command", metavar="ACTION", parser_class=_Parser)
    upgrade_cmd = db_commands.add_parser("upgrade", help="apply migrations (default: to head)")
    upgrade_cmd.add_argument("revision", nargs="?", default="head")
    upgrade_cmd.set_defaults(handler=_db_upgrade)
    check_cmd = db_commands.add_parser(
        "check", help="exit 1 if the database schema differs from the models"
    )
    check_cmd.set_defaults(handler=_db_check)
    return parser


def _score(args: argparse.Namespace) -> None:
    with _no_gc():  # importing polars allocates a lot and triggers needless GC passes
        from caliber.engine.pipeline import score as run

    file: Path = args.file
    setup = _setup(args)
    size = _check_input(file)
    show_progress = sys.stderr.isatty() and size >= _PROGRESS_MIN_BYTES and not args.quiet
    result: ScoringResult
    if show_progress:
        result = _run_with_progress(lambda progress: run(file, setup, progress=progress))
    else:
        result = run(file, setup)
    written = _write_outputs(result, args.out)
    if not args.quiet:
        print_summary(_summary(result, file, written))


@contextlib.contextmanager
def _no_gc() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _check_input(file: Path) -> int:
    """The file's size; a clear error when it is missing, a directory or unreadable."""
    if not file.exists():
        _fail(f"no such file: {file}")
    if file.is_dir():
        _fail(f"{file} is a directory, not a file")
    if not os.access(file, os.R_OK):
        _fail(f"cannot read {file}: permission denied")
    return file.stat().st_size


def _parse_weights(raw: str | None) -> dict[str, float] | None:
    if raw is None:
        return None
    text = raw
    if raw.startswith("@"):
        path = Path(raw[1:])
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            _fail(f"cannot read weights file {path}: {exc.strerror or exc}")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        _fail(f"--weights is not valid JSON: {exc.msg} at position {exc.pos}")
    if not isinstance(value, dict) or not value:
        _fail('--weights must be a JSON object of metric names to numbers, e.g. {"ctr": 1}')
    return value


def _run_with_progress(
    job: Callable[[Callable[[str, float], None]], ScoringResult],
) -> ScoringResult:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=_console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task("reading", total=1.0)

        def update(step: str, fraction: float) -> None:
            bar.update(task, description=step, completed=fraction)

        result: ScoringResult = job(update)
    return result


def _write_outputs(result: ScoringResult, out: Path) -> list[Path]:
    import polars as pl

    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        _fail(f"cannot create output directory {out}: {exc.strerror or exc}")
    flat = result.results.with_columns(pl.col("outlier_flags").list.join(";"))
    dim = result.dimension
    list_columns = [dim, "score", "impressions", "percentile_rank", "quality_status"]
    files = {
        "results.csv": flat,
        "whitelist.csv": result.lists.whitelist.select(list_columns),
        "blacklist.csv": result.lists.blacklist.select(list_columns),
    }
    written: list[Path] = []
    try:
        for name, frame in files.items():
            path = out / name
            frame.write_csv(path)
            written.append(path)
        summary_path = out / "summary.json"
        summary_path.write_text(
            json.dumps(result.summary(), indent=2, default=_json_default) + "\n", encoding="utf-8"
        )
        written.append(summary_path)
    except OSError as exc:
        _fail(f"cannot write into {out}: {exc.strerror or exc}")
    return written


def _json_default(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _console(*, stderr: bool) -> Console:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


Summary = tuple[str, list[tuple[str, str]], list[tuple[str, list[list[str]]]], list[str]]


def _summary(result: ScoringResult, file: Path, written: list[Path]) -> Summary:
    """Title, key facts, the top and bottom tables and closing lines, as plain strings."""
    campaign = result.campaign
    report = result.report
    setup = result.setup
    title = (
        f"{file.name}: {setup.platform} / {setup.goal} / {setup.channel}"
        f"{' (CTR-sensitive)' if setup.ctr_sensitivity else ''}, scored by {result.dimension}"
    )
    dropped = ", ".join(f"{k.replace('_', ' ')}: {n:,}" for k, n in report.rows_dropped.items())
    dist = campaign["score_distribution"]
    counts = campaign["status_counts"]
    facts = [
        ("rows read", f"{report.rows_read:,}"),
        (
            "rows dropped",
            f"{sum(report.rows_dropped.values()):,}" + (f" ({dropped})" if dropped else ""),
        ),
        (f"{result.dimension.replace('_', ' ')}s", f"{report.rows_aggregated:,}"),
        (f"below {report.filter_threshold:,.0f} impressions", f"{report.rows_filtered:,}"),
        ("scored", f"{report.rows_scored:,}"),
        ("campaign score", f"{campaign['campaign_level_score']}"),
        ("score min / median / max", f"{dist['min']} / {dist['median']} / {dist['max']}"),
        ("good / moderate / poor", f"{counts['good']} / {counts['moderate']} / {counts['poor']}"),
        (
            "whitelist / blacklist",
            f"{result.lists.whitelist.height} / {result.lists.blacklist.height}",
        ),
    ]
    header = [result.dimension, "score", "impressions", "status"]
    tables = [
        (
            title_,
            [header]
            + [
                [
                    str(row[result.dimension]),
                    f"{row['score']:.2f}",
                    f"{row['impressions']:,.0f}",
                    str(row["quality_status"]),
                ]
                for row in rows[:_TOP]
            ],
        )
        for title_, rows in (
            ("Top 5", campaign["top_performers"]),
            ("Bottom 5", campaign["bottom_performers"]),
        )
    ]
    closing = [f"warning: {w.message}" for w in report.warnings]
    closing.append(f"wrote {', '.join(str(p) for p in written)}")
    return title, facts, tables, closing


def print_summary(summary: Summary, left: tuple[int, ...] = (0, 3)) -> None:
    """Rich tables on a terminal; plain aligned text when piped (and no rich import);
    columns in ``left`` are left-aligned, the others right-aligned."""
    if sys.stdout.isatty():
        _print_rich(summary, left)
        return
    title, facts, tables, closing = summary
    lines = [title]
    width = max(len(k) for k, _ in facts)
    lines += [f"  {k.ljust(width)}  {v}" for k, v in facts]
    for name, rows in tables:
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines.append(f"{name}:")
        for row in rows:
            cells = [
                cell.ljust(w) if i in left else cell.rjust(w)
                for i, (cell, w) in enumerate(zip(row, widths, strict=True))
            ]
            lines.append("  " + "  ".join(cells).rstrip())
    lines += closing
    sys.stdout.write("\n".join(lines) + "\n")


def _print_rich(summary: Summary, left: tuple[int, ...]) -> None:
    from rich.markup import escape
    from rich.table import Table

    title, facts, tables, closing = summary
    console = _console(stderr=False)
    console.print(f"[bold]{escape(title)}[/bold]")
    grid = Table(show_header=False, box=None, pad_edge=False)
    grid.add_column(style="dim")
    grid.add_column(justify="right")
    for key, value in facts:
        grid.add_row(escape(key), escape(value))
    console.print(grid)
    for name, rows in tables:
        table = Table(title=name, title_justify="left")
        for i, column in enumerate(rows[0]):
            table.add_column(column, justify="left" if i in left else "right")
        for row in rows[1:]:
            table.add_row(*(escape(cell) for cell in row))
        console.print(table)
    for line in closing:
        style = "yellow" if line.startswith("warning:") else "default"
        console.print(escape(line), style=style)


def _configs(args: argparse.Namespace) -> None:
    from caliber.engine.columns import INPUT_COLUMNS
    from caliber.engine.config import describe_setups

    setups = describe_setups()
    if args.json:
        payload = {
            "setups": setups,
            "input_columns": {
                c.name: {"kind": str(c.kind), "headers": list(c.aliases)} for c in INPUT_COLUMNS
            },
        }
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
        return
    from rich.table import Table

    console = _console(stderr=False)
    for setup in setups:
        sensitivity = " + CTR sensitivity" if setup["ctr_sensitivity"] is True else ""
        table = Table(
            title=(
                f"{setup['platform']} / {setup['goal']} / {setup['channel']}{sensitivity}"
                f"  (by {setup['analysis_level']})"
            ),
            title_justify="left",
        )
        table.add_column("metric")
        table.add_column("weight", justify="right")
        table.add_column("direction")
        table.add_column("from")
        for metric in setup["metrics"]:
            sources = []
            if metric["from_counts"]:
                sources.append(
                    f"{metric['from_counts']['numerator'][0]} / "
                    f"{metric['from_counts']['denominator'][0]}"
                )
            sources += [headers[0] for headers in metric["from_rate_columns"]]
            table.add_row(
                metric["name"],
                f"{metric['weight']:.2f}",
                "higher is better"
                if metric["direction"] == "higher_is_better"
                else "lower is better",
                " or ".join(sources),
            )
        console.print(table)
    console.print(
        "Defaults: min_impressions 250; lists at score quantiles 0.75 / 0.25; "
        "pulsepoint also needs 0.05% of total impressions. `--json` for every header."
    )


def _sample(args: argparse.Namespace) -> None:
    from caliber.sample import SampleError, write_sample

    try:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        written = write_sample(
            args.out, args.platform, args.channel, rows=args.rows, seed=args.seed
        )
    except SampleError as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"cannot write {args.out}: {exc.strerror or exc}")
    sys.stderr.write(f"wrote {written:,} rows to {args.out}\n")


def _load_settings() -> Any:
    from pydantic import ValidationError

    from caliber.core.settings import get_settings

    try:
        return get_settings()
    except ValidationError as exc:
        problems = "; ".join(str(e.get("msg", "")) for e in exc.errors())
        _fail(f"invalid settings: {problems}")


def _serve(args: argparse.Namespace) -> None:
    import uvicorn

    from caliber.api.app import create_app
    from caliber.core.logging import configure_logging
    from caliber.db.migrate import upgrade

    settings = _load_settings()
    workers = settings.API_WORKERS if args.workers is None else args.workers
    if not 1 <= workers <= 64:
        _fail(f"--workers must be between 1 and 64, got {workers}")
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

    _load_settings()  # a clear error for bad settings before Celery starts
    return app


def _worker(args: argparse.Namespace) -> None:
    app = _celery_app()
    queues = [q.strip() for q in args.queues.split(",") if q.strip()]
    unknown = sorted(set(queues) - set(QUEUES))
    if unknown or not queues:
        _fail(f"unknown queue(s) {', '.join(unknown) or '(none)'}; known: {', '.join(QUEUES)}")
    if args.concurrency < 1:
        _fail("--concurrency must be at least 1")
    if not 0 <= args.nice <= 19:
        _fail(f"--nice must be between 0 and 19, got {args.nice}")
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
        settings = _load_settings()
        settings.DATA_DIR.mkdir(parents=True, exist_ok=True)
        schedule = args.schedule_file or str(settings.DATA_DIR / "celerybeat-schedule")
        argv += ["--beat", f"--schedule={schedule}"]
    if args.exit_with_parent:
        from caliber.worker.embedded import exit_with_parent

        exit_with_parent(args.exit_with_parent)
    app.worker_main(argv)


def _beat(args: argparse.Namespace) -> None:
    app = _celery_app()
    settings = _load_settings()
    schedule = args.schedule_file or str(settings.DATA_DIR / "celerybeat-schedule")
    settings.DATA_DIR.mkdir(parents=True, exist_ok=True)
    app.start(["beat", f"--loglevel={args.loglevel}", f"--schedule={schedule}"])


def _db_upgrade(args: argparse.Namespace) -> None:
    from caliber.db.migrate import upgrade

    settings = _load_settings()
    from sqlalchemy.engine import make_url

    upgrade(settings.database_url, args.revision)
    shown = make_url(settings.database_url).render_as_string(hide_password=True)
    sys.stderr.write(f"database at {shown} is at {args.revision}\n")


def _db_check(args: argparse.Namespace) -> None:
    from caliber.db.migrate import pending_differences
    from caliber.db.session import build_engine

    del args
    settings = _load_settings()
    engine = build_engine(settings.database_url)
    try:
        differences = pending_differences(engine)
    finally:
        engine.dispose()
    if differences:
        for difference in differences:
            sys.stderr.write(f"  {difference}\n")
        _fail("the database schema differs from the models (run 'caliber db upgrade')")
    sys.stderr.write("the database schema matches the models\n")


def main(argv: list[str] | None = None) -> int:
    """Console entry point: run a command; user errors are one line and exit status 2."""
    from caliber.engine.errors import EngineError

    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        handler: Callable[[argparse.Namespace], None] | None = getattr(args, "handler", None)
        if handler is None:
            parser.print_help()
            return EXIT_BAD_INPUT
        handler(args)
    except (CliInputError, EngineError) as exc:
        message = exc.message if isinstance(exc, EngineError) else str(exc)
        sys.stderr.write(f"caliber: error: {message}\n")
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        sys.stderr.write("caliber: interrupted\n")
        return 130
    except Exception as exc:
        if os.environ.get("CALIBER_DEBUG"):
            raise
        sys.stderr.write(
            f"caliber: internal error: {type(exc).__name__}: {exc} "
            "(set CALIBER_DEBUG=1 for details)\n"
        )
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
