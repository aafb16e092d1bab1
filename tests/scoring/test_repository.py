"""A run's rows in its file, served from the per-run index: 20,000 rows stored (one
Parquet file in the storage backend, the run's row in SQLite or PostgreSQL) and read back
by deep pages of every sort and filter, the rows round trip exactly, and a run kept in
SQL rows (the layout before runs were files) is served the same.

(Until issue 18 these tests bulk-inserted the rows in SQL and paged them by SQL and by
the index; the SQL paging went with the SQL row layout.)"""

from __future__ import annotations

import os
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, delete
from sqlalchemy.orm import Session, sessionmaker

from caliber.db.migrate import upgrade
from caliber.db.models import Campaign, Organization, ScoringRun, User
from caliber.db.session import build_engine, session_factory, session_scope
from caliber.engine.lists import build_lists
from caliber.scoring import frames, legacy, pages, saving, store
from caliber.scoring.repository import ResultFilters, SortColumn, SortDirection
from caliber.storage.local import LocalStorage

ROWS = 20_000
PG_URL = os.environ.get("CALIBER_TEST_DATABASE_URL")
REQUIRE_SERVICES = os.environ.get("CALIBER_REQUIRE_SERVICES") == "1"
# the layout of make_rows' rows: two metrics, as a run's snapshot states them
SNAPSHOT: dict[str, Any] = {
    "analysis_level": "domain",
    "weights": {"cpm": 0.5, "ctr": 0.5},
    "directions": {"cpm": "lower_is_better", "ctr": "higher_is_better"},
}
LAYOUT = frames.Layout.from_snapshot(SNAPSHOT)


@dataclass
class Stored:
    sessions: sessionmaker[Session]
    campaign_id: uuid.UUID
    run_id: uuid.UUID  # the campaign's results
    rows: list[dict[str, Any]]  # as stored, in rank order


def make_rows(campaign_id: uuid.UUID, count: int, seed: int) -> list[dict[str, Any]]:
    """Rows shaped like the engine's, ranked as the engine ranks (score desc, impressions
    desc, name asc), with many ties and some missing values."""
    rng = random.Random(seed)
    raw: list[dict[str, Any]] = []
    for i in range(count):
        score = round(rng.uniform(0, 100), 1)  # ~1,000 distinct scores: many ties
        cpm = None if i % 10 == 0 else round(rng.uniform(0.5, 20), 4)
        flags = ["cpm"] if cpm is not None and cpm > 19 else []
        raw.append(
            {
                "domain": f"site-{rng.randrange(10**9):09d}-{i}.example",
                "impressions": float(rng.choice([250, 1000, 5000]) + rng.randrange(3)),
                "spend": round(rng.uniform(1, 500), 2),
                "cpm": cpm,
                "ctr": None if i % 7 == 0 else rng.random() / 50,
                "conversions": None,
                "conversion_rate": rng.random() / 100,
                "score": score,
                "outlier_flags": flags,
            }
        )
    raw.sort(key=lambda r: (-r["score"], -r["impressions"], r["domain"]))
    rows = []
    for rank, r in enumerate(raw, start=1):
        percentile = round(100 * (count - rank + 1) / count)
        rows.append(
            {
                **r,
                "id": uuid.uuid4(),
                "campaign_id": campaign_id,
                "rank": rank,
                "percentile_rank": percentile,
                "quality_status": (
                    "good" if percentile >= 75 else "moderate" if percentile >= 25 else "poor"
                ),
                "is_outlier": bool(r["outlier_flags"]),
                "metrics": {
                    "values": {"cpm": r["cpm"], "ctr": r["ctr"]},
                    "normalized": {"cpm": 50.0, "ctr": None},
                    "source_rows": 3,
                },
                "score_breakdown": {"cpm": {"value": r["cpm"], "weight": 0.5, "contribution": 1.5}},
            }
        )
    return rows


def new_campaign(sessions: sessionmaker[Session], name: str) -> tuple[uuid.UUID, uuid.UUID]:
    """A new user and a campaign of theirs: (user id, campaign id). Deleting the user
    removes both and the campaign's rows. The campaign's organization has the user's id
    (the services scope by organization), so the one id names both here."""
    with session_scope(sessions) as session:
        user = User(id=uuid.uuid4(), firebase_uid=f"{name}-{uuid.uuid4().hex}")
        session.add(user)
        session.add(Organization(id=user.id, name=name))
        session.flush()
        campaign = Campaign(
            owner_id=user.id,
            organization_id=user.id,
            name=name,
            platform="trade_desk",
            goal="awareness",
            channel="display",
        )
        session.add(campaign)
        session.flush()
        return user.id, campaign.id


def named_rows(campaign_id: uuid.UUID, names: list[str]) -> list[dict[str, Any]]:
    """Rows of :func:`make_rows`, one per name, in rank order."""
    rows = make_rows(campaign_id, len(names), seed=5)
    for row, name in zip(rows, names, strict=True):
        row["domain"] = name
    return rows


def seed_rows(
    sessions: sessionmaker[Session],
    storage: LocalStorage,
    campaign_id: uuid.UUID,
    rows: list[dict[str, Any]],
    summary: dict[str, Any] | None = None,
) -> uuid.UUID:
    """``rows`` (of :func:`make_rows`) as a completed run of the campaign, in its file,
    made the campaign's results: the run's id."""
    data = frames.to_parquet(legacy.frame_of(rows, LAYOUT))
    with session_scope(sessions) as session:
        return saving.seed_run(
            session, storage, campaign_id, data, SNAPSHOT, summary or {"row_count": len(rows)}
        )


def database(url: str, storage_dir: Path) -> tuple[Engine, LocalStorage]:
    """A migrated database's engine and a local storage its run files are read from."""
    upgrade(url)
    built = build_engine(url)
    storage = LocalStorage(storage_dir)
    store.attach(built, storage)
    return built, storage


def postgres_url() -> str:
    if not PG_URL:
        if REQUIRE_SERVICES:
            pytest.fail("CALIBER_TEST_DATABASE_URL is not set although services are required")
        pytest.skip("no PostgreSQL (set CALIBER_TEST_DATABASE_URL)")
    return PG_URL


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def backend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Engine, LocalStorage]]:
    folder = tmp_path_factory.mktemp("runs")
    url = f"sqlite:///{folder / 'caliber.db'}" if request.param == "sqlite" else postgres_url()
    built, storage = database(url, folder / "files")
    yield built, storage
    built.dispose()


@pytest.fixture(scope="module")
def stored(backend: tuple[Engine, LocalStorage]) -> Iterator[Stored]:
    """One campaign whose results are a run of 20,000 rows; removed afterwards."""
    engine, storage = backend
    sessions = session_factory(engine)
    user_id, campaign_id = new_campaign(sessions, "scale")
    rows = make_rows(campaign_id, ROWS, seed=11)
    run_id = seed_rows(sessions, storage, campaign_id, rows)
    yield Stored(sessions, campaign_id, run_id, rows)
    with session_scope(sessions) as session:
        session.execute(delete(User).where(User.id == user_id))
    pages.index().clear()


def _held(session: Session, run_id: uuid.UUID) -> pages.HeldRun:
    run = session.get(ScoringRun, run_id)
    assert run is not None
    return pages.index().run(session, run)


def _page(
    stored: Stored,
    sort_by: SortColumn,
    direction: SortDirection,
    offset: int,
    limit: int = 100,
    filters: ResultFilters | None = None,
) -> tuple[list[str], int]:
    with stored.sessions() as session:
        held = _held(session, stored.run_id)
        ranks = pages.ordered_ranks(held.index, filters or ResultFilters(), sort_by, direction)
        found = held.stored.records(ranks[offset : offset + limit] - 1)
        return [r.domain for r in found], int(ranks.size)


def _expected(rows: list[dict[str, Any]], column: str, descending: bool) -> list[str]:
    """Sorted by ``column`` (missing values last), ties by rank in the sort's direction;
    score descending is the engine's rank order."""
    if column == "score" and descending:
        return [r["domain"] for r in sorted(rows, key=lambda r: r["rank"])]
    present = [r for r in rows if r[column] is not None]
    missing = [r for r in rows if r[column] is None]
    present.sort(key=lambda r: (r[column], r["rank"]), reverse=descending)
    missing.sort(key=lambda r: r["rank"], reverse=descending)
    return [r["domain"] for r in present + missing]


def _matches(row: dict[str, Any], filters: ResultFilters) -> bool:
    return (
        (filters.quality_status is None or row["quality_status"] == filters.quality_status)
        and (filters.min_score is None or row["score"] >= filters.min_score)
        and (filters.max_score is None or row["score"] <= filters.max_score)
        and (filters.min_impressions is None or row["impressions"] >= filters.min_impressions)
    )


@pytest.mark.parametrize(
    ("column", "direction"),
    [
        ("score", "desc"),
        ("score", "asc"),
        ("impressions", "desc"),
        ("cpm", "asc"),
        ("ctr", "desc"),
        ("domain", "desc"),
        ("percentile_rank", "asc"),
        ("spend", "desc"),
        ("conversion_rate", "asc"),
    ],
)
def test_deep_pages_are_in_order(
    stored: Stored, column: SortColumn, direction: SortDirection
) -> None:
    expected = _expected(stored.rows, column, direction == "desc")
    for offset in (0, 12_345, ROWS - 100):
        domains, total = _page(stored, column, direction, offset)
        assert total == ROWS
        assert domains == expected[offset : offset + 100], (column, direction, offset)
    beyond, _ = _page(stored, column, direction, ROWS)
    assert beyond == []


@pytest.mark.parametrize("column", ["score", "impressions", "cpm", "ctr", "domain", "spend"])
def test_every_filter_and_sort_pages_as_the_plain_order(stored: Stored, column: SortColumn) -> None:
    """Each filter, both directions, first, middle and last pages, against the rows
    filtered and sorted in plain Python."""
    cases = [
        ResultFilters(quality_status="good"),
        ResultFilters(quality_status="poor", min_impressions=1000),
        ResultFilters(min_score=20.5, max_score=20.5),  # one tie group
        ResultFilters(min_impressions=5000),
        ResultFilters(quality_status="moderate", min_score=30, max_score=70, min_impressions=1000),
        ResultFilters(min_score=101),  # nothing
    ]
    for filters in cases:
        matching = [r for r in stored.rows if _matches(r, filters)]
        for direction in ("asc", "desc"):
            expected = _expected(matching, column, direction == "desc")
            for offset in sorted({0, len(matching) // 2, max(len(matching) - 7, 0)}):
                domains, total = _page(stored, column, direction, offset, 50, filters)
                assert total == len(matching), (filters, column, direction)
                assert domains == expected[offset : offset + 50], (filters, direction, offset)


def test_rows_round_trip(stored: Stored) -> None:
    """Every value a row serves (the drawer's metrics, breakdown and flags too) is what
    was stored, of the same type."""
    with stored.sessions() as session:
        held = _held(session, stored.run_id)
        got = held.stored.records([0, 1, 2, ROWS // 2, ROWS - 1])
    for record, want in zip(
        got, [stored.rows[i] for i in (0, 1, 2, ROWS // 2, ROWS - 1)], strict=True
    ):
        assert record.rank == want["rank"]
        for name in ("domain", "impressions", "spend", "cpm", "ctr", "conversions"):
            assert getattr(record, name) == want[name], name
            assert type(getattr(record, name)) is type(want[name]), name
        assert (record.score, record.percentile_rank) == (want["score"], want["percentile_rank"])
        assert record.quality_status == want["quality_status"]
        assert (record.is_outlier, record.outlier_flags) == (
            want["is_outlier"],
            want["outlier_flags"],
        )
        assert record.metrics == want["metrics"]
        assert record.score_breakdown == {
            m.name: {
                "value": want["metrics"]["values"][m.name],
                "normalized": want["metrics"]["normalized"][m.name],
                "weight": m.weight,
                "contribution": want["score_breakdown"].get(m.name, {}).get("contribution"),
                "higher_is_better": m.higher_is_better,
            }
            for m in LAYOUT.metrics
        }


def test_the_list_frame_rebuilds_the_lists(stored: Stored) -> None:
    with stored.sessions() as session:
        frame = _held(session, stored.run_id).stored.list_frame()
    assert frame.height == ROWS
    assert frame["domain"].to_list() == [r["domain"] for r in stored.rows]
    lists = build_lists(frame, "domain", 1000)
    eligible = sorted(r["score"] for r in stored.rows if r["impressions"] >= 1000)
    assert lists.eligible == len(eligible)
    assert lists.whitelist["score"].min() >= lists.whitelist_threshold  # type: ignore[operator]


def test_the_run_file_keeps_every_value_exactly(backend: tuple[Engine, LocalStorage]) -> None:
    """Awkward names, missing values and full-precision floats survive the file; a run
    kept in SQL rows (before runs were files) is served the same as its file."""
    engine, storage = backend
    names = [
        "comma,site.example",
        'quote"site.example',
        "line\nbreak.example",
        " padded.example ",
        "ünïcødé.example",
        "empty-metrics.example",
        "com.example.app|12345",
        "NULL",
    ]
    sessions = session_factory(engine)
    user_id, campaign_id = new_campaign(sessions, "index")
    rows = named_rows(campaign_id, names)
    rows[0]["ctr"] = 0.1 + 0.2  # 0.30000000000000004: every digit must survive
    rows[0]["metrics"]["values"]["ctr"] = 0.1 + 0.2
    rows[1]["cpm"] = rows[1]["metrics"]["values"]["cpm"] = None
    rows[2]["spend"] = 1e-300
    try:
        in_file = seed_rows(sessions, storage, campaign_id, rows)
        in_sql = uuid.uuid4()
        with session_scope(sessions) as session:
            legacy.insert_rows(session, [{**r, "id": uuid.uuid4(), "run_id": in_sql} for r in rows])
            run = session.get(ScoringRun, in_file)
            assert run is not None
            session.add(
                ScoringRun(
                    id=in_sql,
                    campaign_id=campaign_id,
                    status="completed",
                    started_at=run.started_at,
                    snapshot=SNAPSHOT,
                )
            )
        with sessions() as session:
            from_file = _held(session, in_file)
            from_sql = _held(session, in_sql)
            assert from_file.stored.index.columns == list(pages.SCHEMA)
            for got in (from_file.stored, from_sql.stored):
                assert got.height == len(rows)
                for record, want in zip(got.records(range(len(rows))), rows, strict=True):
                    assert record.domain == want["domain"]
                    assert (record.ctr, record.cpm, record.spend) == (
                        want["ctr"],
                        want["cpm"],
                        want["spend"],
                    )
                    assert record.metrics == want["metrics"]
            assert from_sql.stored.records(range(len(rows))) == from_file.stored.records(
                range(len(rows))
            )
    finally:
        with session_scope(sessions) as session:
            session.execute(delete(User).where(User.id == user_id))
        pages.index().clear()


def test_names_sort_by_code_point(backend: tuple[Engine, LocalStorage]) -> None:
    """Mixed-case, accented and punctuated names: code point order (as the SQL layout
    ordered them on every backend), whatever the database's collation."""
    engine, storage = backend
    names = [
        "b.example",
        "B.example",
        "a.example",
        "Ä.example",
        "_x.example",
        "Z.example",
        "zz.example",
        "é.example",
        "e.example",
        "10.example",
        "9.example",
    ]
    sessions = session_factory(engine)
    user_id, campaign_id = new_campaign(sessions, "names")
    rows = named_rows(campaign_id, names)
    try:
        run_id = seed_rows(sessions, storage, campaign_id, rows)
        stored = Stored(sessions, campaign_id, run_id, rows)
        for direction in ("asc", "desc"):
            got, _ = _page(stored, "domain", direction, 0)
            assert got == sorted(names, reverse=direction == "desc"), direction
    finally:
        with session_scope(sessions) as session:
            session.execute(delete(User).where(User.id == user_id))
        pages.index().clear()
