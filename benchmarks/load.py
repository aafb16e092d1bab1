"""Load test: signed-in users against `caliber serve` on PostgreSQL, one 200k-row campaign.

    python benchmarks/load.py --database-url postgresql://user@host:port/db
        [--users 16] [--concurrency 16] [--duration 60] [--think-ms 1000]
        [--api-workers 2] [--json] [--breakdown] [--check] [--keep]

(or set CALIBER_TEST_DATABASE_URL). On the server of that URL it creates a separate
database (``caliber_load`` by default; dropped at the end unless --keep), runs
``caliber db upgrade``, starts a local Firebase certificate server (tests/api/firebase.py)
and ``caliber serve`` on loopback with real token verification (AUTH_DEV_MODE=false;
with no --redis-url, scoring runs on the embedded worker). Then:

1. N users sign in with signed tokens; each creates a campaign, uploads the same small
   sample export and scores it through the API (POST /scoring/start, wait until done).
   User 0's campaign then gets 200,000 result rows written directly in the database
   (the rows of benchmarks/result_pages.py, with the metrics, breakdowns and spend / CPM /
   CTR of the real rows it had) and a summary saying so.
2. The table is vacuumed (as autovacuum would be a minute later; --no-vacuum measures
   the state right after a bulk write). C virtual users (threads, one keep-alive
   connection each) run for D seconds after a --warmup, each waiting a think time
   between two requests (exponential, mean --think-ms, default 1,000 ms: people read a
   page before the next; --think-ms 0 is the saturation test, with C requests always in
   flight), a weighted mix: result pages of the 200k-row campaign (sorts by score,
   impressions, CTR, CPM in both directions, status and impression filters, mostly early
   pages, some deep), the campaign list, summary, whitelist and blacklist of their own
   campaign, and rarely (1 in --upload-every requests, at most --max-uploads per run) a
   new campaign with an upload and a scoring run. Result pages use the token of the
   campaign's owner (the API only shows a campaign to its owner); every other request
   uses the virtual user's own account. Virtual user 0 is the owner, so its summary and
   lists are of the 200k-row campaign (shown with "[200k]"). --sorts limits the sorts.
3. Prints per route template: count, errors, req/s, p50/p95/p99/max latency in ms, and
   totals; the CPU the server process and the machine used; ``--breakdown`` adds result
   pages by sort, filter and depth; ``--json`` adds one JSON line.

Exit status: 0; 1 if any request failed or a scoring run started during the load did not
complete, or (``--check``) the results-page p99 is 100 ms or more; 2 for bad
arguments or a failed set-up; 3 on the overall --timeout; 130 when interrupted. Every
process it started is stopped on the way out, whatever happened.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
import psycopg
from psycopg import sql
from sqlalchemy import select, update
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: tests/ is importable from the checkout
    sys.path.insert(0, str(ROOT))

from tests.api.firebase import PROJECT_ID, CertServer, SigningKey, make_key, mint  # noqa: E402

from caliber.db.models import Campaign, ScoringResult  # noqa: E402
from caliber.db.session import build_engine, session_factory, session_scope  # noqa: E402
from caliber.sample import write_sample  # noqa: E402
from caliber.scoring import repository  # noqa: E402
from result_pages import _rows as result_page_rows  # noqa: E402

CALIBER = str(Path(sys.executable).parent / "caliber")
API = "/api/v1"
PER_PAGE = 50
TARGET_P99_MS = 100.0
TARGET_USERS = 16
TARGET_THINK_MS = 1000.0  # the target's users: a mean 1 s between two requests
TARGET_ROWS = 200_000
RESULTS = f"GET {API}/scoring/results/{{campaign_id}}"
SETUP = {"platform": "trade_desk", "goal": "awareness", "channel": "display"}
SORTS = ("score", "impressions", "ctr", "cpm")
STATUSES: tuple[str | None, ...] = (None, None, "good", "poor")
MIN_IMPRESSIONS: tuple[float | None, ...] = (None, None, None, 1000.0, 10000.0, 50000.0)


DROP = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")


class OverallTimeoutError(Exception):
    """The overall --timeout passed."""


class SetupError(Exception):
    """The benchmark could not be set up (a command failed, the server did not start)."""


# --- processes and the database ------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _libpq(url: str, database: str | None = None) -> str:
    """``url`` as psycopg takes it (no SQLAlchemy driver suffix), optionally another db."""
    parsed = make_url(url).set(drivername="postgresql")
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


def create_database(admin_url: str, name: str) -> None:
    with psycopg.connect(_libpq(admin_url), autocommit=True, connect_timeout=10) as conn:
        conn.execute(DROP.format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def drop_database(admin_url: str, name: str) -> None:
    with psycopg.connect(_libpq(admin_url), autocommit=True, connect_timeout=10) as conn:
        conn.execute(DROP.format(sql.Identifier(name)))


def _worker_pids(server_pid: int) -> list[int]:
    """Processes of the embedded worker `caliber serve` started (they carry its pid)."""
    marker = f"--exit-with-parent={server_pid}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker in (entry / "cmdline").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of one process so far (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _server_cpu(pid: int) -> float:
    """CPU of `caliber serve` and its API processes (``--workers``), not its job worker."""
    workers = set(_worker_pids(pid))
    total = _cpu_seconds(pid)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in workers:
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid:
            total += _cpu_seconds(int(entry.name))
    return total


def _machine_cpu() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    values = [float(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    total = sum(values[:8])
    return total - idle, total


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    base: str
    log: Path

    def stop(self) -> None:
        """SIGTERM (the server stops its worker on the way out); SIGKILL after 30 s."""
        pid = self.process.pid
        stop_process(self.process)
        deadline = time.monotonic() + 15
        while (left := _worker_pids(pid)) and time.monotonic() < deadline:
            time.sleep(0.2)
        for worker in left:  # an orphaned embedded worker: stop it by its pid
            with suppress(ProcessLookupError):
                os.kill(worker, signal.SIGKILL)


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM; after 30 s SIGKILL to its process group (it has its own session)."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def start_worker(env: dict[str, str], data_dir: Path, stack: ExitStack) -> Path:
    """A `caliber worker` on --redis-url (`caliber serve` only embeds one without Redis)."""
    log = data_dir / "worker.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [CALIBER, "worker", "--concurrency", "2", "--loglevel", "warning"],
            env=env,
            cwd=data_dir,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    stack.callback(stop_process, process)
    return log


def start_server(env: dict[str, str], data_dir: Path, stack: ExitStack, api_workers: int) -> Server:
    port = _free_port()
    log = data_dir / "server.log"
    command = [CALIBER, "serve", "--host", "127.0.0.1", "--port", str(port), "--no-migrate"]
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*command, "--workers", str(api_workers)],
            env=env,
            cwd=data_dir,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches this script, which stops it in order
        )
    server = Server(process, f"http://127.0.0.1:{port}", log)
    stack.callback(server.stop)
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{server.base}/health", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            tail = log.read_text(encoding="utf-8", errors="replace")[-3000:]
            raise SetupError(f"caliber serve did not start:\n{tail}")
        time.sleep(0.2)


# --- seeding ----------------------------------------------------------------------------------


@dataclass
class Account:
    uid: str
    token: str
    campaign_id: str = ""


def _check(response: httpx.Response, what: str) -> dict[str, Any]:
    if response.status_code >= 400:
        raise SetupError(f"{what}: HTTP {response.status_code}: {response.text[:500]}")
    body: dict[str, Any] = response.json()
    return body


def create_and_upload(http: httpx.Client, name: str, export: Path) -> str:
    created = _check(http.post("/campaigns", json={"name": name, **SETUP}), "create campaign")
    campaign_id: str = created["data"]["id"]
    with export.open("rb") as handle:
        _check(
            http.post(
                f"/campaigns/{campaign_id}/upload",
                files={"file": (export.name, handle, "text/csv")},
            ),
            "upload",
        )
    return campaign_id


def wait_scored(http: httpx.Client, campaign_ids: list[str], timeout: float) -> dict[str, str]:
    """Status of each campaign once none is processing (or the timeout passed)."""
    deadline = time.monotonic() + timeout
    states: dict[str, str] = {}
    while True:
        for campaign_id in campaign_ids:
            if states.get(campaign_id) in ("completed", "failed"):
                continue
            progress = http.get(f"/scoring/progress/{campaign_id}")
            states[campaign_id] = _check(progress, "progress")["data"]["status"]
        if all(s in ("completed", "failed") for s in states.values()):
            return states
        if time.monotonic() > deadline:
            return states
        time.sleep(0.25)


def seed_accounts(
    base: str, key: SigningKey, users: int, export: Path, token_lifetime: int
) -> list[Account]:
    """Sign every user in, give each a scored campaign (through the API)."""
    accounts = [
        Account(uid, mint(key, uid, email=f"{uid}@example.com", lifetime=token_lifetime))
        for uid in (f"load-user-{i:02d}" for i in range(users))
    ]
    for index, account in enumerate(accounts):
        headers = {"Authorization": f"Bearer {account.token}"}
        with httpx.Client(base_url=base + API, headers=headers, timeout=60) as http:
            _check(http.post("/auth/login", json={"token": account.token}), "login")
            name = "Load 200k" if index == 0 else f"Load small {index:02d}"
            account.campaign_id = create_and_upload(http, name, export)
            _check(
                http.post("/scoring/start", json={"campaign_id": account.campaign_id}),
                "start scoring",
            )
    for account in accounts:
        headers = {"Authorization": f"Bearer {account.token}"}
        with httpx.Client(base_url=base + API, headers=headers, timeout=60) as http:
            states = wait_scored(http, [account.campaign_id], timeout=300)
        if states[account.campaign_id] != "completed":
            raise SetupError(f"scoring of {account.uid}'s campaign: {states}")
    return accounts


def _status(score: float) -> str:
    """The engine's rule: good >= 75, moderate >= 25, poor below."""
    return "good" if score >= 75 else "moderate" if score >= 25 else "poor"


Totals = dict[tuple[str | None, float | None], int]


def seed_big_campaign(
    url: str, campaign_id: str, rows: int, *, vacuum: bool
) -> tuple[float, Totals]:
    """Replace the (scored) campaign's rows with ``rows`` rows; return the write time and
    the number of rows matching each filter the load uses. With ``vacuum``, VACUUM
    (ANALYZE) the table, as autovacuum does a minute or so after a bulk write: until then
    PostgreSQL's visibility map is empty and an index-only scan (the count of every page)
    reads the table too; without it, ANALYZE only."""
    engine = build_engine(url)
    try:
        sessions = session_factory(engine)
        cid = uuid.UUID(campaign_id)
        with session_scope(sessions) as session:
            real = list(
                session.scalars(
                    select(ScoringResult)
                    .where(ScoringResult.campaign_id == cid)
                    .order_by(ScoringResult.rank)
                )
            )
            stored = session.scalars(select(Campaign.summary).where(Campaign.id == cid)).one()
            summary: dict[str, Any] = dict(stored or {})
        if not real:
            raise SetupError("the owner's sample campaign has no result rows")
        generated = result_page_rows(cid, rows)
        for index, row in enumerate(generated):
            model = real[index % len(real)]  # real payloads: metrics, breakdown, spend..
            row.update(
                quality_status=_status(row["score"]),
                spend=model.spend,
                cpm=model.cpm,
                ctr=model.ctr,
                conversions=model.conversions,
                conversion_rate=model.conversion_rate,
                is_outlier=model.is_outlier,
                outlier_flags=model.outlier_flags,
                metrics=model.metrics,
                score_breakdown=model.score_breakdown,
            )
        summary["row_count"] = rows
        if isinstance(summary.get("rows"), dict):
            summary["rows"] = {**summary["rows"], "scored": rows}
        start = time.perf_counter()
        with session_scope(sessions) as session:
            repository.replace_results(session, cid, generated)
            session.execute(
                update(Campaign)
                .where(Campaign.id == cid)
                .values(summary=summary, total_records=rows, processed_records=rows)
            )
        write_s = time.perf_counter() - start
        statement = "VACUUM (ANALYZE) scoring_results" if vacuum else "ANALYZE scoring_results"
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql(statement)
    finally:
        engine.dispose()
    totals: Totals = {}
    for status in set(STATUSES):
        for floor in set(MIN_IMPRESSIONS):
            totals[(status, floor)] = sum(
                1
                for r in generated
                if (status is None or r["quality_status"] == status)
                and (floor is None or r["impressions"] >= floor)
            )
    return write_s, totals


# --- the load -------------------------------------------------------------------------------


@dataclass
class Sample:
    route: str
    status: int  # 0: no response (the error is in Recorder.errors)
    seconds: float
    started: float  # time.monotonic()
    detail: str = ""  # result pages: the sort and how deep (the breakdown table)


@dataclass
class Recorder:
    samples: list[Sample] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def call(
        self,
        route: str,
        send: Callable[[], httpx.Response],
        ok: tuple[int, ...] = (200,),
        detail: str = "",
    ) -> httpx.Response | None:
        started = time.monotonic()
        t0 = time.perf_counter()
        try:
            response = send()
            response.read()
        except httpx.HTTPError as exc:
            self.samples.append(Sample(route, 0, time.perf_counter() - t0, started, detail))
            self.errors.append(f"{route}: {type(exc).__name__}: {exc}")
            return None
        elapsed = time.perf_counter() - t0
        self.samples.append(Sample(route, response.status_code, elapsed, started, detail))
        if response.status_code not in ok:
            self.errors.append(f"{route}: HTTP {response.status_code}: {response.text[:300]}")
            return None
        return response


@dataclass
class Plan:
    base: str
    owner: Account
    accounts: list[Account]
    totals: Totals
    rows: int
    export: Path
    upload_every: int
    max_uploads: int
    sorts: tuple[str, ...] = SORTS
    think: float = 0.0
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    uploads: int = 0
    scoring_runs: list[tuple[str, str]] = field(default_factory=list)  # (token, campaign)

    def claim_upload(self) -> bool:
        with self.lock:
            if self.uploads >= self.max_uploads:
                return False
            self.uploads += 1
            return True


def results_params(
    rng: random.Random, totals: Totals, sorts: tuple[str, ...] = SORTS
) -> dict[str, Any]:
    status = rng.choice(STATUSES)
    floor = rng.choice(MIN_IMPRESSIONS)
    pages = max(1, math.ceil(totals[(status, floor)] / PER_PAGE))
    pick = rng.random()
    if pick < 0.6:
        page = rng.randint(1, min(5, pages))  # the first pages
    elif pick < 0.9:
        page = rng.randint(1, min(100, pages))
    else:
        page = rng.randint(1, pages)  # anywhere, down to the last page
    params: dict[str, Any] = {
        "page": page,
        "per_page": PER_PAGE,
        "sort_by": rng.choice(sorts),
        "sort_direction": rng.choice(("asc", "desc")),
    }
    if status is not None:
        params["quality_status"] = status
    if floor is not None:
        params["min_impressions"] = floor
    return params


def results_detail(params: dict[str, Any]) -> str:
    """A result page's sort, whether it is filtered, and its depth (offset)."""
    offset = (params["page"] - 1) * PER_PAGE
    depth = "pages 1-5" if offset < 5 * PER_PAGE else "6-100" if offset < 100 * PER_PAGE else ">100"
    filtered = "filtered" if "quality_status" in params or "min_impressions" in params else "all"
    return f"sort={params['sort_by']} {filtered} {depth}"


# weights of the mix (the rare upload is drawn separately)
MIX: tuple[tuple[str, float], ...] = (
    ("results", 60),
    ("campaigns", 12),
    ("summary", 12),
    ("whitelist", 8),
    ("blacklist", 8),
)


def virtual_user(plan: Plan, index: int, seed: int, recorder: Recorder) -> None:
    """One signed-in user on one keep-alive connection; between two requests it waits
    an exponentially distributed think time of mean ``plan.think`` seconds (0: none)."""
    rng = random.Random(seed * 1000 + index)
    account = plan.accounts[index % len(plan.accounts)]
    own = account.campaign_id
    size = f"{plan.rows // 1000}k" if plan.rows >= 1000 else str(plan.rows)
    tag = f" [{size}]" if own == plan.owner.campaign_id else ""
    names = [name for name, _ in MIX]
    weights = [weight for _, weight in MIX]
    owner_headers = {"Authorization": f"Bearer {plan.owner.token}"}
    with httpx.Client(
        base_url=plan.base + API,
        headers={"Authorization": f"Bearer {account.token}"},
        timeout=httpx.Timeout(60.0),
    ) as http:
        while not plan.stop.is_set():
            if plan.think > 0 and plan.stop.wait(rng.expovariate(1 / plan.think)):
                break
            if rng.randrange(plan.upload_every) == 0 and plan.claim_upload():
                upload_and_score(plan, http, account, recorder)
                continue
            action = rng.choices(names, weights)[0]
            if action == "results":
                params = results_params(rng, plan.totals, plan.sorts)
                path = f"/scoring/results/{plan.owner.campaign_id}"
                send = partial(http.get, path, params=params, headers=owner_headers)
                recorder.call(RESULTS, send, detail=results_detail(params))
            elif action == "campaigns":
                recorder.call(f"GET {API}/campaigns", partial(http.get, "/campaigns"))
            else:
                route = f"GET {API}/scoring/{action}/{{campaign_id}}{tag}"
                path = f"/scoring/{action}/{own}"
                recorder.call(route, partial(http.get, path))


def upload_and_score(plan: Plan, http: httpx.Client, account: Account, recorder: Recorder) -> None:
    created = recorder.call(
        f"POST {API}/campaigns",
        lambda: http.post("/campaigns", json={"name": "Load upload", **SETUP}),
        ok=(201,),
    )
    if created is None:
        return
    campaign_id = created.json()["data"]["id"]
    with plan.export.open("rb") as handle:
        files = {"file": (plan.export.name, handle, "text/csv")}
        uploaded = recorder.call(
            f"POST {API}/campaigns/{{campaign_id}}/upload",
            lambda: http.post(f"/campaigns/{campaign_id}/upload", files=files),
            ok=(200, 201),
        )
    if uploaded is None:
        return
    started = recorder.call(
        f"POST {API}/scoring/start",
        lambda: http.post("/scoring/start", json={"campaign_id": campaign_id}),
        ok=(202,),
    )
    if started is not None:
        with plan.lock:
            plan.scoring_runs.append((account.token, campaign_id))


# --- figures ---------------------------------------------------------------------------------


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return float("nan")
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


def route_figures(samples: list[Sample], seconds: float) -> dict[str, Any]:
    latencies = sorted(s.seconds * 1000 for s in samples)
    return {
        "count": len(samples),
        "errors": sum(1 for s in samples if s.status == 0 or s.status >= 400),
        "rps": len(samples) / seconds if seconds else 0.0,
        "p50_ms": percentile(latencies, 0.50),
        "p95_ms": percentile(latencies, 0.95),
        "p99_ms": percentile(latencies, 0.99),
        "max_ms": latencies[-1] if latencies else float("nan"),
    }


def print_table(routes: dict[str, dict[str, Any]], total: dict[str, Any]) -> None:
    width = max(len(r) for r in [*routes, "total"])
    head = f"{'route':{width}s} {'count':>7s} {'errors':>6s} {'req/s':>7s}"
    print(f"{head} {'p50':>7s} {'p95':>7s} {'p99':>7s} {'max':>7s}  (ms)")
    for name, fig in [*sorted(routes.items()), ("total", total)]:
        print(
            f"{name:{width}s} {fig['count']:7d} {fig['errors']:6d} {fig['rps']:7.1f} "
            f"{fig['p50_ms']:7.1f} {fig['p95_ms']:7.1f} {fig['p99_ms']:7.1f} {fig['max_ms']:7.1f}"
        )


# --- the run ----------------------------------------------------------------------------------


def _on_signal(signum: int, frame: FrameType | None) -> None:
    del frame
    if signum == signal.SIGALRM:
        raise OverallTimeoutError
    raise KeyboardInterrupt


def run(args: argparse.Namespace, admin_url: str, stack: ExitStack) -> int:
    if make_url(admin_url).database == args.db_name:
        raise SetupError(
            f"--db-name {args.db_name} is the database of --database-url; pick another"
        )
    work = Path(tempfile.mkdtemp(prefix="caliber-load-"))
    if args.keep:
        print(f"work directory (kept): {work}", file=sys.stderr)
    else:
        stack.callback(shutil.rmtree, work, ignore_errors=True)

    create_database(admin_url, args.db_name)
    if not args.keep:
        stack.callback(drop_database, admin_url, args.db_name)
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
    for name in ("REDIS_URL", "CELERY_BROKER_URL", "STORAGE_DIR", "AWS_BUCKET_NAME"):
        env.pop(name, None)
    if args.redis_url:
        env["REDIS_URL"] = args.redis_url
    upgraded = subprocess.run(
        [CALIBER, "db", "upgrade"], env=env, capture_output=True, timeout=180, check=False
    )
    if upgraded.returncode != 0:
        raise SetupError("caliber db upgrade failed:\n" + upgraded.stderr.decode()[-2000:])

    if args.redis_url:
        worker_log = start_worker(env, work, stack)
        print(f"caliber worker on {args.redis_url} (log: {worker_log})", file=sys.stderr)
    server = start_server(env, work, stack, args.api_workers)
    print(f"caliber serve on {server.base} (log: {server.log})", file=sys.stderr)

    export = work / "export.csv"
    write_sample(export, SETUP["platform"], SETUP["channel"], rows=args.small_rows, seed=3)
    started = time.perf_counter()
    lifetime = max(3600, args.timeout + 600)
    accounts = seed_accounts(server.base, key, args.users, export, lifetime)
    print(
        f"{args.users} users signed in, each with a scored campaign "
        f"({args.small_rows:,}-row export) in {time.perf_counter() - started:.1f} s",
        file=sys.stderr,
    )
    owner = accounts[0]
    write_s, totals = seed_big_campaign(url, owner.campaign_id, args.rows, vacuum=args.vacuum)
    print(f"{args.rows:,} result rows written for {owner.uid} in {write_s:.1f} s", file=sys.stderr)
    with httpx.Client(
        base_url=server.base + API, headers={"Authorization": f"Bearer {owner.token}"}, timeout=60
    ) as http:
        first = _check(
            http.get(f"/scoring/results/{owner.campaign_id}", params={"per_page": 1}), "results"
        )
        if first["total"] != args.rows:
            raise SetupError(f"the big campaign has {first['total']} rows, not {args.rows}")

    plan = Plan(
        base=server.base,
        owner=owner,
        accounts=accounts,
        totals=totals,
        rows=args.rows,
        export=export,
        upload_every=args.upload_every,
        max_uploads=args.max_uploads,
        sorts=args.sorts,
        think=args.think_ms / 1000,
    )
    recorders = [Recorder() for _ in range(args.concurrency)]
    threads = [
        threading.Thread(target=virtual_user, args=(plan, i, args.seed, recorders[i]), daemon=True)
        for i in range(args.concurrency)
    ]
    print(
        f"load: {args.concurrency} users for {args.warmup:g} s warm-up + {args.duration:g} s",
        file=sys.stderr,
    )
    stack.callback(plan.stop.set)  # interrupted: the threads stop before the server
    for thread in threads:
        thread.start()
    plan.stop.wait(args.warmup)
    load_before = os.getloadavg()[0]  # other work on the machine skews every figure
    window_start = time.monotonic()
    server_cpu0, client_cpu0 = _server_cpu(server.process.pid), time.process_time()
    busy0, total0 = _machine_cpu()
    plan.stop.wait(args.duration)
    window_end = time.monotonic()
    server_cpu = _server_cpu(server.process.pid) - server_cpu0
    client_cpu = time.process_time() - client_cpu0
    busy1, total1 = _machine_cpu()
    plan.stop.set()
    for thread in threads:
        thread.join(timeout=max(1.0, 70 - (time.monotonic() - window_end)))
    stuck = sum(1 for t in threads if t.is_alive())

    # scoring runs started during the load must complete
    runs_failed = 0
    for token, campaign_id in plan.scoring_runs:
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=server.base + API, headers=headers, timeout=60) as http:
            states = wait_scored(http, [campaign_id], timeout=180)
        if states.get(campaign_id) != "completed":
            runs_failed += 1

    window = window_end - window_start
    samples = [s for r in recorders for s in r.samples if window_start <= s.started < window_end]
    errors = [e for r in recorders for e in r.errors]
    by_route: dict[str, list[Sample]] = defaultdict(list)
    for sample in samples:
        by_route[sample.route].append(sample)
    routes = {name: route_figures(group, window) for name, group in by_route.items()}
    total = route_figures(samples, window)
    all_errors = sum(1 for r in recorders for s in r.samples if s.status == 0 or s.status >= 400)
    target = routes.get(RESULTS)
    target_p99 = target["p99_ms"] if target else float("nan")
    met = (
        target is not None
        and target_p99 < TARGET_P99_MS
        and all_errors == 0
        and args.concurrency >= TARGET_USERS
        and args.rows >= TARGET_ROWS
        and args.think_ms <= TARGET_THINK_MS
    )
    machine = (busy1 - busy0) / (total1 - total0) * 100 if total1 > total0 else float("nan")

    print()
    print(
        f"Load: {args.concurrency} users, {window:.1f} s (after {args.warmup:g} s warm-up), "
        f"results pages of a {args.rows:,}-row campaign, PostgreSQL, caliber serve "
        f"--workers {args.api_workers} ({'Redis' if args.redis_url else 'embedded worker'}); "
        f"sorts: {','.join(args.sorts)}"
        f"{'' if args.vacuum else '; not vacuumed'}"
        f"{f'; think time {args.think_ms:g} ms' if args.think_ms else '; no think time'}"
    )
    print_table(routes, total)
    details: dict[str, list[Sample]] = defaultdict(list)
    for sample in by_route.get(RESULTS, []):
        details[sample.detail].append(sample)
    if args.breakdown and details:
        print("\nresult pages by sort, filter and depth:")
        print_table({k: route_figures(v, window) for k, v in details.items()}, target or total)
    if args.breakdown and samples:
        print("\nslowest requests (seconds into the window):")
        for sample in sorted(samples, key=lambda s: s.seconds, reverse=True)[:8]:
            print(
                f"  {sample.seconds * 1000:8.1f} ms at {sample.started - window_start:5.1f} s  "
                f"{sample.route} {sample.detail}"
            )
    print(
        f"CPU in the window: server processes {server_cpu:.1f} s "
        f"({server_cpu / window * 100:.0f} % of one core, "
        f"{server_cpu / max(1, total['count']) * 1000:.1f} ms per request), load client "
        f"{client_cpu:.1f} s, whole machine {machine:.0f} % of {os.cpu_count()} cores "
        f"(1-min load average {load_before:.1f} when the window opened)"
    )
    print(
        f"uploads scored during the load: {len(plan.scoring_runs)} "
        f"({runs_failed} did not complete); requests failed over the whole run: {all_errors}"
    )
    for message in errors[:10]:
        print(f"  error: {message}")
    if stuck:
        print(f"  {stuck} virtual users were still waiting on a request at the end")
    verdict = "met" if met else "MISSED"
    print(
        f"target: results pages p99 < {TARGET_P99_MS:g} ms at {TARGET_USERS} users "
        f"(think time <= {TARGET_THINK_MS:g} ms) on a {args.rows:,}-row campaign, no errors: "
        f"p99 {target_p99:.1f} ms, "
        f"{all_errors} errors: {verdict}"
    )
    if args.json:
        print(
            json.dumps(
                {
                    "date": time.strftime("%Y-%m-%d"),
                    "users": args.concurrency,
                    "accounts": args.users,
                    "duration_s": round(window, 2),
                    "warmup_s": args.warmup,
                    "rows": args.rows,
                    "sorts": list(args.sorts),
                    "vacuumed": args.vacuum,
                    "think_ms": args.think_ms,
                    "api_workers": args.api_workers,
                    "routes": {
                        k: {m: round(v, 2) if isinstance(v, float) else v for m, v in f.items()}
                        for k, f in routes.items()
                    },
                    "total": {
                        m: round(v, 2) if isinstance(v, float) else v for m, v in total.items()
                    },
                    "errors": all_errors,
                    "scoring_runs": len(plan.scoring_runs),
                    "scoring_runs_failed": runs_failed,
                    "server_cpu_s": round(server_cpu, 2),
                    "client_cpu_s": round(client_cpu, 2),
                    "machine_cpu_pct": round(machine, 1),
                    "loadavg_before": round(load_before, 2),
                    "target_p99_ms": TARGET_P99_MS,
                    "results_p99_ms": round(target_p99, 2),
                    "target_met": met,
                }
            )
        )
    failed = all_errors > 0 or runs_failed > 0 or stuck > 0
    check_failed = args.check and not (target is not None and target_p99 < TARGET_P99_MS)
    print(f"RESULT: {'FAIL' if failed or check_failed else 'OK'}")
    return 1 if failed or check_failed else 0


def _sorts(text: str) -> tuple[str, ...]:
    chosen = tuple(s.strip() for s in text.split(",") if s.strip())
    if not chosen or set(chosen) - set(SORTS):
        raise argparse.ArgumentTypeError(f"choose from {', '.join(SORTS)}")
    return chosen


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--database-url",
        default=os.environ.get("CALIBER_TEST_DATABASE_URL"),
        help="a PostgreSQL server to create the benchmark database on "
        "(default: $CALIBER_TEST_DATABASE_URL); its own database is not touched",
    )
    parser.add_argument("--db-name", default="caliber_load", help="(default: caliber_load)")
    parser.add_argument(
        "--api-workers",
        type=int,
        default=2,
        help="API processes of `caliber serve` (--workers; default 2: one per core here)",
    )
    parser.add_argument("--users", type=int, default=16, help="accounts (default 16)")
    parser.add_argument("--concurrency", type=int, default=16, help="virtual users (default 16)")
    parser.add_argument("--duration", type=float, default=60, help="seconds measured (default 60)")
    parser.add_argument(
        "--warmup",
        type=float,
        default=10,
        help="seconds not measured first (default 10: each API process loads the big run's "
        "index and sorts its columns once, and the first pages fill its caches)",
    )
    parser.add_argument("--rows", type=int, default=200_000, help="rows of the big campaign")
    parser.add_argument("--small-rows", type=int, default=2000, help="rows of the sample export")
    parser.add_argument("--upload-every", type=int, default=200, help="1 upload in N requests")
    parser.add_argument("--max-uploads", type=int, default=3, help="uploads per run (default 3)")
    parser.add_argument(
        "--sorts",
        type=_sorts,
        default=SORTS,
        help=f"comma-separated sort_by values of result pages (default: {','.join(SORTS)})",
    )
    parser.add_argument(
        "--think-ms",
        type=float,
        default=TARGET_THINK_MS,
        help="mean think time of a user between requests, exponential (default 1000; "
        "0: none, the saturation test)",
    )
    parser.add_argument(
        "--no-vacuum",
        dest="vacuum",
        action="store_false",
        help="do not VACUUM after writing the rows (the state right after a scoring run)",
    )
    parser.add_argument(
        "--redis-url",
        default=None,
        help="use Redis as the broker (a `caliber worker` is started too) instead of the "
        "worker `caliber serve` embeds",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--timeout", type=int, default=900, help="overall limit in seconds (default 900)"
    )
    parser.add_argument("--json", action="store_true", help="also print one JSON line")
    parser.add_argument(
        "--breakdown", action="store_true", help="also a table of result pages by sort and depth"
    )
    parser.add_argument("--check", action="store_true", help="exit 1 if the target is missed")
    parser.add_argument("--keep", action="store_true", help="keep the database and work dir")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.database_url:
        parser.error("--database-url (or CALIBER_TEST_DATABASE_URL) is required")
    if make_url(args.database_url).get_backend_name() != "postgresql":
        parser.error("--database-url must be a PostgreSQL URL")
    if (
        min(args.users, args.concurrency, args.rows, args.upload_every, args.api_workers) < 1
        or args.duration <= 0
    ):
        parser.error(
            "--users, --concurrency, --rows, --upload-every, --api-workers and --duration "
            "must be > 0"
        )
    if args.think_ms < 0 or args.warmup < 0 or args.max_uploads < 0:
        parser.error("--think-ms, --warmup and --max-uploads must not be negative")
    if not Path(CALIBER).exists():
        parser.error(f"{CALIBER} is not installed (make install)")
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGALRM):
        signal.signal(signum, _on_signal)
    signal.alarm(args.timeout)
    stack = ExitStack()
    try:
        return run(args, args.database_url, stack)
    except SetupError as exc:
        print(f"load: {exc}", file=sys.stderr)
        return 2
    except OverallTimeoutError:
        print(f"load: stopped by the overall --timeout of {args.timeout} s", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print("load: interrupted", file=sys.stderr)
        return 130
    finally:
        signal.alarm(0)
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, signal.SIG_IGN)  # cleaning up: do not stop half-way
        stack.close()


if __name__ == "__main__":
    sys.exit(main())
