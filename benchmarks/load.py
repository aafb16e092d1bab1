"""Load test: signed-in users against `caliber serve` on PostgreSQL, one 200k-row campaign.

    python benchmarks/load.py --database-url postgresql://user@host:port/db
        [--concurrency 16] [--duration 60] [--think-ms 1000] [--check]
        [--csv PREFIX] [--html FILE] [--api-workers 2] [--keep]

(or set CALIBER_TEST_DATABASE_URL). This launcher sets the service up and runs the users
of benchmarks/locustfile.py with Locust, headless. On the server of that URL it creates a
separate database (``caliber_load`` by default; dropped at the end unless --keep), runs
``caliber db upgrade``, starts a local Firebase certificate server (tests/api/firebase.py)
and ``caliber serve`` on loopback with real token verification (AUTH_DEV_MODE=false; with
no --redis-url, scoring runs on the embedded worker). Then --users accounts sign in with
signed tokens; each creates a campaign, uploads the same small sample export and scores it
through the API. User 0's campaign then gets a run of 200,000 result rows, stored as the
scoring job stores one (its file in the server's storage; the rows of
benchmarks/result_pages.py, with the metrics, breakdowns and spend / CPM / CTR of its real
rows; --no-vacuum is kept for the command line, runs are files since issue 18). Then
``locust --headless -u C -r C -t W+D`` runs C users for the --warmup W and the measured
--duration D (the route mix, think time and saturation mode are the locustfile's); Locust
prints its tables (per route: requests, failures, req/s, percentiles), --csv and --html
keep them.

Exit status: 0; 1 if any request failed or a scoring run started during the load did not
complete, or (``--check``) the results-page p99 is 100 ms or more; 2 for bad arguments
or a failed set-up; 3 on the overall --timeout; 130 when interrupted. Every process it
started is stopped on the way out, whatever happened.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from types import FrameType

import httpx
import psutil  # type: ignore[import-untyped]
import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: tests/ is importable from the checkout
    sys.path.insert(0, str(ROOT))

from tests.api.firebase import PROJECT_ID, CertServer, make_key  # noqa: E402

from caliber.sample.export import write_sample  # noqa: E402
from load_seed import SETUP, SetupError, seed_accounts, seed_big_campaign  # noqa: E402

BIN = Path(sys.executable).parent
CALIBER, LOCUST = str(BIN / "caliber"), str(BIN / "locust")
LOCUSTFILE = Path(__file__).resolve().parent / "locustfile.py"
SORTS = ("score", "impressions", "ctr", "cpm")
DROP = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")


class OverallTimeoutError(Exception):
    """The overall --timeout passed."""


def _libpq(url: str, database: str | None = None) -> str:
    """``url`` as psycopg takes it (no SQLAlchemy driver suffix), optionally another db."""
    parsed = make_url(url).set(drivername="postgresql")
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


def _admin(url: str, *statements: sql.Composed) -> None:
    with psycopg.connect(_libpq(url), autocommit=True, connect_timeout=10) as conn:
        for statement in statements:
            conn.execute(statement)


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM (SIGKILL to its session's group after 30 s), then SIGKILL to whatever it
    started and left behind after 15 s more (`caliber serve`'s API processes and embedded
    worker stop with it, unless it was killed)."""
    try:
        children = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        children = []
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    # the server stops its worker on the way out; anything left after 15 s is killed
    _, alive = psutil.wait_procs(children, timeout=15)
    for child in alive:
        child.kill()


def start(
    command: list[str], env: dict[str, str], log: Path, stack: ExitStack
) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            env=env,
            cwd=log.parent,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches this script, which stops it in order
        )
    stack.callback(stop_process, process)
    return process


def start_server(
    env: dict[str, str], work: Path, stack: ExitStack, api_workers: int
) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = work / "server.log"
    command = [CALIBER, "serve", "--host", "127.0.0.1", "--port", str(port), "--no-migrate"]
    process = start([*command, "--workers", str(api_workers)], env, log, stack)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                print(f"caliber serve on {base} (log: {log})", file=sys.stderr)
                return process, base
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            tail = log.read_text(encoding="utf-8", errors="replace")[-3000:]
            raise SetupError(f"caliber serve did not start:\n{tail}")
        time.sleep(0.2)


def _on_signal(signum: int, frame: FrameType | None) -> None:
    del frame
    if signum == signal.SIGALRM:
        raise OverallTimeoutError
    raise KeyboardInterrupt


def run(args: argparse.Namespace, stack: ExitStack) -> int:
    admin_url = args.database_url
    work = Path(tempfile.mkdtemp(prefix="caliber-load-"))
    if args.keep:
        print(f"work directory (kept): {work}", file=sys.stderr)
    else:
        stack.callback(shutil.rmtree, work, ignore_errors=True)
    name = sql.Identifier(args.db_name)
    _admin(admin_url, DROP.format(name), sql.SQL("CREATE DATABASE {}").format(name))
    if not args.keep:
        stack.callback(_admin, admin_url, DROP.format(name))
    url = _libpq(admin_url, args.db_name)
    print(f"database {args.db_name} created on {make_url(url).host}", file=sys.stderr)

    key = make_key("load-key")
    certs = CertServer([key])
    certs.start()
    stack.callback(certs.stop)
    env = {
        **os.environ,
        "ENVIRONMENT": "development",
        "AUTH_DEV_MODE": "false",
        "DATA_DIR": str(work / "data"),
        "DATABASE_URL": url,
        "FIREBASE_PROJECT_ID": PROJECT_ID,
        "FIREBASE_CERTS_URL": certs.url,
        "MAX_UPLOAD_MB": "20",
    }
    for variable in ("REDIS_URL", "CELERY_BROKER_URL", "STORAGE_DIR", "AWS_BUCKET_NAME"):
        env.pop(variable, None)
    if args.redis_url:
        env["REDIS_URL"] = args.redis_url
    upgraded = subprocess.run(
        [CALIBER, "db", "upgrade"], env=env, capture_output=True, timeout=180, check=False
    )
    if upgraded.returncode != 0:
        raise SetupError("caliber db upgrade failed:\n" + upgraded.stderr.decode()[-2000:])
    if args.redis_url:  # `caliber serve` embeds a worker only without Redis
        worker = [CALIBER, "worker", "--concurrency", "2", "--loglevel", "warning"]
        start(worker, env, work / "worker.log", stack)
        print(f"caliber worker on {args.redis_url} (log: {work / 'worker.log'})", file=sys.stderr)
    server, base = start_server(env, work, stack, args.api_workers)

    export = work / "export.csv"
    write_sample(export, SETUP["platform"], SETUP["channel"], rows=args.small_rows, seed=3)
    started = time.perf_counter()
    lifetime = max(3600, args.timeout + 600)
    accounts = seed_accounts(base, key, args.users, export, lifetime)
    print(
        f"{args.users} users signed in, each with a scored campaign "
        f"({args.small_rows:,}-row export) in {time.perf_counter() - started:.1f} s",
        file=sys.stderr,
    )
    owner = accounts[0]
    write_s = seed_big_campaign(
        base, url, owner, args.rows, storage_dir=work / "data" / "files", vacuum=args.vacuum
    )
    print(
        f"{args.rows:,} result rows written for {owner['uid']} in {write_s:.1f} s", file=sys.stderr
    )

    plan = work / "plan.json"
    plan.write_text(
        json.dumps(
            {
                "accounts": accounts,
                "setup": SETUP,
                "export": str(export),
                "rows": args.rows,
                "server_pid": server.pid,
            }
        )
    )
    print(
        f"\nLoad: {args.concurrency} users, {args.duration} s after a {args.warmup} s warm-up, "
        f"results pages of a {args.rows:,}-row campaign, PostgreSQL, caliber serve --workers "
        f"{args.api_workers} ({'Redis' if args.redis_url else 'embedded worker'}); sorts: "
        f"{','.join(args.sorts)}{'' if args.vacuum else '; not vacuumed'}; "
        f"{f'think time {args.think_ms:g} ms' if args.think_ms else 'no think time'}",
        flush=True,
    )
    users = str(args.concurrency)
    command = [
        LOCUST, "-f", str(LOCUSTFILE), "--headless", "--only-summary", "-H", base,
        "-u", users, "-r", users, "-t", f"{args.warmup + args.duration}s",
        "--caliber-plan", str(plan), "--think-ms", str(args.think_ms),
        "--warmup", str(args.warmup), "--upload-every", str(args.upload_every),
        "--max-uploads", str(args.max_uploads), "--sorts", ",".join(args.sorts),
        "--seed", str(args.seed),
    ]  # fmt: skip
    command += ["--check"] if args.check else []
    command += ["--csv", args.csv] if args.csv else []
    command += ["--html", args.html] if args.html else []
    # its own session: Ctrl-C reaches this script only, which stops locust (its report
    # is written) before the server
    locust = subprocess.Popen(command, stdin=subprocess.DEVNULL, start_new_session=True)
    stack.callback(stop_process, locust)
    status = locust.wait()
    if status not in (0, 1):
        raise SetupError(f"locust stopped with exit status {status}")
    return status


def _sorts(text: str) -> tuple[str, ...]:
    chosen = tuple(s.strip() for s in text.split(",") if s.strip())
    if not chosen or set(chosen) - set(SORTS):
        raise argparse.ArgumentTypeError(f"choose from {', '.join(SORTS)}")
    return chosen


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    add = parser.add_argument
    add(
        "--database-url",
        default=os.environ.get("CALIBER_TEST_DATABASE_URL"),
        help="a PostgreSQL server to create the benchmark database on "
        "(default: $CALIBER_TEST_DATABASE_URL); its own database is not touched",
    )
    add("--db-name", default="caliber_load", help="(default: caliber_load)")
    add("--api-workers", type=int, default=2, help="`caliber serve --workers` (default 2)")
    add("--users", type=int, default=16, help="accounts (default 16)")
    add("--concurrency", type=int, default=16, help="Locust users (default 16)")
    add("--duration", type=int, default=60, help="seconds measured (default 60)")
    add(
        "--warmup",
        type=int,
        default=10,
        help="seconds not measured first (default 10: each API process loads the big run's "
        "index and sorts its columns once, and the first pages fill its caches)",
    )
    add("--rows", type=int, default=200_000, help="rows of the big campaign")
    add("--small-rows", type=int, default=2000, help="rows of the sample export")
    add("--upload-every", type=int, default=200, help="1 upload in N requests (default 200)")
    add("--max-uploads", type=int, default=3, help="uploads per run (default 3)")
    add("--sorts", type=_sorts, default=SORTS, help=f"sort_by values (default: {','.join(SORTS)})")
    add(
        "--think-ms",
        type=float,
        default=1000,
        help="mean think time of a user between requests, exponential (default 1000; "
        "0: none, the saturation test)",
    )
    add(
        "--no-vacuum",
        dest="vacuum",
        action="store_false",
        help="do not VACUUM after writing the rows (the state right after a scoring run)",
    )
    add("--redis-url", help="Redis as the broker and a `caliber worker` (default: embedded)")
    add("--seed", type=int, default=1)
    add("--timeout", type=int, default=900, help="overall limit in seconds (default 900)")
    add("--csv", metavar="PREFIX", help="Locust's CSV files: PREFIX_stats.csv, ...")
    add("--html", metavar="FILE", help="Locust's HTML report, with its charts")
    add("--check", action="store_true", help="exit 1 if the results-page p99 is >= 100 ms")
    add("--keep", action="store_true", help="keep the database and work directory")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.database_url:
        parser.error("--database-url (or CALIBER_TEST_DATABASE_URL) is required")
    if make_url(args.database_url).get_backend_name() != "postgresql":
        parser.error("--database-url must be a PostgreSQL URL")
    if make_url(args.database_url).database == args.db_name:
        parser.error(f"--db-name {args.db_name} is the database of --database-url")
    positive = ("users", "concurrency", "rows", "upload_every", "api_workers", "duration")
    if min(getattr(args, name) for name in positive) < 1:
        parser.error(", ".join(f"--{n.replace('_', '-')}" for n in positive) + " must be > 0")
    if args.think_ms < 0 or args.warmup < 0 or args.max_uploads < 0:
        parser.error("--think-ms, --warmup and --max-uploads must not be negative")
    for tool in (CALIBER, LOCUST):
        if not Path(tool).exists():
            parser.error(f"{tool} is not installed (make install)")
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGALRM):
        signal.signal(signum, _on_signal)
    signal.alarm(args.timeout)
    stack, message = ExitStack(), ""
    try:
        status = run(args, stack)
    except SetupError as exc:
        status, message = 2, str(exc)
    except OverallTimeoutError:
        status, message = 3, f"stopped by the overall --timeout of {args.timeout} s"
    except KeyboardInterrupt:
        status, message = 130, "interrupted"
    finally:
        signal.alarm(0)
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, signal.SIG_IGN)  # cleaning up: do not stop half-way
        stack.close()  # locust writes its report, then the server and the rest stop
    if message:  # last, after locust's report
        print(f"load: {message}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
