"""The scoring repository at scale: 20,000 rows bulk-inserted (COPY on PostgreSQL,
executemany on SQLite) and read back by deep pages, on both backends."""

from __future__ import annotations

import os
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from caliber.db.migrate import upgrade
from caliber.db.models import Campaign, ScoringResult, User
from caliber.db.session import build_engine, session_factory, session_scope
from caliber.engine.lists import build_lists
from caliber.scoring import pages, repository
from caliber.scoring.repository import ResultFilters, SortColumn, SortDirection

ROWS = 20_000
PG_URL = os.environ.get("CALIBER_TEST_DATABASE_URL")
REQUIRE_SERVICES = os.environ.get("CALIBER_REQUIRE_SERVICES") == "1"


@dataclass
class Stored:
    sessions: sessionmaker[Session]
    campaign_id: uuid.UUID
    run_id: uuid.UUID  # the campaign's results (a replace makes a new run)
    rows: list[dict[str, Any]]  # as inserted, in rank order


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


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    if request.param == "sqlite":
        path: Path = tmp_path_factory.mktemp("repo") / "caliber.db"
        url = f"sqlite:///{path}"
    else:
        if not PG_URL:
            if REQUIRE_SERVICES:
                pytest.fail("CALIBER_TEST_DATABASE_URL is not set although services are required")
            pytest.skip("no PostgreSQL (set CALIBER_TEST_DATABASE_URL)")
        url = PG_URL
    upgrade(url)
    built = build_engine(url)
    yield built
    built.dispose()


@pytest.fixture(scope="module")
def template_rows() -> list[dict[str, Any]]:
    return make_rows(uuid.UUID(int=0), ROWS, seed=11)


def _for(campaign_id: uuid.UUID, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` of another campaign, with new ids."""
    return [{**r, "id": uuid.uuid4(), "campaign_id": campaign_id} for r in rows]


def new_campaign(sessions: sessionmaker[Session], name: str) -> tuple[uuid.UUID, uuid.UUID]:
    """A new user and a campaign of theirs: (user id, campaign id). Deleting the user
    removes both and the campaign's rows."""
    with session_scope(sessions) as session:
        user = User(firebase_uid=f"{name}-{uuid.uuid4().hex}")
        session.add(user)
        session.flush()
        campaign = Campaign(
            owner_id=user.id, name=name, platform="trade_desk", goal="awareness", channel="display"
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


@pytest.fixture(scope="module")
def stored(engine: Engine, template_rows: list[dict[str, Any]]) -> Iterator[Stored]:
    """One campaign with 20,000 stored rows; removed (cascade) afterwards."""
    sessions = session_factory(engine)
    user_id, campaign_id = new_campaign(sessions, "scale")
    rows = _for(campaign_id, template_rows)
    with session_scope(sessions) as session:
        run_id = repository.replace_results(session, campaign_id, rows)
    yield Stored(sessions, campaign_id, run_id, rows)
    with session_scope(sessions) as session:
        session.execute(delete(User).where(User.id == user_id))


def _count(sessions: sessionmaker[Session], campaign_id: uuid.UUID) -> int:
    with session_scope(sessions) as session:
        total = session.scalar(
            select(func.count())
            .select_from(ScoringResult)
            .where(ScoringResult.campaign_id == campaign_id)
        )
    return total or 0


@pytest.fixture(params=["sql", "index"])
def via(request: pytest.FixtureRequest) -> str:
    """Pages by SQL (runs beyond RESULT_CACHE_ROWS) or from the in-memory run index."""
    return str(request.param)


def _page(
    stored: Stored,
    sort_by: SortColumn,
    direction: SortDirection,
    offset: int,
    limit: int = 100,
    filters: ResultFilters | None = None,
    via: str = "sql",
) -> tuple[list[str], int]:
    with session_scope(stored.sessions) as session:
        if via == "index":
            index = pages.RunIndex(pages.load_frame(session, stored.run_id))
            ranks = pages.ordered_ranks(index, filters or ResultFilters(), sort_by, direction)
            found = pages.fetch_rows(session, stored.run_id, ranks[offset : offset + limit])
            return [r.domain for r in found], int(ranks.size)
        rows, total = repository.results_page(
            session,
            stored.run_id,
            filters=filters or ResultFilters(),
            sort_by=sort_by,
            direction=direction,
            offset=offset,
            limit=limit,
        )
        return [r.domain for r in rows], total


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
    ],
)
def test_deep_pages_are_in_order(
    stored: Stored, column: SortColumn, direction: SortDirection, via: str
) -> None:
    expected = _expected(stored.rows, column, direction == "desc")
    for offset in (0, 12_345, ROWS - 100):
        domains, total = _page(stored, column, direction, offset, via=via)
        assert total == ROWS
        assert domains == expected[offset : offset + 100], (column, direction, offset)
    beyond, _ = _page(stored, column, direction, ROWS, via=via)
    assert beyond == []


def test_filtered_deep_page(stored: Stored, via: str) -> None:
    filters = ResultFilters(
        quality_status="moderate", min_score=30, max_score=70, min_impressions=1000
    )
    matching = [
        r
        for r in stored.rows
        if r["quality_status"] == "moderate" and 30 <= r["score"] <= 70 and r["impressions"] >= 1000
    ]
    expected = _expected(matching, "spend", descending=False)
    offset = len(matching) - 150
    domains, total = _page(stored, "spend", "asc", offset, filters=filters, via=via)
    assert total == len(matching)
    assert domains == expected[offset : offset + 100]


@pytest.mark.parametrize("column", ["score", "impressions", "cpm", "ctr", "domain"])
def test_every_filter_and_sort_agrees_with_sql(stored: Stored, column: SortColumn) -> None:
    """The in-memory index pages exactly as SQL does: each filter, both directions,
    first, middle and last pages."""
    cases = [
        ResultFilters(quality_status="good"),
        ResultFilters(quality_status="poor", min_impressions=1000),
        ResultFilters(min_score=20.5, max_score=20.5),  # one tie group
        ResultFilters(min_impressions=5000),
        ResultFilters(min_score=101),  # nothing
    ]
    for filters in cases:
        for direction in ("asc", "desc"):
            _, total = _page(stored, column, direction, 0, filters=filters)
            for offset in sorted({0, total // 2, max(total - 7, 0)}):
                by_sql = _page(stored, column, direction, offset, 50, filters)
                by_index = _page(stored, column, direction, offset, 50, filters, via="index")
                assert by_index == by_sql, (filters, column, direction, offset)


def test_rows_round_trip(stored: Stored) -> None:
    with session_scope(stored.sessions) as session:
        first, _ = repository.results_page(
            session,
            stored.run_id,
            filters=ResultFilters(),
            sort_by="score",
            direction="desc",
            offset=0,
            limit=3,
        )
        for got, want in zip(first, stored.rows[:3], strict=True):
            assert got.id == want["id"]
            assert got.rank == want["rank"]
            assert (got.domain, got.score, got.impressions) == (
                want["domain"],
                want["score"],
                want["impressions"],
            )
            assert got.cpm == want["cpm"]
            assert got.outlier_flags == want["outlier_flags"]
            assert got.metrics == want["metrics"]
            assert got.score_breakdown == want["score_breakdown"]


def test_list_frame_rebuilds_the_lists(stored: Stored) -> None:
    with session_scope(stored.sessions) as session:
        frame = repository.list_frame(session, stored.run_id, "domain")
    assert frame.height == ROWS
    assert frame["domain"].to_list() == [r["domain"] for r in stored.rows]
    lists = build_lists(frame, "domain", 1000)
    eligible = sorted(r["score"] for r in stored.rows if r["impressions"] >= 1000)
    assert lists.eligible == len(eligible)
    assert lists.whitelist["score"].min() >= lists.whitelist_threshold  # type: ignore[operator]


def test_replacing_is_idempotent(stored: Stored) -> None:
    again = _for(stored.campaign_id, stored.rows)  # same names, new ids
    with session_scope(stored.sessions) as session:
        run_id = repository.replace_results(session, stored.campaign_id, again)
        assert run_id != stored.run_id
        campaign = session.get(Campaign, stored.campaign_id)
        assert campaign is not None
        assert campaign.results_run_id == run_id
    assert _count(stored.sessions, stored.campaign_id) == ROWS  # the replaced run is gone
    with session_scope(stored.sessions) as session:
        ids = set(
            session.scalars(
                select(ScoringResult.id).where(ScoringResult.campaign_id == stored.campaign_id)
            )
        )
    assert ids == {r["id"] for r in again}
    stored.rows[:] = again  # later tests read the current rows
    stored.run_id = run_id


def test_the_page_index_reads_every_value_exactly(engine: Engine) -> None:
    """The run index (COPY as CSV on PostgreSQL) holds what the table holds: awkward
    names, missing values and full-precision floats."""
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
    rows[1]["cpm"] = None
    rows[2]["spend"] = 1e-300
    try:
        with session_scope(sessions) as session:
            run_id = repository.replace_results(session, campaign_id, rows)
        with session_scope(sessions) as session:
            frame = pages.load_frame(session, run_id)
        assert frame.columns == list(pages.SCHEMA)
        assert frame.height == len(rows)
        for got, want in zip(frame.iter_rows(named=True), rows, strict=True):
            assert {k: got[k] for k in pages.SCHEMA} == {k: want[k] for k in pages.SCHEMA}
        with session_scope(sessions) as session:
            assert pages.load_frame(session, uuid.uuid4()).height == 0
    finally:
        with session_scope(sessions) as session:
            session.execute(delete(User).where(User.id == user_id))


@pytest.fixture(params=["sqlite", "postgresql-en-US"])
def collated_engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """SQLite, or a PostgreSQL database whose default collation is ICU en-US (as most
    production databases have a language collation; the CI cluster's default is C)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('names') / 'caliber.db'}"
        upgrade(url)
        built = build_engine(url)
        yield built
        built.dispose()
        return
    if not PG_URL:
        if REQUIRE_SERVICES:
            pytest.fail("CALIBER_TEST_DATABASE_URL is not set although services are required")
        pytest.skip("no PostgreSQL (set CALIBER_TEST_DATABASE_URL)")
    import psycopg
    from psycopg import sql
    from sqlalchemy.engine import make_url

    admin = make_url(PG_URL).set(drivername="postgresql")
    name = f"caliber_names_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute(
            sql.SQL(
                "CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8' "
                "LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"
            ).format(sql.Identifier(name))
        )
    url = admin.set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        built = build_engine(url)
        yield built
        built.dispose()
    finally:
        with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def test_names_sort_by_code_point_on_every_backend_and_path(collated_engine: Engine) -> None:
    """Mixed-case, accented and punctuated names: the same order by SQL (SQLite's binary
    order, PostgreSQL with the C collation whatever the database's) and from the run
    index."""
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
    sessions = session_factory(collated_engine)
    user_id, campaign_id = new_campaign(sessions, "names")
    rows = named_rows(campaign_id, names)
    try:
        with session_scope(sessions) as session:
            run_id = repository.replace_results(session, campaign_id, rows)
        stored = Stored(sessions, campaign_id, run_id, rows)
        for direction in ("asc", "desc"):
            expected = sorted(names, reverse=direction == "desc")
            for via in ("sql", "index"):
                got, _ = _page(stored, "domain", direction, 0, via=via)
                assert got == expected, (direction, via)
    finally:
        with session_scope(sessions) as session:
            session.execute(delete(User).where(User.id == user_id))
