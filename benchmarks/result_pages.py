"""Result pages of a 200k-row campaign: bulk write time and first vs deep page times.

Run: ``python benchmarks/result_pages.py [--rows 200000] [--database-url URL]``
(default: a temporary SQLite file; pass a PostgreSQL URL to measure COPY and PG plans).
Prints figures; the deep-page target is a ratio to the first page of the same query,
measured in the same run (the indexes should make a deep page cost about the same).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from caliber.db.migrate import upgrade
from caliber.db.models import Campaign, User
from caliber.db.session import build_engine, session_factory, session_scope
from caliber.scoring import repository

DEEP_PAGE_TARGET = 5.0  # a deep page may cost at most this many first pages


def _rows(campaign_id: uuid.UUID, count: int) -> list[dict[str, Any]]:
    statuses = ("good", "moderate", "poor")
    rows = []
    for rank in range(1, count + 1):
        score = round(100.0 * (count - rank) / count, 2)
        rows.append(
            {
                "id": uuid.uuid4(),
                "campaign_id": campaign_id,
                "rank": rank,
                "domain": f"site{rank:07d}.example",
                "impressions": float(1000 + (rank * 7919) % 100_000),
                "spend": 1.5,
                "cpm": 2.0,
                "ctr": 0.001,
                "conversions": None,
                "conversion_rate": None,
                "score": score,
                "percentile_rank": 100 - (rank * 100) // count,
                "quality_status": statuses[min(2, (rank * 4) // count // 2)],
                "is_outlier": False,
                "outlier_flags": [],
                "metrics": {"values": {}, "normalized": {}, "source_rows": 1},
                "score_breakdown": {},
            }
        )
    return rows


def _best_ms(action: Callable[[], object], repeats: int = 7) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        times.append((time.perf_counter() - start) * 1000)
    return min(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'pages.db'}"
        upgrade(url)
        engine = build_engine(url)
        sessions = session_factory(engine)
        with session_scope(sessions) as session:
            user = User(firebase_uid=f"bench-{uuid.uuid4().hex}")
            session.add(user)
            session.flush()
            campaign = Campaign(
                owner_id=user.id,
                name="bench",
                platform="trade_desk",
                goal="awareness",
                channel="display",
            )
            session.add(campaign)
            session.flush()
            campaign_id = campaign.id
        rows = _rows(campaign_id, args.rows)
        start = time.perf_counter()
        with session_scope(sessions) as session:
            repository.replace_results(session, campaign_id, rows)
        write_s = time.perf_counter() - start

        per_page = 50
        deep = max(0, args.rows - per_page)
        figures: list[tuple[str, float, float]] = []
        with sessions() as session:
            for label, filters, sort in (
                ("default order (score desc)", repository.ResultFilters(), "score"),
                (
                    "status=moderate, by score",
                    repository.ResultFilters(quality_status="moderate"),
                    "score",
                ),
                ("by impressions", repository.ResultFilters(), "impressions"),
            ):
                _, total = repository.results_page(
                    session,
                    campaign_id,
                    filters=filters,
                    sort_by=sort,  # type: ignore[arg-type]
                    direction="desc",
                    offset=0,
                    limit=per_page,
                )
                offset = max(0, min(deep, total - per_page))

                def page(at: int, f: repository.ResultFilters = filters, s: str = sort) -> None:
                    repository.results_page(
                        session,
                        campaign_id,
                        filters=f,
                        sort_by=s,  # type: ignore[arg-type]
                        direction="desc",
                        offset=at,
                        limit=per_page,
                    )

                first = _best_ms(partial(page, 0))
                last = _best_ms(partial(page, offset))
                figures.append((label, first, last))
        engine.dispose()

    backend = url.split(":", 1)[0]
    print(f"Result pages: {args.rows:,} rows on {backend}")
    print(f"bulk write of every row                  {write_s:8.2f} s")
    print(f"{'query':36s} {'first ms':>9s} {'deep ms':>9s} {'ratio':>7s}")
    ratios = []
    for label, first, last in figures:
        ratio = last / first if first else float("inf")
        ratios.append(ratio)
        print(f"{label:36s} {first:9.2f} {last:9.2f} {ratio:7.2f}")
    worst = max(ratios)
    verdict = "met" if worst <= DEEP_PAGE_TARGET else "MISSED"
    print(f"target: deep page <= {DEEP_PAGE_TARGET:g} x first page: worst {worst:.2f} {verdict}")
    print(f"median ratio {statistics.median(ratios):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
