"""The product side of benchmarks/end_to_end.py: a `caliber serve` on one backend, a user
dropping the export on it (upload, start, completed, first results page, whitelist, each
timed), the worker process tree's peak memory meanwhile, and the run's rows stored
in process as the scoring job stores them (rows a second)."""

from __future__ import annotations

import os
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil  # type: ignore[import-untyped]
from tests.api.firebase import PROJECT_ID, CertServer, make_key, mint

from caliber.db.session import build_engine, session_factory, session_scope
from caliber.engine.pipeline import ScoringResult
from caliber.scoring import frames, saving
from caliber.scoring import jobs as scoring_jobs
from caliber.storage.local import LocalStorage
from load import CALIBER, _admin, _libpq, start, start_server
from load_seed import SETUP, SetupError

API = "/api/v1"
PHASES = ("upload", "start", "completed", "first_page", "whitelist")
POLL_S = 0.025  # progress polls while the run scores: the 'completed' phase's resolution
MEMORY_POLL_S = 0.02


@dataclass
class Backend:
    """Where a product run happens: ``embedded`` (SQLite, local files, the embedded
    worker: `caliber serve`'s defaults) or ``postgres`` (PostgreSQL, Redis, `caliber
    worker` apart)."""

    name: str
    database_url: str | None = None  # the admin URL of the PostgreSQL server
    redis_url: str | None = None
    db_name: str = "caliber_e2e"


@dataclass
class ProductFigures:
    backend: str
    phases: dict[str, float] = field(default_factory=dict)
    result_rows: int = 0
    whitelist_rows: int = 0
    # the worker's process tree, highest sample: the sum of its processes' PSS (each
    # shared page counted once in all), the sum of their RSS (shared pages counted in
    # every process that maps them), and its largest process's RSS
    worker_peak_mb: float = 0.0
    worker_rss_sum_peak_mb: float = 0.0
    worker_process_peak_mb: float = 0.0
    store_rows: int = 0
    store_s: float = 0.0
    # when the progress polls first saw each step of the run, seconds after the start
    steps: dict[str, float] = field(default_factory=dict)

    @property
    def drop_to_first_page_s(self) -> float:
        return sum(self.phases.values())

    @property
    def stored_rows_per_s(self) -> float:
        return self.store_rows / self.store_s if self.store_s > 0 else 0.0


class TreePeak(threading.Thread):
    """Polls the memory of the processes ``roots()`` names and of their descendants: the
    highest sum of their PSS and of their RSS, and the highest single RSS, seen while it
    runs. PSS (Linux, /proc/PID/smaps_rollup) splits a page shared by N processes (the
    pool's children share the parent's imported modules) N ways, so the tree's sum is
    what the tree holds; a sum of RSS counts such a page once per process."""

    def __init__(self, roots: Callable[[], list[psutil.Process]]) -> None:
        super().__init__(name="e2e-memory", daemon=True)
        self._roots = roots
        self._done = threading.Event()
        self.peak_pss = 0
        self.peak_sum = 0
        self.peak_one = 0

    def run(self) -> None:
        while not self._done.is_set():
            self.sample()
            self._done.wait(MEMORY_POLL_S)

    def sample(self) -> None:
        procs: list[psutil.Process] = []
        for root in self._roots():
            try:
                procs += [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                continue
        sizes, shares = [], []
        for proc in procs:
            try:
                full = proc.memory_full_info()
            except psutil.NoSuchProcess:
                continue
            sizes.append(full.rss)
            shares.append(getattr(full, "pss", full.rss))  # no PSS off Linux: RSS
        self.peak_pss = max(self.peak_pss, sum(shares))
        self.peak_sum = max(self.peak_sum, sum(sizes))
        self.peak_one = max(self.peak_one, max(sizes, default=0))

    def stop(self) -> None:
        self._done.set()
        self.join(timeout=5)
        self.sample()


def _worker_roots(server_pid: int, worker_pid: int | None) -> Callable[[], list[psutil.Process]]:
    """The separate worker, or the server's embedded one (its child running `worker`)."""

    def roots() -> list[psutil.Process]:
        if worker_pid is not None:
            return [psutil.Process(worker_pid)]
        try:
            children = psutil.Process(server_pid).children()
        except psutil.NoSuchProcess:
            return []
        found = []
        for child in children:
            try:
                if "worker" in child.cmdline():
                    found.append(child)
            except psutil.NoSuchProcess:
                continue
        return found

    return roots


def _check(response: httpx.Response, what: str) -> dict[str, Any]:
    if response.status_code >= 400:
        raise SetupError(f"{what}: HTTP {response.status_code}: {response.text[:500]}")
    body: dict[str, Any] = response.json()
    return body


def _timed(figures: ProductFigures, phase: str, call: Callable[[], httpx.Response]) -> Any:
    started = time.perf_counter()
    response = call()
    figures.phases[phase] = time.perf_counter() - started
    return _check(response, phase)


def _environment(backend: Backend, work: Path, stack: ExitStack, certs_url: str) -> dict[str, str]:
    env = {
        **os.environ,
        "ENVIRONMENT": "development",
        "AUTH_DEV_MODE": "false",
        "DATA_DIR": str(work / "data"),
        "FIREBASE_PROJECT_ID": PROJECT_ID,
        "FIREBASE_CERTS_URL": certs_url,
        "MAX_UPLOAD_MB": "1000",  # the 1M-row export is ~77 MB; the default limit is 50
    }
    for variable in (
        "DATABASE_URL",
        "REDIS_URL",
        "CELERY_BROKER_URL",
        "STORAGE_DIR",
        "AWS_BUCKET_NAME",
        "API_WORKERS",
        "JOB_WORKERS",
    ):
        env.pop(variable, None)
    if backend.name == "postgres":
        assert backend.database_url is not None
        assert backend.redis_url is not None
        name = backend.db_name
        drop = f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
        _admin(backend.database_url, _sql(drop), _sql(f'CREATE DATABASE "{name}"'))
        stack.callback(_admin, backend.database_url, _sql(drop))
        env["DATABASE_URL"] = _libpq(backend.database_url, name)
        env["REDIS_URL"] = backend.redis_url
    upgraded = subprocess.run(
        [CALIBER, "db", "upgrade"], env=env, capture_output=True, timeout=180, check=False
    )
    if upgraded.returncode != 0:
        raise SetupError("caliber db upgrade failed:\n" + upgraded.stderr.decode()[-2000:])
    return env


def _sql(text: str) -> Any:
    from psycopg import sql

    return sql.SQL(text)  # names are the benchmark's own


def run_product(
    backend: Backend,
    export: Path,
    warmup: Path,
    work: Path,
    result: Callable[[], ScoringResult],
) -> ProductFigures:
    """Start the service on ``backend``, score ``warmup`` (a small export) once so the
    worker is up and has imported the engine, as a running service's has, then drop
    ``export`` on it and time each phase; then store ``result()`` (the engine's result of
    the same file) as a run is stored."""
    work.mkdir(parents=True, exist_ok=True)
    figures = ProductFigures(backend.name)
    with ExitStack() as stack:
        key = make_key("e2e-key")
        certs = CertServer([key])
        certs.start()
        stack.callback(certs.stop)
        env = _environment(backend, work, stack, certs.url)
        worker_pid = None
        if backend.name == "postgres":  # `caliber serve` embeds a worker only without Redis
            command = [CALIBER, "worker", "--concurrency", "2", "--loglevel", "warning"]
            worker_pid = start(command, env, work / "worker.log", stack).pid
        server, base = start_server(env, work, stack, 1)
        token = mint(key, "e2e-user", email="e2e@example.com", lifetime=3600)
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=base + API, headers=headers, timeout=600) as http:
            _check(http.post("/auth/login", json={"token": token}), "login")
            _drop(http, warmup, "e2e warm-up", ProductFigures(backend.name))
            memory = TreePeak(_worker_roots(server.pid, worker_pid))
            cid = _drop(http, export, "e2e", figures, memory)
            figures.worker_peak_mb = memory.peak_pss / 1e6
            figures.worker_rss_sum_peak_mb = memory.peak_sum / 1e6
            figures.worker_process_peak_mb = memory.peak_one / 1e6
            page = _timed(figures, "first_page", lambda: http.get(f"/scoring/results/{cid}"))
            figures.result_rows = int(page["total"])
            listed = _timed(figures, "whitelist", lambda: http.get(f"/scoring/whitelist/{cid}"))
            figures.whitelist_rows = int(listed["data"]["count"])
            other = _check(http.post("/campaigns", json={"name": "e2e store", **SETUP}), "create")
        _store(figures, env, uuid.UUID(other["data"]["id"]), result())
    return figures


def _drop(
    http: httpx.Client,
    export: Path,
    name: str,
    figures: ProductFigures,
    memory: TreePeak | None = None,
) -> str:
    """A new campaign given ``export``: upload, start and wait until it completed (each
    phase timed, the worker's memory watched from start to completion); its id."""
    created = _check(http.post("/campaigns", json={"name": name, **SETUP}), "create")
    cid = str(created["data"]["id"])
    with export.open("rb") as handle:
        files = {"file": (export.name, handle, "text/csv")}
        _timed(figures, "upload", lambda: http.post(f"/campaigns/{cid}/upload", files=files))
    if memory is not None:
        memory.start()
    try:
        body = {"campaign_id": cid}
        _timed(figures, "start", lambda: http.post("/scoring/start", json=body))
        began = time.perf_counter()
        figures.steps = _wait_completed(http, cid, began)
        figures.phases["completed"] = time.perf_counter() - began
    finally:
        if memory is not None:
            memory.stop()
    return cid


def _wait_completed(http: httpx.Client, cid: str, began: float) -> dict[str, float]:
    """Poll the run's progress until it completed: when each step was first seen."""
    deadline = time.monotonic() + 900
    steps: dict[str, float] = {}
    while time.monotonic() < deadline:
        data = _check(http.get(f"/scoring/progress/{cid}"), "progress")["data"]
        steps.setdefault(str(data["current_step"]), time.perf_counter() - began)
        if data["status"] == "failed":
            raise SetupError(f"the scoring run failed: {data['error_message']}")
        if data["status"] == "completed":
            return steps
        time.sleep(POLL_S)
    raise SetupError("the scoring run did not complete within 15 minutes")


def _store(
    figures: ProductFigures, env: dict[str, str], campaign_id: uuid.UUID, result: ScoringResult
) -> None:
    """The scoring job's store of ``result``: its frame prepared and written as the run's
    file, the run completed and made the campaign's results (one transaction)."""
    url = env.get("DATABASE_URL") or f"sqlite:///{Path(env['DATA_DIR']) / 'caliber.db'}"
    engine = build_engine(url)
    try:
        sessions = session_factory(engine)
        storage = LocalStorage(Path(env["DATA_DIR"]) / "files")
        completion = scoring_jobs.completion(result)
        summary = completion["summary"]
        started = time.perf_counter()
        data = frames.to_parquet(frames.prepare(result.results, result.dimension))
        with session_scope(sessions) as session:
            saving.seed_run(session, storage, campaign_id, data, {"setup": SETUP}, summary)
        figures.store_s = time.perf_counter() - started
        figures.store_rows = result.results.height
    finally:
        engine.dispose()
