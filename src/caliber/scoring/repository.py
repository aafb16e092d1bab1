"""Scoring-result queries: writing a run's rows, removing replaced runs, result pages,
and the columns the optimization lists are rebuilt from.

Callers scope by owner first (the campaign is fetched through the owner-scoped campaign
repository); every read here is then keyed by the run that campaign points at
(``campaigns.results_run_id``), never by the campaign alone: while a new run is being
written, or an old one removed, the campaign's id also matches rows that are not its
results.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, Literal, cast

import orjson
import polars as pl
from sqlalchemy import (
    ColumnElement,
    CursorResult,
    Table,
    delete,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session

from caliber.db.models import Campaign, ScoringResult

SortColumn = Literal[
    "score",
    "impressions",
    "spend",
    "cpm",
    "ctr",
    "conversion_rate",
    "percentile_rank",
    "domain",
]
SortDirection = Literal["asc", "desc"]
QualityStatus = Literal["good", "moderate", "poor"]

TABLE = cast(Table, ScoringResult.__table__)
# Insert order of a row: COPY and executemany both use it.
COLUMNS: tuple[str, ...] = (
    "id",
    "campaign_id",
    "run_id",
    "rank",
    "domain",
    "impressions",
    "spend",
    "cpm",
    "ctr",
    "conversions",
    "conversion_rate",
    "score",
    "percentile_rank",
    "quality_status",
    "is_outlier",
    "outlier_flags",
    "metrics",
    "score_breakdown",
)
_JSON_COLUMNS = ("outlier_flags", "metrics", "score_breakdown")
assert COLUMNS[-len(_JSON_COLUMNS) :] == _JSON_COLUMNS  # COPY writes them last, serialized
_NULLABLE_SORTS = frozenset({"spend", "cpm", "ctr", "conversion_rate"})


@dataclass(frozen=True)
class ResultFilters:
    quality_status: QualityStatus | None = None
    min_score: float | None = None
    max_score: float | None = None
    min_impressions: float | None = None

    def clauses(self) -> list[ColumnElement[bool]]:
        found: list[ColumnElement[bool]] = []
        if self.quality_status is not None:
            found.append(ScoringResult.quality_status == self.quality_status)
        if self.min_score is not None:
            found.append(ScoringResult.score >= self.min_score)
        if self.max_score is not None:
            found.append(ScoringResult.score <= self.max_score)
        if self.min_impressions is not None:
            found.append(ScoringResult.impressions >= self.min_impressions)
        return found


def writes_in_batches(session: Session) -> bool:
    """Whether a run's rows are written in several short transactions (SQLite, whose one
    write lock would otherwise shut every other writer out for the whole save) or in the
    run's single transaction (PostgreSQL: its row locks and MVCC let other users write
    meanwhile, and one COPY is fastest)."""
    return session.get_bind().dialect.name != "postgresql"


def insert_rows(session: Session, rows: Sequence[dict[str, Any]]) -> int:
    """Insert ``rows`` (keys: :data:`COLUMNS`) in the session's transaction: COPY on
    PostgreSQL, executemany elsewhere."""
    if not rows:
        return 0
    if session.get_bind().dialect.name == "postgresql":
        _copy_rows(session, rows)
    elif session.get_bind().dialect.paramstyle == "qmark":
        _executemany_rows(session, rows)
    else:
        session.execute(insert(TABLE), list(rows))
    return len(rows)


def _executemany_rows(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """One executemany of ready-made values (SQLite): each column's own bind processor,
    the JSON columns written by orjson. Two thirds of an ORM-level insert of these rows
    went to building their parameters one by one, the stdlib JSON encoder most of it."""
    connection = session.connection()
    plain = COLUMNS[: -len(_JSON_COLUMNS)]
    processors = [TABLE.c[name].type.bind_processor(connection.dialect) for name in plain]
    pick = itemgetter(*plain)
    statement = (
        f"INSERT INTO {TABLE.name} ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
    )
    values = [
        (
            *(v if f is None else f(v) for f, v in zip(processors, pick(row), strict=True)),
            *(_json_text(row[c]) for c in _JSON_COLUMNS),
        )
        for row in rows
    ]
    connection.exec_driver_sql(statement, values)


def _json_text(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # an integer beyond 64 bits: the standard library writes it exactly
        return json.dumps(value)


def count_run(session: Session, run_id: uuid.UUID) -> int:
    found = session.scalar(
        select(func.count()).select_from(ScoringResult).where(ScoringResult.run_id == run_id)
    )
    return found or 0


def run_ids(session: Session, campaign_id: uuid.UUID, *, exclude: uuid.UUID) -> list[uuid.UUID]:
    """The runs the campaign has rows of, but ``exclude``: the one it points at before a
    switch, and any that were abandoned (a crash mid-save)."""
    found = session.scalars(
        select(ScoringResult.run_id)
        .where(ScoringResult.campaign_id == campaign_id, ScoringResult.run_id != exclude)
        .distinct()
    )
    return list(found)


def delete_runs(
    session: Session,
    campaign_id: uuid.UUID,
    runs: Sequence[uuid.UUID],
    *,
    limit: int | None = None,
) -> int:
    """Delete the campaign's rows of ``runs``, at most ``limit`` of them (a short
    transaction on SQLite); how many were deleted."""
    where: list[ColumnElement[bool]] = [
        ScoringResult.campaign_id == campaign_id,
        ScoringResult.run_id.in_(list(runs)),
    ]
    if limit is not None:
        chosen = select(ScoringResult.id).where(*where).limit(limit).scalar_subquery()
        where = [ScoringResult.id.in_(chosen)]
    statement = delete(ScoringResult).where(*where)
    result = cast(
        CursorResult[Any], session.execute(statement.execution_options(synchronize_session=False))
    )
    return int(result.rowcount or 0)


def replace_results(
    session: Session, campaign_id: uuid.UUID, rows: Sequence[dict[str, Any]]
) -> uuid.UUID:
    """``rows`` (any ``run_id`` replaced) as the campaign's results under a new run, and
    every other run's rows deleted, in the session's one transaction: a seed for tests
    and benchmarks (the scoring job saves through :mod:`caliber.scoring.saving`)."""
    run_id = uuid.uuid4()
    insert_rows(session, [{**row, "run_id": run_id} for row in rows])
    session.execute(
        update(Campaign).where(Campaign.id == campaign_id).values(results_run_id=run_id)
    )
    delete_runs(session, campaign_id, run_ids(session, campaign_id, exclude=run_id))
    return run_id


def _copy_rows(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """COPY FROM STDIN through the session's own connection (same transaction)."""
    driver = session.connection().connection.driver_connection
    assert driver is not None
    plain = itemgetter(*COLUMNS[: -len(_JSON_COLUMNS)])
    statement = f"COPY {TABLE.name} ({', '.join(COLUMNS)}) FROM STDIN"
    with driver.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(
                (*plain(row), *(json.dumps(row[c], allow_nan=False) for c in _JSON_COLUMNS))
            )


def results_page(
    session: Session,
    run_id: uuid.UUID,
    *,
    filters: ResultFilters,
    sort_by: SortColumn,
    direction: SortDirection,
    offset: int,
    limit: int,
    total: int | None = None,
) -> tuple[list[ScoringResult], int]:
    """One page of rows matching ``filters`` and the number matching (counted unless the
    caller knows it). Ties are broken by engine rank (reversed in descending sorts); rows
    with no value to sort on come last; names compare by code point on every backend."""
    where = [ScoringResult.run_id == run_id, *filters.clauses()]
    if total is None:
        total = count_results(session, run_id, filters)
    if sort_by == "score" and direction == "desc":
        # rank is the engine's order: score desc, impressions desc, name asc
        order = [ScoringResult.rank.asc()]
    else:
        column = getattr(ScoringResult, sort_by)
        if sort_by == "domain" and session.get_bind().dialect.name == "postgresql":
            column = column.collate("C")  # code point order, as SQLite and the run index
        key = column.desc() if direction == "desc" else column.asc()
        if sort_by in _NULLABLE_SORTS:
            key = key.nulls_last()  # (NOT NULL columns skip it: it would defeat the index)
        # ties follow the sort's direction, so each sort is one index range scanned
        # forward or backward ((run_id, column, rank)); mixed directions sort in full
        tiebreak = ScoringResult.rank.desc() if direction == "desc" else ScoringResult.rank.asc()
        order = [key, tiebreak]
    # two steps: the page's ranks first (narrow: an index-only walk where an index
    # fits, and a sort of (key, rank) pairs, not of whole 1.4 KB rows, where none does),
    # then those rows
    ranks = list(
        session.scalars(
            select(ScoringResult.rank).where(*where).order_by(*order).offset(offset).limit(limit)
        )
    )
    if not ranks:
        return [], total
    found = {
        row.rank: row
        for row in session.scalars(
            select(ScoringResult).where(
                ScoringResult.run_id == run_id, ScoringResult.rank.in_(ranks)
            )
        )
    }
    return [found[rank] for rank in ranks if rank in found], total


def count_results(session: Session, run_id: uuid.UUID, filters: ResultFilters) -> int:
    where = [ScoringResult.run_id == run_id, *filters.clauses()]
    return session.scalar(select(func.count()).select_from(ScoringResult).where(*where)) or 0


def refresh_statistics(session: Session) -> None:
    """After a bulk write on PostgreSQL: fresh planner statistics and visibility map, so
    the first pages a user opens use index-only scans (autovacuum would take minutes)."""
    bind = session.get_bind()
    if bind.dialect.name != "postgresql":
        return
    with bind.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text(f"VACUUM (ANALYZE) {TABLE.name}"))


def list_frame(session: Session, run_id: uuid.UUID, dimension: str) -> pl.DataFrame:
    """The columns the engine's ``build_lists`` reads, in rank order, as a polars frame."""
    rows = session.execute(
        select(
            ScoringResult.domain,
            ScoringResult.score,
            ScoringResult.impressions,
            ScoringResult.percentile_rank,
            ScoringResult.quality_status,
        )
        .where(ScoringResult.run_id == run_id)
        .order_by(ScoringResult.rank)
    ).all()
    schema = {
        dimension: pl.String,
        "score": pl.Float64,
        "impressions": pl.Float64,
        "percentile_rank": pl.Int64,
        "quality_status": pl.String,
    }
    return pl.DataFrame([tuple(r) for r in rows], schema=schema, orient="row")


def all_results(session: Session, run_id: uuid.UUID) -> list[ScoringResult]:
    """Every row of the run in rank order (exports, audits)."""
    return list(
        session.scalars(
            select(ScoringResult).where(ScoringResult.run_id == run_id).order_by(ScoringResult.rank)
        )
    )
