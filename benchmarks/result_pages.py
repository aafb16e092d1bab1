"""Result pages of a 200k-row campaign: bulk write time and first vs deep page times.

Run: ``python benchmarks/result_pages.py [--rows 200000] [--database-url URL]``
(default: a temporary SQLite file; pass a PostgreSQL URL to measure COPY and PG plans).
Prints figures for both ways the service pages results: by SQL (runs larger than
RESULT_CACHE_ROWS) and from the in-memory run index (every other run: the index load and
column sorts, paid once per run and process, then pages). The deep-page target is a
ratio to the first page of the same query, measured in the same run.
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

from sqlalchemy import delete

from caliber.db.migrate import upgrade
from caliber.db.models import Campaign, User
from caliber.db.session import build_engine, session_factory, session_scope
from caliber.scoring import pages, repository

DEEP_PAGE_TARGET = 5.0  # a deep page may cost at most this many first pages
QUERIES: tuple[tuple[str, repository.ResultFilters, repository.SortColumn], ...] = (
    ("default order (score desc)", repository.ResultFilters(), "score"),
    ("status=moderate, by score", repository.ResultFilters(quality_status="moderate"), "score"),
    ("by impressions", repository.ResultFilters(), "impressions"),
    ("by ctr (no index in SQL)", repository.ResultFilters(), "ctr"),
)


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
        user_id = user.id
        try:
            rows = _rows(campaign_id, args.rows)
            start = time.perf_counter()
            with session_scope(sessions) as session:
                run_id = repository.replace_results(session, campaign_id, rows)
            write_s = time.perf_counter() - start
            with sessions() as session:  # as the scoring job does after its bulk write
                repository.refresh_statistics(session)

            per_page = 50
            deep = max(0, args.rows - per_page)
            figures: list[tuple[str, float, float]] = []
            with sessions() as session:
                for label, filters, sort in QUERIES:
                    _, total = repository.results_page(
                        session,
                        run_id,
                        filters=filters,
                        sort_by=sort,
                        direction="desc",
                        offset=0,
                        limit=per_page,
                    )
                    offset = max(0, min(deep, total - per_page))

                    def page(
                        at: int,
                        f: repository.ResultFilters = filters,
                        s: repository.SortColumn = sort,
                    ) -> None:
                        repository.results_page(
                            session,
                            run_id,
                            filters=f,
                            sort_by=s,
                            direction="desc",
                            offset=at,
                            limit=per_page,
                        )

                    first = _best_ms(partial(page, 0))
                    last = _best_ms(partial(page, offset))
                    figures.append((label, first, last))
                index_load, index_sort, index_figures = _index_figures(session, run_id)
        finally:  # leave the database as it was
            with session_scope(sessions) as session:
                session.execute(delete(User).where(User.id == user_id))
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
    print("in-memory run index (what the API pages from):")
    print(f"load the index (best of 3)               {index_load:8.1f} ms")
    print(f"sort every sortable column               {index_sort:8.1f} ms")
    for label, first, last in index_figures:
        ratio = last / first if first else float("inf")
        ratios.append(ratio)
        print(f"{label:36s} {first:9.2f} {last:9.2f} {ratio:7.2f}")
    worst = max(ratios)
    verdict = "met" if worst <= DEEP_PAGE_TARGET else "MISSED"
    print(f"target: deep page <= {DEEP_PAGE_TARGET:g} x first page: worst {worst:.2f} {verdict}")
    print(f"median ratio {statistics.median(ratios):.2f}")
    return 0


def _index_figures(
    session: Any, run_id: uuid.UUID, per_page: int = 50
) -> tuple[float, float, list[tuple[str, float, float]]]:
    """Index load (best of 3), sorting every column once, then first and deepest page of
    each query (the query's order cached, as after its first request: a page is a slice
    of it and one lookup of its rows)."""
    frames: list[Any] = []
    load = _best_ms(lambda: frames.append(pages.load_frame(session, run_id)), repeats=3)
    index = pages.RunIndex(frames[-1])
    start = time.perf_counter()
    for column in pages.SORTED_COLUMNS:
        index.order(column, "asc")
    sort_ms = (time.perf_counter() - start) * 1000
    figures = []
    for label, filters, sort in QUERIES:
        ranks = pages.ordered_ranks(index, filters, sort, "desc")
        deep = max(0, ranks.size - per_page)

        def page(at: int, order: Any = ranks) -> None:
            pages.fetch_rows(session, run_id, order[at : at + per_page])

        figures.append(
            (f"{label} (index)", _best_ms(partial(page, 0)), _best_ms(partial(page, deep)))
        )
    return load, sort_ms, figures


if __name__ == "__main__":
    sys.exit(main())
