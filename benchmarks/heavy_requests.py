"""Exports and analyses of a large campaign, through the API in process.

Run: ``python benchmarks/heavy_requests.py [--rows 300000] [--database-url URL]``
(default: a temporary SQLite file). It writes a Trade Desk display export with one row
per domain (``--rows`` domains), scores it through the API (upload, ``/scoring/start``,
the job in a thread pool), then times, each as one HTTP request read to its last byte:

- the results CSV, the campaign JSON with every result, the whitelist CSV and the
  whitelist as a DSP text list (``/reports/export/...``);
- ``/scoring/outliers?method=combined``, ``/scoring/explain?method=shap`` and
  ``/scoring/weights/suggest`` (method ``correlation`` against ``conversions``), first
  (cold: computed) and again (warm: the per-run cache);
- six results CSVs sent at once by the same user: with ``HEAVY_REQUESTS_PER_USER=2``,
  two are answered and four refused at once with 429.

Every figure is also given as a ratio to a reference measured in the same run on the
same machine: polars ``write_csv`` of the same campaign's results frame (every stored
column of every row, written to memory). Exports stream, so it also prints how much the
process's peak memory (RSS high-water mark, from /proc) grew while serving the results
CSV, which the client reads and drops chunk by chunk.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from fastapi.testclient import TestClient

from caliber.api.app import create_app
from caliber.core.settings import Environment, Settings
from caliber.db.migrate import upgrade
from caliber.db.models import Campaign
from caliber.scoring import results as scoring_results

API = "/api/v1"
SETUP = {"platform": "trade_desk", "goal": "awareness", "channel": "display"}
AT_ONCE = 6  # results CSVs one user asks for at the same time


def export_csv(rows: int, seed: int = 7) -> bytes:
    """A Trade Desk display export with one row per domain (all of them scored)."""
    rng = np.random.default_rng(seed)
    impressions = (rng.lognormal(8.0, 1.2, rows) + 300).astype(np.int64)
    clicks = (impressions * rng.uniform(0.0005, 0.006, rows)).astype(np.int64)
    frame = pl.DataFrame(
        {
            "Date": ["2024-03-01"] * rows,
            "Site": [f"site{i:07d}.example" for i in range(rows)],
            "Supply Vendor": rng.choice(["Rubicon", "OpenX", "PubMatic", "Magnite"], rows),
            "Impressions": impressions,
            "Clicks": clicks,
            "Advertiser Cost (Adv Currency)": np.round(
                impressions / 1000 * rng.uniform(1.0, 20.0, rows), 2
            ),
            "All Last Click + View Conversions": (clicks * rng.uniform(0, 0.2, rows)).astype(
                np.int64
            ),
            "IAS Display Fully In View 1 Second Rate": np.round(rng.uniform(0.2, 0.9, rows), 4),
            "Ad Load - XL (Excessive) - Impressions": (
                impressions * rng.uniform(0, 0.3, rows)
            ).astype(np.int64),
            "Ad Refresh - Below 15s - Impressions": (
                impressions * rng.uniform(0, 0.4, rows)
            ).astype(np.int64),
        }
    )
    return frame.write_csv().encode()


def _timed(action: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    value = action()
    return time.perf_counter() - start, value


def _peak_rss_mb() -> float:
    """This process's RSS high-water mark (VmHWM), in MB; 0 where /proc has none."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024 / 1e6
    except OSError:
        pass
    return 0.0


def _reset_peak_rss() -> None:
    """Start a new high-water mark (Linux: writing 5 to clear_refs resets VmHWM)."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def _get(client: TestClient, path: str, **params: Any) -> tuple[int, int]:
    """GET ``path`` to its last byte; the body's size and line count (it is not kept)."""
    size = lines = 0
    with client.stream("GET", f"{API}{path}", params=params) as response:
        assert response.status_code == 200, (path, response.read()[:500])
        for chunk in response.iter_raw():
            size += len(chunk)
            lines += chunk.count(b"\n")
    return size, lines


def _score(client: TestClient, data: bytes) -> str:
    created = client.post(f"{API}/campaigns", json={"name": "Heavy", **SETUP})
    assert created.status_code == 201, created.text
    campaign_id: str = created.json()["data"]["id"]
    upload = client.post(
        f"{API}/campaigns/{campaign_id}/upload",
        files={"file": ("heavy.csv", io.BytesIO(data), "text/csv")},
    )
    assert upload.status_code in (200, 201), upload.text
    started = client.post(f"{API}/scoring/start", json={"campaign_id": campaign_id})
    assert started.status_code == 202, started.text
    client.app.state.container.jobs.join(timeout=1800)  # type: ignore[attr-defined]
    progress = client.get(f"{API}/scoring/progress/{campaign_id}").json()["data"]
    assert progress["status"] == "completed", progress
    return campaign_id


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--json", action="store_true", help="also print one JSON line")
    args = parser.parse_args(argv)
    if args.rows < 100:
        parser.error("--rows must be at least 100")
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'heavy.db'}"
        upgrade(url)
        data = export_csv(args.rows)
        settings = Settings(
            _env_file=None,
            ENVIRONMENT=Environment.TEST,
            AUTH_DEV_MODE=True,
            DATA_DIR=Path(tmp) / "data",
            DATABASE_URL=url,
            MAX_UPLOAD_MB=max(50, len(data) / 2**20 + 1),
            JOB_RUNNER="threads",
            HEAVY_REQUESTS_PER_USER=2,
        )
        with TestClient(create_app(settings)) as client:
            score_s, campaign_id = _timed(lambda: _score(client, data))
            try:
                figures = _measure(client, campaign_id)
            finally:
                client.delete(f"{API}/campaigns/{campaign_id}")
    _report(args, len(data), score_s, figures)
    return 0


def _measure(client: TestClient, campaign_id: str) -> dict[str, Any]:
    export = f"/reports/export/campaigns/{campaign_id}"
    figures: dict[str, Any] = {}
    _reset_peak_rss()
    before = _peak_rss_mb()
    figures["results_csv"], (size, lines) = _timed(lambda: _get(client, f"{export}/results/csv"))
    figures["results_csv_peak_mb"] = max(0.0, _peak_rss_mb() - before)
    figures["results_csv_mb"] = size / 1e6
    figures["rows"] = lines - 1
    figures["campaign_json"], _ = _timed(lambda: _get(client, f"{export}/data/json"))
    figures["whitelist_csv"], _ = _timed(lambda: _get(client, f"{export}/whitelist/csv"))
    figures["whitelist_txt"], _ = _timed(lambda: _get(client, f"{export}/whitelist/txt"))

    # the reference: polars writes the same campaign's results frame (every stored
    # column of every row; the outlier flags joined) to memory, best of 3
    container = client.app.state.container  # type: ignore[attr-defined]
    with container.sessions() as session:
        campaign = session.get(Campaign, uuid.UUID(campaign_id))
        assert campaign is not None
        frame = scoring_results.results_frame(session, campaign.organization_id, campaign.id)
    stored = frame.with_columns(
        pl.col(c).list.join(";") for c, t in frame.schema.items() if isinstance(t, pl.List)
    )
    figures["reference_write_csv"] = min(
        _timed(lambda: stored.write_csv(io.BytesIO()))[0] for _ in range(3)
    )

    analyses = {
        "outliers_combined": lambda: _get(
            client, f"/scoring/outliers/{campaign_id}", method="combined"
        ),
        "explain_shap": lambda: _get(client, f"/scoring/explain/{campaign_id}", method="shap"),
        "weights_correlation": lambda: _post(
            client,
            "/scoring/weights/suggest",
            {"campaign_id": campaign_id, "method": "correlation", "target": "conversions"},
        ),
    }
    for name, action in analyses.items():
        figures[f"{name}_cold"], _ = _timed(action)
        figures[f"{name}_warm"], _ = _timed(action)
    figures.update(_at_once(client, f"{API}{export}/results/csv"))
    return figures


def _at_once(client: TestClient, url: str) -> dict[str, Any]:
    """AT_ONCE results CSVs sent together by one user: the per-user limit answers the
    ones beyond it at once (429) instead of running them all side by side."""
    barrier = threading.Barrier(AT_ONCE)

    def one() -> tuple[int, float]:
        barrier.wait()
        start = time.perf_counter()
        with client.stream("GET", url) as response:
            for _ in response.iter_raw():
                pass
            return response.status_code, time.perf_counter() - start

    start = time.perf_counter()
    with ThreadPoolExecutor(AT_ONCE) as pool:
        answers = list(pool.map(lambda _: one(), range(AT_ONCE)))
    refused = [seconds for status, seconds in answers if status == 429]
    return {
        "at_once_s": time.perf_counter() - start,
        "at_once_ok": sum(1 for status, _ in answers if status == 200),
        "at_once_refused": len(refused),
        "at_once_refused_s": max(refused, default=0.0),
    }


def _post(client: TestClient, path: str, body: dict[str, Any]) -> tuple[int, int]:
    response = client.post(f"{API}{path}", json=body)
    assert response.status_code == 200, (path, response.text[:500])
    return len(response.content), 1


def _report(args: argparse.Namespace, size: int, score_s: float, figures: dict[str, Any]) -> None:
    reference = figures["reference_write_csv"]
    backend = (args.database_url or "sqlite").split(":", 1)[0]
    print(f"Heavy requests: {figures['rows']:,} result rows on {backend}")
    print(f"export file {size / 1e6:.1f} MB, scored through the API in {score_s:.1f} s")
    print(f"reference: polars write_csv of the results frame {reference * 1000:9.0f} ms")
    print(f"{'request':34s} {'s':>8s} {'x ref':>8s}")
    for name in (
        "results_csv",
        "campaign_json",
        "whitelist_csv",
        "whitelist_txt",
        "outliers_combined_cold",
        "outliers_combined_warm",
        "explain_shap_cold",
        "explain_shap_warm",
        "weights_correlation_cold",
        "weights_correlation_warm",
    ):
        seconds = figures[name]
        print(f"{name:34s} {seconds:8.2f} {seconds / reference:8.1f}")
    print(
        f"results CSV: {figures['results_csv_mb']:.1f} MB, streamed; the process's peak "
        f"memory grew by {figures['results_csv_peak_mb']:.0f} MB while serving it"
    )
    print(
        f"{AT_ONCE} results CSVs at once by one user (HEAVY_REQUESTS_PER_USER=2): "
        f"{figures['at_once_ok']} answered, {figures['at_once_refused']} refused (429) in "
        f"{figures['at_once_refused_s'] * 1000:.0f} ms at most; all done in "
        f"{figures['at_once_s']:.2f} s"
    )
    if args.json:
        print(
            json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in figures.items()})
        )


if __name__ == "__main__":
    os.environ.setdefault("POLARS_MAX_THREADS", "2")
    sys.exit(main())
