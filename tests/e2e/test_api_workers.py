"""`caliber serve --workers N`: N API processes on one port, one embedded job worker.

Real processes on loopback: pages read over many connections are the same whichever
process answers, ``/metrics`` adds up the counts of every process (prometheus-client's
multiprocess mode), a job runs on the single embedded worker, an API process that dies is
replaced (and leaves the live sums), and SIGTERM stops every process the server
started.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from tests.api.firebase import CertServer, make_key
from tests.e2e.test_server import (
    CALIBER,
    _free_port,
    _headers,
    _score,
    processes,
    serve_env,
    worker_pids,
)


def api_processes(server_pid: int) -> list[int]:
    """The uvicorn worker processes of `caliber serve --workers` (spawned children)."""
    return sorted(
        pid
        for pid, ppid, cmdline in processes()
        if ppid == server_pid and any(b"spawn_main" in part for part in cmdline)
    )


RESULTS_ROUTE = "/api/v1/scoring/results/{campaign_id}"


def _metric(base: str, name: str, *labels: str) -> float:
    """One sample of ``GET /metrics`` (labels: method, route, status), 0 when absent."""
    response = httpx.get(f"{base}/metrics", timeout=10)
    assert response.status_code == 200, response.text
    wanted = dict(zip(("method", "route", "status"), labels, strict=False))
    return sum(
        sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
        if sample.name == name and sample.labels == wanted
    )


def _metrics_folder(pid: int) -> Path:
    """The multiprocess metrics folder API process ``pid`` was started with."""
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    [folder] = [
        v.split(b"=", 1)[1].decode() for v in environ if v.startswith(b"PROMETHEUS_MULTIPROC_DIR=")
    ]
    return Path(folder)


def _counts_itself(pid: int) -> bool:
    """Whether API process ``pid`` has written its own caliber_api_processes 1 (in the
    multiprocess folder its environment names)."""
    own = [str(p) for p in _metrics_folder(pid).glob(f"gauge_livesum_{pid}.db")]
    return any(
        sample.value == 1
        for family in MultiProcessCollector.merge(own, accumulate=False)  # type: ignore[no-untyped-call]
        for sample in family.samples
        if sample.name == "caliber_api_processes"
    )


def _wait(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


@pytest.fixture
def certs() -> Iterator[CertServer]:
    server = CertServer([make_key("workers-key")])
    server.start()
    yield server
    server.stop()


def _start(certs: CertServer, data_dir: Path, *args: str) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = serve_env(data_dir, certs)
    log = (data_dir / "server.log").open("wb")
    process = subprocess.Popen(
        [CALIBER, "serve", "--host", "127.0.0.1", "--port", str(port), *args],
        env=env,
        cwd=data_dir,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    return process, f"http://127.0.0.1:{port}"


def test_several_api_processes_share_the_port_and_one_job_worker(
    certs: CertServer, tmp_path: Path
) -> None:
    data_dir = tmp_path / "serve"
    data_dir.mkdir()
    process, base = _start(certs, data_dir, "--workers", "2")
    try:

        def healthy() -> bool:
            try:
                return httpx.get(f"{base}/health", timeout=1).status_code == 200
            except httpx.HTTPError:
                return process.poll() is not None  # fail fast below

        _wait(healthy, 60, "caliber serve --workers 2 did not start")
        assert process.poll() is None, (data_dir / "server.log").read_text()
        _wait(lambda: len(api_processes(process.pid)) == 2, 30, "two API processes")
        assert len(worker_pids(process.pid)) == 1  # one embedded job worker, not one each

        headers = _headers(certs, "wanda-workers")
        with httpx.Client(base_url=f"{base}/api/v1", headers=headers, timeout=30) as http:
            campaign_id = _score(http, tmp_path, rows=300)

            def done() -> bool:
                progress = http.get(f"/scoring/progress/{campaign_id}").json()["data"]
                return progress["status"] in ("completed", "failed")

            _wait(done, 120, "the run did not finish")
            summary = http.get(f"/scoring/summary/{campaign_id}").json()["data"]
            first = None
            for _ in range(30):  # new connections: the kernel spreads them over both
                with httpx.Client(base_url=f"{base}/api/v1", headers=headers) as fresh:
                    page = fresh.get(f"/scoring/results/{campaign_id}", params={"per_page": 20})
                    assert page.status_code == 200, page.text
                    first = first or page.json()
                    assert page.json() == first  # same page whichever process answers
            assert first is not None
            assert first["total"] == summary["row_count"] > 0

        # /metrics adds up both processes, whichever answers the scrape
        children = api_processes(process.pid)
        metrics_folder = _metrics_folder(children[0])
        assert metrics_folder.is_dir()
        pages = ("caliber_http_requests_total", "GET", RESULTS_ROUTE, "200")
        assert _metric(base, "caliber_api_processes") == 2
        _wait(lambda: _metric(base, *pages) == 30, 10, "the 30 pages are not all counted")

        # an API process that dies is replaced; the port keeps answering
        victim = api_processes(process.pid)[0]
        os.kill(victim, signal.SIGKILL)
        _wait(
            lambda: (
                victim not in api_processes(process.pid) and len(api_processes(process.pid)) == 2
            ),
            60,
            "the killed API process was not replaced",
        )
        _wait(healthy, 30, "no answer after an API process was replaced")
        # the killed process's counts stay; its live gauges leave the sums (once its
        # replacement counts itself: 2, not 3)
        [replacement] = set(api_processes(process.pid)) - set(children)
        _wait(lambda: _counts_itself(replacement), 30, "the replacement did not start")
        assert _metric(base, "caliber_api_processes") == 2
        assert _metric(base, *pages) == 30
    finally:
        children = api_processes(process.pid)
        process.terminate()
        process.wait(timeout=60)
    assert process.returncode == 0, (data_dir / "server.log").read_text()[-2000:]
    for pid in children:  # every API process stopped with the server
        _wait(lambda pid=pid: not Path(f"/proc/{pid}").exists(), 10, f"API process {pid} left")
    assert worker_pids(process.pid) == []
    assert not metrics_folder.exists()  # removed with the server


def test_a_bad_worker_count_is_refused(certs: CertServer, tmp_path: Path) -> None:
    process, _ = _start(certs, tmp_path, "--workers", "0", "--no-migrate")
    assert process.wait(timeout=30) != 0
    assert "--workers must be between 1 and 64" in (tmp_path / "server.log").read_text()
