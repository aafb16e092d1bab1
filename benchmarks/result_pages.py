"""Result pages of a 200k-row campaign: writing its run, reading it into memory, and
first vs deep page times.

Run: ``python benchmarks/result_pages.py [--rows 200000] [--database-url URL]``
(default: a temporary SQLite file; the run's file goes to a temporary local storage).
Prints the write of the run (its frame as Parquet to storage, its row in SQL), the
first read of the run into an API process (the file read and the index built: paid
once per run and process), sorting every column, then the first and the deepest page of
each query from the held run. The deep-page target is a ratio to the first page of the
same query, measured in the same run. (``run_storage.py`` compares this layout with the
SQL rows it replaced.)
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
from caliber.db.models import Campaign, Organization, ScoringRun, User
from caliber.db.session import build_engine, session_factory, session_scope
from caliber.scoring import frames, legacy, pages, repository, saving, store
from caliber.storage.local import LocalStorage

DEEP_PAGE_TARGET = 5.0  # a deep page may cost at most this many first pages
QUERIES: tuple[tuple[str, repository.ResultFilters, repository.SortColumn], ...] = (
    ("default order (score desc)", repository.ResultFilters(), "score"),
    ("status=moderate, by score", repository.ResultFilters(quality_status="moderate"), "score"),
    ("by impressions", repository.ResultFilters(), "impressions"),
    ("by ctr", repository.ResultFilters(), "ctr"),
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
        storage = LocalStorage(Path(tmp) / "files")
        store.attach(engine, storage)
        sessions = session_factory(engine)
        with session_scope(sessions) as session:
            user = User(id=uuid.uuid4(), firebase_uid=f"bench-{uuid.uuid4().hex}")
            session.add(user)
            # its organization has its id, so the one id scopes the services too
            session.add(Organization(id=user.id, name="bench"))
            session.flush()
            campaign = Campaign(
                owner_id=user.id,
                organization_id=user.id,
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
            layout = frames.Layout("domain", ())
            frame = legacy.frame_of(_rows(campaign_id, args.rows), layout)
            snapshot = {"analysis_level": "domain", "weights": {}, "directions": {}}
            start = time.perf_counter()
            data = frames.to_parquet(frame)
            with session_scope(sessions) as session:
                run_id = saving.seed_run(
                    session, storage, campaign_id, data, snapshot, {"row_count": args.rows}
                )
            write_s = time.perf_counter() - start
            with sessions() as session:
                run = session.get(ScoringRun, run_id)
                assert run is not None
                load, sort_ms, figures = _index_figures(session, run)
        finally:  # leave the database as it was
            with session_scope(sessions) as session:
                session.execute(delete(User).where(User.id == user_id))
            engine.dispose()

    backend = url.split(":", 1)[0]
    print(f"Result pages: {args.rows:,} rows on {backend}, the run in a file")
    size = f"({len(data) / 1e6:.1f} MB)"
    print(f"write the run (Parquet, file, run row)   {write_s:8.2f} s {size}")
    print(f"read the run into memory (best of 3)     {load:8.1f} ms")
    print(f"sort every sortable column               {sort_ms:8.1f} ms")
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


def _index_figures(
    session: Any, run: ScoringRun, per_page: int = 50
) -> tuple[float, float, list[tuple[str, float, float]]]:
    """The run read into memory (best of 3), every column sorted once, then the first
    and the deepest page of each query (the query's order cached, as after its first
    request: a page is a slice of it and its rows taken from the frame)."""
    held: list[pages.HeldRun] = []
    load = _best_ms(lambda: held.append(pages.HeldRun(store.load(session, run))), repeats=3)
    index = held[-1].index
    start = time.perf_counter()
    for column in pages.SORTED_COLUMNS:
        index.order(column, "asc")
    sort_ms = (time.perf_counter() - start) * 1000
    figures = []
    for label, filters, sort in QUERIES:
        ranks = pages.ordered_ranks(index, filters, sort, "desc")
        deep = max(0, ranks.size - per_page)

        def page(at: int, order: Any = ranks) -> None:
            held[-1].stored.records(order[at : at + per_page] - 1)

        figures.append((label, _best_ms(partial(page, 0)), _best_ms(partial(page, deep))))
    return load, sort_ms, figures


if __name__ == "__main__":
    sys.exit(main())
