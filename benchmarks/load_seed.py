"""The data of the load test (benchmarks/load.py): accounts with a scored campaign each,
made through the API, and the owner's campaign given a 200k-row run (its file in the
server's storage, its run row in the database)."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from tests.api.firebase import SigningKey, mint

from caliber.db.models import Campaign, ScoringRun
from caliber.db.session import build_engine, session_factory, session_scope
from caliber.scoring import frames, legacy, saving, store
from caliber.storage.local import LocalStorage
from result_pages import _rows as result_page_rows

API = "/api/v1"
SETUP = {"platform": "trade_desk", "goal": "awareness", "channel": "display"}

Account = dict[str, str]  # uid, token, campaign_id: what the locustfile reads from the plan


class SetupError(Exception):
    """The benchmark could not be set up (a command failed, the server did not start)."""


def _check(response: httpx.Response, what: str) -> dict[str, Any]:
    if response.status_code >= 400:
        raise SetupError(f"{what}: HTTP {response.status_code}: {response.text[:500]}")
    body: dict[str, Any] = response.json()
    return body


def _client(base: str, token: str) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"}
    return httpx.Client(base_url=base + API, headers=headers, timeout=60)


def seed_accounts(
    base: str, key: SigningKey, users: int, export: Path, token_lifetime: int
) -> list[Account]:
    """Sign every user in and give each a campaign with ``export`` scored (through the
    API, all scoring at once); user 0's campaign is the one to grow."""
    accounts = []
    for index in range(users):
        uid = f"load-user-{index:02d}"
        token = mint(key, uid, email=f"{uid}@example.com", lifetime=token_lifetime)
        name = "Load 200k" if index == 0 else f"Load small {index:02d}"
        with _client(base, token) as http, export.open("rb") as handle:
            _check(http.post("/auth/login", json={"token": token}), "login")
            created = _check(http.post("/campaigns", json={"name": name, **SETUP}), "create")
            campaign_id = created["data"]["id"]
            files = {"file": (export.name, handle, "text/csv")}
            _check(http.post(f"/campaigns/{campaign_id}/upload", files=files), "upload")
            _check(http.post("/scoring/start", json={"campaign_id": campaign_id}), "start")
        accounts.append({"uid": uid, "token": token, "campaign_id": campaign_id})
    for account in accounts:
        deadline, status = time.monotonic() + 300, ""
        with _client(base, account["token"]) as http:
            while status not in ("completed", "failed") and time.monotonic() < deadline:
                progress = http.get(f"/scoring/progress/{account['campaign_id']}")
                status = _check(progress, "progress")["data"]["status"]
                time.sleep(0.25)
        if status != "completed":
            raise SetupError(f"scoring of {account['uid']}'s campaign: {status or 'timed out'}")
    return accounts


def _status(score: float) -> str:
    """The engine's rule: good >= 75, moderate >= 25, poor below."""
    return "good" if score >= 75 else "moderate" if score >= 25 else "poor"


def seed_big_campaign(
    base: str, url: str, owner: Account, rows: int, *, storage_dir: Path, vacuum: bool = True
) -> float:
    """Give the owner's (scored) campaign a new run of ``rows`` rows, made of the real
    run's payloads (metrics, breakdown, spend...), stored as the scoring job stores one
    (its file in ``storage_dir``, the server's storage); return the write time.
    (``vacuum`` is kept for the command line: runs are files, no table is vacuumed.)"""
    del vacuum
    engine = build_engine(url)
    storage = LocalStorage(storage_dir)
    store.attach(engine, storage)
    try:
        sessions = session_factory(engine)
        cid = uuid.UUID(owner["campaign_id"])
        with session_scope(sessions) as session:
            campaign = session.get(Campaign, cid)
            assert campaign is not None
            run = session.get(ScoringRun, campaign.results_run_id)
            if run is None:
                raise SetupError("the owner's sample campaign has no completed run")
            real = store.load(session, run)
            summary: dict[str, Any] = dict(run.summary or {})
            snapshot: dict[str, Any] = dict(run.snapshot or {})
            models = real.records(range(real.height))
        generated = result_page_rows(cid, rows)
        for index, row in enumerate(generated):
            model = models[index % len(models)]  # real payloads: metrics, breakdown, spend..
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
        data = frames.to_parquet(legacy.frame_of(generated, real.layout))
        with session_scope(sessions) as session:
            saving.seed_run(session, storage, cid, data, snapshot, summary)
            campaign = session.get(Campaign, cid)
            assert campaign is not None
            campaign.total_records = campaign.processed_records = rows
        write_s = time.perf_counter() - start
    finally:
        engine.dispose()
    with _client(base, owner["token"]) as http:
        page = http.get(f"/scoring/results/{owner['campaign_id']}", params={"per_page": 1})
        if _check(page, "results")["total"] != rows:
            raise SetupError(f"the big campaign does not have {rows} rows: {page.text[:300]}")
    return write_s
