"""The whole service as a user meets it: `caliber serve` on loopback, real HTTP.

A new user signs in with a token of the configured project, creates a campaign,
uploads a real-format export, scores it, and reads results, summary and lists that
match `caliber score` on the same file; another user sees none of it.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from caliber.sample.export import write_sample
from caliber.worker.embedded import NICENESS
from tests.api.firebase import PROJECT_ID, CertServer, make_key, mint

CALIBER = str(Path(sys.executable).parent / "caliber")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    base: str
    certs: CertServer
    process: subprocess.Popen[bytes]


def processes() -> Iterator[tuple[int, int, list[bytes]]]:
    """(pid, parent pid, command line) of every process still readable in /proc."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        yield int(entry.name), ppid, cmdline


def worker_pids(server_pid: int) -> list[int]:
    """The embedded worker's main process (started by `caliber serve` with its pid)."""
    marker = f"--exit-with-parent={server_pid}".encode()
    found = [pid for pid, _, cmdline in processes() if marker in cmdline and b"worker" in cmdline]
    # the pool processes share the command line: the main process is the session leader
    return [pid for pid in found if os.getsid(pid) == pid] if found else []


def _niceness(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])


def serve_env(data_dir: Path, certs: CertServer, **extra: str) -> dict[str, str]:
    """The environment of a `caliber serve` on its own: SQLite and files in ``data_dir``
    (the embedded worker too), tokens signed by ``certs``' keys, one API process."""
    env = {
        **os.environ,
        "ENVIRONMENT": "development",
        "DATA_DIR": str(data_dir),
        "FIREBASE_PROJECT_ID": PROJECT_ID,
        "FIREBASE_CERTS_URL": certs.url,
        "AUTH_DEV_MODE": "false",
        **extra,
    }
    for name in ("DATABASE_URL", "API_WORKERS", "REDIS_URL", "CELERY_BROKER_URL"):
        env.pop(name, None)
    return env


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    key = make_key("e2e-key")
    certs = CertServer([key])
    certs.start()
    port = _free_port()
    data_dir = tmp_path_factory.mktemp("serve")
    env = serve_env(data_dir, certs, MAX_UPLOAD_MB="20")
    log = (data_dir / "server.log").open("w")
    process = subprocess.Popen(
        [CALIBER, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        cwd=data_dir,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                log.flush()
                pytest.fail("caliber serve did not start: " + (data_dir / "server.log").read_text())
            time.sleep(0.2)
        yield Server(base, certs, process)
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()
        certs.stop()
    # the server stops its worker on the way out
    assert worker_pids(process.pid) == []


def _headers(certs: CertServer, uid: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint(certs.keys[0], uid, email=f'{uid}@example.com')}"}


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_sign_in_upload_score_and_read_like_the_cli(server: Server, tmp_path: Path) -> None:
    base, certs = server.base, server.certs
    alice = _headers(certs, "alice-e2e")
    api = f"{base}/api/v1"
    with httpx.Client(base_url=api, headers=alice, timeout=30) as http:
        login = http.post("/auth/login", json={"token": alice["Authorization"][7:]})
        assert login.status_code == 200, login.text
        created = http.post(
            "/campaigns",
            json={
                "name": "Spring display",
                "platform": "trade_desk",
                "goal": "awareness",
                "channel": "display",
            },
        )
        assert created.status_code in (200, 201), created.text
        campaign_id = created.json()["data"]["id"]

        export = tmp_path / "export.csv"
        write_sample(export, "trade_desk", "display", rows=4000, seed=3)
        with export.open("rb") as handle:
            uploaded = http.post(
                f"/campaigns/{campaign_id}/upload",
                files={"file": ("export.csv", handle, "text/csv")},
            )
        assert uploaded.status_code in (200, 201), uploaded.text

        started = http.post("/scoring/start", json={"campaign_id": campaign_id})
        assert started.status_code in (200, 202), started.text
        deadline = time.monotonic() + 60
        while True:
            progress = http.get(f"/scoring/progress/{campaign_id}").json()["data"]
            if progress["status"] in ("completed", "failed"):
                break
            assert time.monotonic() < deadline, progress
            time.sleep(0.2)
        assert progress["status"] == "completed", progress

        summary = http.get(f"/scoring/summary/{campaign_id}").json()["data"]
        whitelist = http.get(f"/scoring/whitelist/{campaign_id}").json()["data"]
        blacklist = http.get(f"/scoring/blacklist/{campaign_id}").json()["data"]
        results = http.get(
            f"/scoring/results/{campaign_id}", params={"per_page": 5, "sort_by": "score"}
        ).json()

        # downloads, a background export through the embedded worker, and the analyst
        pdf = http.get(f"/reports/campaigns/{campaign_id}/pdf")
        assert pdf.status_code == 200
        assert pdf.content.startswith(b"%PDF")
        dsp_list = http.get(f"/reports/export/campaigns/{campaign_id}/whitelist/txt")
        assert dsp_list.text.splitlines()
        queued = http.post(
            "/reports/exports", json={"campaign_id": campaign_id, "format": "results_csv"}
        )
        assert queued.status_code == 202, queued.text
        export_id = queued.json()["data"]["id"]
        deadline = time.monotonic() + 60
        while (state := http.get(f"/reports/exports/{export_id}").json()["data"])["status"] not in (
            "completed",
            "failed",
        ):
            assert time.monotonic() < deadline, state
            time.sleep(0.2)
        assert state["status"] == "completed", state
        csv_export = http.get(f"/reports/exports/{export_id}/download").content.decode("utf-8-sig")
        assert len(csv_export.splitlines()) == summary["row_count"] + 1
        answer = http.post(
            "/ai/chat", json={"message": "What should I change first?", "campaign_id": campaign_id}
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["data"]["response"]

    out = tmp_path / "cli"
    subprocess.run(
        [
            CALIBER,
            "score",
            str(export),
            "-p",
            "trade_desk",
            "-g",
            "awareness",
            "-c",
            "display",
            "-o",
            str(out),
            "-q",
        ],
        check=True,
    )
    cli_summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["campaign_level_score"] == cli_summary["campaign_level_score"]
    assert summary["score_distribution"] == cli_summary["score_distribution"]
    assert whitelist["domains"] == [r["domain"] for r in _read_csv(out / "whitelist.csv")]
    assert blacklist["domains"] == [r["domain"] for r in _read_csv(out / "blacklist.csv")]
    cli_top = _read_csv(out / "results.csv")[:5]
    assert [r["domain"] for r in results["data"]] == [r["domain"] for r in cli_top]
    assert results["total"] == cli_summary["row_count"]

    bob = _headers(certs, "bob-e2e")
    with httpx.Client(base_url=api, headers=bob, timeout=30) as http:
        for path in (
            f"/campaigns/{campaign_id}",
            f"/scoring/progress/{campaign_id}",
            f"/scoring/results/{campaign_id}",
            f"/scoring/summary/{campaign_id}",
            f"/scoring/whitelist/{campaign_id}",
        ):
            response = http.get(path)
            assert response.status_code == 404, (path, response.text)
            assert response.json()["success"] is False
        assert http.get("/campaigns").json()["total"] == 0


def test_no_token_is_401(server: Server) -> None:
    response = httpx.get(f"{server.base}/api/v1/campaigns", timeout=10)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


def _score(http: httpx.Client, tmp_path: Path, rows: int) -> str:
    created = http.post(
        "/campaigns",
        json={"name": "Crash", "platform": "trade_desk", "goal": "awareness", "channel": "display"},
    )
    campaign_id: str = created.json()["data"]["id"]
    export = tmp_path / "big.csv"
    write_sample(export, "trade_desk", "display", rows=rows, seed=11)
    with export.open("rb") as handle:
        uploaded = http.post(
            f"/campaigns/{campaign_id}/upload", files={"file": ("big.csv", handle, "text/csv")}
        )
    assert uploaded.status_code in (200, 201), uploaded.text
    started = http.post("/scoring/start", json={"campaign_id": campaign_id})
    assert started.status_code in (200, 202), started.text
    return campaign_id


def test_jobs_run_on_the_embedded_worker_which_survives_a_crash(
    server: Server, tmp_path: Path
) -> None:
    """No Redis: jobs go through Celery's file broker to the worker `caliber serve` runs.
    Killing that worker mid-run: the server starts a new one, which sends the run again,
    and the campaign completes with exactly one set of results."""
    ready = httpx.get(f"{server.base}/ready", timeout=10).json()["data"]
    assert ready["jobs"] == "celery-embedded"
    assert ready["checks"]["broker"] == "ok"
    [first_worker] = worker_pids(server.process.pid)
    # batch work: at a lower CPU priority than the API
    assert _niceness(first_worker) == max(NICENESS, _niceness(server.process.pid))

    headers = _headers(server.certs, "carol-e2e")
    with httpx.Client(base_url=f"{server.base}/api/v1", headers=headers, timeout=30) as http:
        campaign_id = _score(http, tmp_path, rows=60_000)
        deadline = time.monotonic() + 60
        while True:  # wait until the worker has claimed the run
            progress = http.get(f"/scoring/progress/{campaign_id}").json()["data"]
            if progress["current_step"] not in (None, "queued"):
                break
            assert time.monotonic() < deadline, progress
            time.sleep(0.05)
        assert progress["status"] == "processing", "the run finished before the kill"
        os.killpg(first_worker, signal.SIGKILL)

        deadline = time.monotonic() + 120
        while True:
            progress = http.get(f"/scoring/progress/{campaign_id}").json()["data"]
            if progress["status"] in ("completed", "failed"):
                break
            assert time.monotonic() < deadline, progress
            time.sleep(0.2)
        assert progress["status"] == "completed", progress
        [second_worker] = worker_pids(server.process.pid)
        assert second_worker != first_worker

        summary = http.get(f"/scoring/summary/{campaign_id}").json()["data"]
        page = http.get(f"/scoring/results/{campaign_id}", params={"per_page": 100}).json()
        assert page["total"] == summary["row_count"] > 0
        ranks = [row["rank"] for row in page["data"]]
        assert ranks == list(range(1, len(ranks) + 1))
