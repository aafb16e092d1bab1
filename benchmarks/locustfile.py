"""Locust users of the load test: signed-in people reading the results of a 200k-row campaign.

``benchmarks/load.py`` sets the service up (database, accounts, the 200k-row campaign,
``caliber serve``), writes the plan this file reads (``--caliber-plan``: the accounts,
their tokens and campaigns, the first one's the big one; the sample export to upload;
the server's pid) and runs it headless while the server runs::

    locust -f benchmarks/locustfile.py --headless -H http://127.0.0.1:PORT -u 16 -r 16 \
        -t 70s --caliber-plan PLAN.json [--think-ms 1000] [--warmup 10] [--check] ...

Each user signs in as one account (user 0 as the owner of the big campaign) and picks a
request by weight: 60 result pages of the big campaign (with its owner's token: the API
shows a campaign only to its owner; a random sort, direction, filter and depth), 12 the
campaign list, 12 the summary and 8 each the whitelist and blacklist of its own campaign
(user 0's is the big one: those are named with ``[200k]``); 1 request in
``--upload-every`` (at most ``--max-uploads`` a run) is instead a new campaign, an
upload and a scoring run, which must have completed when the load stops. Between two
requests a user thinks for an exponential time of mean ``--think-ms`` (0: no wait, the
saturation test). Requests are named by route template, so locust's statistics are per
route. The first ``--warmup`` seconds are not counted: each API process loads the big
run's index and fills its caches then. At the end it prints the server's CPU and the
target (result pages p99 < 100 ms at 16 users thinking <= 1 s, no failed request); the
exit status is 1 if any request failed (warm-up included) or a scoring run did not
complete, or with ``--check`` if the p99 is 100 ms or more.
"""

# Locust's event hooks and TaskSet methods have no annotations (its decorators would make
# every listener untyped for mypy); gevent and psutil ship no types.
# mypy: disable-error-code="untyped-decorator, no-untyped-call"
from __future__ import annotations

import itertools
import json
import logging
import math
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gevent  # type: ignore[import-untyped]
import httpx
import psutil  # type: ignore[import-untyped]
from locust import FastHttpUser, TaskSet, events, task
from locust.argument_parser import LocustArgumentParser
from locust.env import Environment

API = "/api/v1"
PER_PAGE = 50
RESULTS = f"{API}/scoring/results/{{campaign_id}}"
SORTS = ("score", "impressions", "ctr", "cpm")
STATUSES: tuple[str | None, ...] = (None, None, "good", "poor")
MIN_IMPRESSIONS: tuple[float | None, ...] = (None, None, None, 1000.0, 10000.0, 50000.0)
TARGET_P99_MS = 100.0
TARGET_USERS = 16
TARGET_THINK_MS = 1000.0
TARGET_ROWS = 200_000

Totals = dict[tuple[str | None, float | None], int]


@dataclass
class Run:
    """What the plan says and what the run has gathered (one locust process, no workers)."""

    accounts: list[dict[str, str]] = field(default_factory=list)  # uid, token, campaign_id
    setup: dict[str, str] = field(default_factory=dict)
    export: Path = Path()
    rows: int = 0
    server_pid: int = 0
    totals: Totals = field(default_factory=dict)
    sorts: tuple[str, ...] = SORTS
    uploads: int = 0
    scoring_runs: list[tuple[str, str]] = field(default_factory=list)  # (token, campaign)
    runs_failed: int = 0
    failures: int = 0  # over the whole run: the warm-up's are not reset
    stopped: bool = False  # the load ran its time (test_stop came before quitting)
    quitting: bool = False
    cpu_start: tuple[float, float, float, float, float] | None = None
    window: list[str] = field(default_factory=list)  # printed after locust's tables
    verdict: list[str] = field(default_factory=list)


RUN = Run()
USER_NUMBERS = itertools.count()
logging.getLogger("httpx").setLevel(logging.WARNING)  # the set-up's and end's own requests


@events.init_command_line_parser.add_listener
def _options(parser: LocustArgumentParser) -> None:
    parser.add_argument("--caliber-plan", default="", help="the plan benchmarks/load.py wrote")
    parser.add_argument("--think-ms", type=float, default=TARGET_THINK_MS, help="0: saturation")
    parser.add_argument("--warmup", type=float, default=10, help="seconds not counted first")
    parser.add_argument("--upload-every", type=int, default=200, help="1 upload in N requests")
    parser.add_argument("--max-uploads", type=int, default=3, help="uploads per run")
    parser.add_argument("--sorts", default=",".join(SORTS), help="sort_by values of result pages")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--check", action="store_true", help="exit 1 if the p99 target is missed")


def _headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@events.init.add_listener
def _load_plan(environment: Environment, **_: Any) -> None:
    options = environment.parsed_options
    if options is None or not options.caliber_plan:
        raise SystemExit("locustfile: --caliber-plan PLAN.json is required (load.py writes it)")
    plan = json.loads(Path(options.caliber_plan).read_text())
    RUN.accounts, RUN.setup, RUN.rows = plan["accounts"], plan["setup"], plan["rows"]
    RUN.export, RUN.server_pid = Path(plan["export"]), plan["server_pid"]
    RUN.sorts = tuple(s for s in options.sorts.split(",") if s)
    random.seed(options.seed)  # locust's own choice of task
    # how many rows each filter of the mix matches: how deep a result page may go
    owner = RUN.accounts[0]
    with httpx.Client(
        base_url=f"{environment.host}{API}", headers=_headers(owner["token"])
    ) as http:
        for status in set(STATUSES):
            for floor in set(MIN_IMPRESSIONS):
                params = {"per_page": 1, "quality_status": status, "min_impressions": floor}
                path = f"/scoring/results/{owner['campaign_id']}"
                page = http.get(path, params={k: v for k, v in params.items() if v is not None})
                page.raise_for_status()
                RUN.totals[(status, floor)] = int(page.json()["total"])

    @environment.events.request.add_listener
    def _count_failure(exception: BaseException | None, **_: Any) -> None:
        if exception is not None:
            RUN.failures += 1


def results_params(rng: random.Random) -> dict[str, Any]:
    """A result page: a sort either way, half of them filtered, 60 % in the first 5
    pages, 30 % in the first 100, 10 % anywhere down to the last."""
    status, floor = rng.choice(STATUSES), rng.choice(MIN_IMPRESSIONS)
    pages = max(1, math.ceil(RUN.totals[(status, floor)] / PER_PAGE))
    pick = rng.random()
    deepest = min(5, pages) if pick < 0.6 else min(100, pages) if pick < 0.9 else pages
    params: dict[str, Any] = {
        "page": rng.randint(1, deepest),
        "per_page": PER_PAGE,
        "sort_by": rng.choice(RUN.sorts),
        "sort_direction": rng.choice(("asc", "desc")),
    }
    if status is not None:
        params["quality_status"] = status
    if floor is not None:
        params["min_impressions"] = floor
    return params


class Mix(TaskSet):
    """The weighted routes; the rare upload is drawn before each pick, as a person
    uploads between reading pages."""

    user: CaliberUser

    def get_next_task(self) -> Any:
        options = self.user.environment.parsed_options
        assert options is not None
        if self.user.rng.randrange(options.upload_every) == 0 and RUN.uploads < options.max_uploads:
            RUN.uploads += 1  # (greenlets: no other user runs between the test and this)
            return Mix.upload_and_score
        return super().get_next_task()

    @task(60)
    def results(self) -> None:
        user = self.user
        path = f"{API}/scoring/results/{user.owner['campaign_id']}"
        params = results_params(user.rng)
        self.client.get(path, params=params, headers=user.owner_headers, name=RESULTS)

    @task(12)
    def campaigns(self) -> None:
        self.client.get(f"{API}/campaigns", headers=self.user.headers)

    @task(12)
    def summary(self) -> None:
        self.user.own_route("summary")

    @task(8)
    def whitelist(self) -> None:
        self.user.own_route("whitelist")

    @task(8)
    def blacklist(self) -> None:
        self.user.own_route("blacklist")

    def upload_and_score(self) -> None:
        """A new campaign, the sample export uploaded, its scoring started (checked at
        the end: it must complete)."""
        client, headers = self.client, self.user.headers
        created = client.post(
            f"{API}/campaigns", json={"name": "Load upload", **RUN.setup}, headers=headers
        )
        if not created.ok:
            return
        campaign_id = created.json()["data"]["id"]
        with RUN.export.open("rb") as handle:
            uploaded = client.post(
                f"{API}/campaigns/{campaign_id}/upload",
                files={"file": (RUN.export.name, handle.read(), "text/csv")},
                headers=headers,
                name=f"{API}/campaigns/{{campaign_id}}/upload",
            )
        if not uploaded.ok:
            return
        started = client.post(
            f"{API}/scoring/start", json={"campaign_id": campaign_id}, headers=headers
        )
        if started.ok:
            RUN.scoring_runs.append((self.user.account["token"], campaign_id))


def think_time(user: CaliberUser) -> float:
    mean = user.think_s
    return user.rng.expovariate(1 / mean) if mean > 0 else 0.0


class CaliberUser(FastHttpUser):
    """One signed-in person on one keep-alive connection."""

    tasks = [Mix]  # noqa: RUF012 (Locust reads the class attribute)
    wait_time = think_time

    def on_start(self) -> None:
        options = self.environment.parsed_options
        assert options is not None
        number = next(USER_NUMBERS)  # user 0 is the big campaign's owner
        self.rng = random.Random(options.seed * 1000 + number)
        self.think_s: float = options.think_ms / 1000
        self.account = RUN.accounts[number % len(RUN.accounts)]
        self.owner = RUN.accounts[0]
        self.headers = _headers(self.account["token"])
        self.owner_headers = _headers(self.owner["token"])
        size = f"{RUN.rows // 1000}k" if RUN.rows >= 1000 else str(RUN.rows)
        self.tag = f" [{size}]" if self.account is self.owner else ""

    def own_route(self, route: str) -> None:
        path = f"{API}/scoring/{route}/{self.account['campaign_id']}"
        name = f"{API}/scoring/{route}/{{campaign_id}}{self.tag}"
        self.client.get(path, headers=self.headers, name=name)


# --- the window, the CPU, the scoring runs and the verdict -----------------------------------


def _cpu() -> tuple[float, float, float, float, float] | None:
    """(wall, CPU of the server's API processes, of this process, machine busy, total);
    None if a process went away meanwhile (no CPU figures then, the rest goes on)."""
    try:
        return _cpu_now()
    except psutil.Error:
        return None


def _cpu_now() -> tuple[float, float, float, float, float]:
    server = psutil.Process(RUN.server_pid)
    worker = f"--exit-with-parent={RUN.server_pid}"  # the embedded job worker: not counted
    api = [server, *(p for p in server.children() if worker not in p.cmdline())]
    machine = psutil.cpu_times()
    idle = machine.idle + getattr(machine, "iowait", 0.0)
    total = sum(machine)
    return (
        time.monotonic(),
        sum(sum(p.cpu_times()[:2]) for p in api),
        sum(psutil.Process().cpu_times()[:2]),
        total - idle,
        total,
    )


@events.test_start.add_listener
def _start_window(environment: Environment, **_: Any) -> None:
    options = environment.parsed_options
    assert options is not None

    def open_window() -> None:
        runner = environment.runner
        assert runner is not None
        errors = runner.stats.errors  # the error report keeps the warm-up's failures
        runner.stats.reset_all()
        runner.stats.errors = errors
        RUN.window.append(f"1-min load average when the window opened: {os.getloadavg()[0]:.1f}")
        RUN.cpu_start = _cpu()

    gevent.spawn_later(options.warmup, open_window)


@events.test_stop.add_listener
def _stop(environment: Environment, **_: Any) -> None:
    end = _cpu() if RUN.cpu_start is not None else None
    if RUN.cpu_start is not None and end is not None:
        wall0, server0, client0, busy0, total0 = RUN.cpu_start
        wall1, server1, client1, busy1, total1 = end
        window, server = wall1 - wall0, server1 - server0
        requests = max(1, environment.stats.total.num_requests)
        machine = (busy1 - busy0) / (total1 - total0) * 100 if total1 > total0 else math.nan
        RUN.window.append(
            f"CPU in the window: server's API processes {server:.1f} s ({server / window:.0%} "
            f"of one core, {server / requests * 1000:.1f} ms per request), locust "
            f"{client1 - client0:.1f} s, whole machine {machine:.0f} % of {os.cpu_count()} cores"
        )
    if RUN.quitting:  # stopped by a signal (load.py's timeout or ^C): no waiting
        return
    RUN.stopped = True
    for token, campaign_id in RUN.scoring_runs:
        deadline, status = time.monotonic() + 180, ""
        with httpx.Client(base_url=f"{environment.host}{API}", headers=_headers(token)) as http:
            while status not in ("completed", "failed") and time.monotonic() < deadline:
                gevent.sleep(0.25)
                try:
                    progress = http.get(f"/scoring/progress/{campaign_id}")
                except httpx.HTTPError:
                    break  # the server is gone: the run did not complete
                status = progress.json()["data"]["status"] if progress.is_success else ""
        RUN.runs_failed += status != "completed"


@events.quitting.add_listener
def _verdict(environment: Environment, **_: Any) -> None:
    RUN.quitting = True
    options = environment.parsed_options
    assert options is not None
    entry = environment.stats.entries.get((RESULTS, "GET"))
    p99 = entry.get_response_time_percentile(0.99) if entry and entry.num_requests else math.nan
    users = options.num_users or 0
    met = (
        p99 < TARGET_P99_MS
        and RUN.failures == 0
        and users >= TARGET_USERS
        and RUN.rows >= TARGET_ROWS
        and options.think_ms <= TARGET_THINK_MS
    )
    runs = f"{RUN.runs_failed} did not complete" if RUN.stopped else "not checked: stopped early"
    RUN.verdict += [
        f"uploads scored during the load: {len(RUN.scoring_runs)} ({runs}); requests failed "
        f"over the whole run, warm-up included: {RUN.failures}",
        f"target: results pages p99 < {TARGET_P99_MS:g} ms at {TARGET_USERS} users (think "
        f"time <= {TARGET_THINK_MS:g} ms) on a {TARGET_ROWS:,}-row campaign, no failures: "
        f"p99 {p99:g} ms with {users} users, think time {options.think_ms:g} ms, "
        f"{RUN.rows:,} rows, {RUN.failures} failures: {'met' if met else 'MISSED'}",
    ]
    failed = RUN.failures > 0 or RUN.runs_failed > 0
    missed = options.check and not p99 < TARGET_P99_MS
    RUN.verdict.append(f"RESULT: {'FAIL' if failed or missed else 'OK'}")
    environment.process_exit_code = 1 if failed or missed else 0


@events.quit.add_listener
def _print_verdict(**_: Any) -> None:
    print("\n" + "\n".join([*RUN.window, *RUN.verdict]), flush=True)
