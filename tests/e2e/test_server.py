"""The whole service as a user meets it: `caliber serve` on loopback, real HTTP.

A new user signs in with a token of the configured project, creates a campaign,
uploads a real-format export, scores it, and reads results, summary and lists that
match `caliber score` on the same file; another user sees none of it.
"""

from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from caliber.sample import write_sample
from tests.api.firebase import PROJECT_ID, CertServer, make_key, mint

CALIBER = str(Path(sys.executable).parent / "caliber")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, CertServer]]:
    key = make_key("e2e-key")
    certs = CertServer([key])
    certs.start()
    port = _free_port()
    data_dir = tmp_path_factory.mktemp("serve")
    env = {
        **os.environ,
        "ENVIRONMENT": "development",
        "DATA_DIR": str(data_dir),
        "FIREBASE_PROJECT_ID": PROJECT_ID,
        "FIREBASE_CERTS_URL": certs.url,
        "AUTH_DEV_MODE": "false",
        "MAX_UPLOAD_MB": "20",
    }
    env.pop("DATABASE_URL", None)
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
        yield base, certs
    finally:
        process.terminate()
        process.wait(timeout=15)
        log.close()
        certs.stop()


def _headers(certs: CertServer, uid: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint(certs.keys[0], uid, email=f'{uid}@example.com')}"}


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_sign_in_upload_score_and_read_like_the_cli(
    server: tuple[str, CertServer], tmp_path: Path
) -> None:
    base, certs = server
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


def test_no_token_is_401(server: tuple[str, CertServer]) -> None:
    base, _ = server
    response = httpx.get(f"{base}/api/v1/campaigns", timeout=10)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
