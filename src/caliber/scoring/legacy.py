"""The SQL row layout of results (``scoring_results``: one row per result row, metrics
and breakdown as JSON), which Caliber used until runs were stored as files (issue 18).

What is left of it: reading the runs the migration kept there (their rows rebuilt as
the engine's frame, so every read serves them like any other run), removing those rows
once their run is in a file or gone, and writing rows (tests and
``benchmarks/run_storage.py`` measure the layout with it). New runs never write here.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from operator import itemgetter
from typing import Any, cast

import orjson
import polars as pl
from sqlalchemy import ColumnElement, CursorResult, Table, delete, func, insert, select
from sqlalchemy.orm import Session

from caliber.db.models import ScoringResult
from caliber.engine.pipeline import ScoringResult as EngineResult
from caliber.engine.score import contribution_column
from caliber.scoring.frames import Layout, prepare

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
_HEAD = ("impressions", "spend", "cpm", "ctr", "conversions", "conversion_rate")


def result_rows(
    result: EngineResult, campaign_id: uuid.UUID, run_id: uuid.UUID
) -> list[dict[str, Any]]:
    """The engine's result rows as ``scoring_results`` rows of run ``run_id`` (keys of
    :data:`COLUMNS`); rank = position in the engine's order."""
    dimension = result.dimension
    metrics = result.metric_names
    frame = prepare(result.results, dimension)
    rows: list[dict[str, Any]] = []
    for rank, row in enumerate(frame.iter_rows(named=True), start=1):
        rows.append(
            {
                "id": uuid.uuid4(),
                "campaign_id": campaign_id,
                "run_id": run_id,
                "rank": rank,
                "domain": row[dimension],
                "impressions": float(row["impressions"]),
                "spend": _float(row["spend"]),
                "cpm": _float(row["cpm"]),
                "ctr": _float(row["ctr"]),
                "conversions": _float(row["conversions"]),
                "conversion_rate": _float(row["conversion_rate"]),
                "score": float(row["score"]),
                "percentile_rank": int(row["percentile_rank"]),
                "quality_status": row["quality_status"],
                "is_outlier": bool(row["is_outlier"]),
                "outlier_flags": list(row["outlier_flags"] or []),
                "metrics": {
                    "values": {m: row[m] for m in metrics},
                    "normalized": {m: row[f"{m}_normalized"] for m in metrics},
                    "source_rows": row["source_rows"],
                },
                "score_breakdown": result.breakdown(row),
            }
        )
    return rows


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def insert_rows(
    session: Session, rows: Sequence[dict[str, Any]], *, table: str = TABLE.name
) -> int:
    """Insert ``rows`` (keys: :data:`COLUMNS`) in the session's transaction: COPY on
    PostgreSQL, executemany elsewhere (``table``: another with the same columns)."""
    if not rows:
        return 0
    dialect = session.get_bind().dialect
    if dialect.name == "postgresql":
        _copy_rows(session, rows, table)
    elif dialect.paramstyle == "qmark":
        _executemany_rows(session, rows, table)
    else:
        session.execute(insert(TABLE), list(rows))
    return len(rows)


def _executemany_rows(session: Session, rows: Sequence[dict[str, Any]], table: str) -> None:
    """One executemany of ready-made values (SQLite): each column's own bind processor,
    the JSON columns written by orjson."""
    connection = session.connection()
    plain = COLUMNS[: -len(_JSON_COLUMNS)]
    processors = [TABLE.c[name].type.bind_processor(connection.dialect) for name in plain]
    pick = itemgetter(*plain)
    statement = (
        f"INSERT INTO {table} ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
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


def _copy_rows(session: Session, rows: Sequence[dict[str, Any]], table: str) -> None:
    """COPY FROM STDIN through the session's own connection (same transaction)."""
    driver = session.connection().connection.driver_connection
    assert driver is not None
    plain = itemgetter(*COLUMNS[: -len(_JSON_COLUMNS)])
    statement = f"COPY {table} ({', '.join(COLUMNS)}) FROM STDIN"
    with driver.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(
                (*plain(row), *(json.dumps(row[c], allow_nan=False) for c in _JSON_COLUMNS))
            )


def count_rows(session: Session, run_id: uuid.UUID) -> int:
    found = session.scalar(
        select(func.count()).select_from(ScoringResult).where(ScoringResult.run_id == run_id)
    )
    return found or 0


def delete_rows(
    session: Session,
    campaign_id: uuid.UUID | None,
    runs: Sequence[uuid.UUID],
    *,
    limit: int | None = None,
) -> int:
    """Delete the rows of ``runs`` (of ``campaign_id`` when given), at most ``limit`` of
    them (a short transaction on SQLite); how many were deleted."""
    where: list[ColumnElement[bool]] = [ScoringResult.run_id.in_(list(runs))]
    if campaign_id is not None:
        where.append(ScoringResult.campaign_id == campaign_id)
    if limit is not None:
        chosen = select(ScoringResult.id).where(*where).limit(limit).scalar_subquery()
        where = [ScoringResult.id.in_(chosen)]
    statement = delete(ScoringResult).where(*where)
    result = cast(
        CursorResult[Any], session.execute(statement.execution_options(synchronize_session=False))
    )
    return int(result.rowcount or 0)


def stray_runs(session: Session, kept: Sequence[uuid.UUID], limit: int = 100) -> list[uuid.UUID]:
    """Runs that have rows here but are not among ``kept`` (the runs still read from
    here): what a save cut off under the SQL layout left, or a run since removed."""
    query = select(ScoringResult.run_id).distinct().limit(limit)
    if kept:
        query = query.where(ScoringResult.run_id.not_in(list(kept)))
    return list(session.scalars(query))


def load_frame(session: Session, run_id: uuid.UUID, layout: Layout) -> pl.DataFrame:
    """The stored rows of run ``run_id`` as the engine's ``results`` frame: the same
    columns, order and values (``caliber score``'s results.csv, outlier_flags a list)."""
    query = select(TABLE).where(TABLE.c.run_id == run_id).order_by(TABLE.c.rank)
    return frame_of(session.execute(query).mappings(), layout)


def frame_of(rows: Iterable[Mapping[Any, Any]], layout: Layout) -> pl.DataFrame:
    """Rows of the SQL layout (mappings keyed by :data:`COLUMNS`, in rank order) as the
    engine's ``results`` frame."""
    dimension = layout.dimension
    metrics = [m.name for m in layout.metrics]
    extra = [m for m in metrics if m not in _HEAD]
    records: list[dict[str, Any]] = []
    for row in rows:
        stored = row["metrics"] or {}
        values = stored.get("values", {})
        normalized = stored.get("normalized", {})
        breakdown = row["score_breakdown"] or {}
        record: dict[str, Any] = {dimension: row["domain"]}
        record.update({c: row[c] for c in _HEAD})
        record.update({m: values.get(m) for m in extra})
        record.update({f"{m}_normalized": normalized.get(m) for m in metrics})
        record.update(
            score=row["score"],
            percentile_rank=row["percentile_rank"],
            quality_status=row["quality_status"],
            outlier_flags=list(row["outlier_flags"] or []),
            is_outlier=row["is_outlier"],
        )
        record.update(
            {contribution_column(m): breakdown.get(m, {}).get("contribution") for m in metrics}
        )
        record["source_rows"] = stored.get("source_rows")
        records.append(record)
    schema: dict[str, pl.DataType | type[pl.DataType]] = {dimension: pl.String}
    schema.update(dict.fromkeys([*_HEAD, *extra], pl.Float64))
    schema.update({f"{m}_normalized": pl.Float64 for m in metrics})
    schema.update(
        score=pl.Float64,
        percentile_rank=pl.Int64,
        quality_status=pl.String,
        outlier_flags=pl.List(pl.String),
        is_outlier=pl.Boolean,
    )
    schema.update({contribution_column(m): pl.Float64 for m in metrics})
    schema["source_rows"] = pl.get_index_type()  # a row count, as the engine counts
    frame = pl.DataFrame(records, schema=schema)
    # as the engine shows them: counts that are whole numbers as integers
    whole = [
        c
        for c in ("impressions", "conversions")
        if frame.height and bool((frame[c].drop_nulls() % 1 == 0).all())
    ]
    return frame.with_columns(pl.col(c).cast(pl.Int64) for c in whole)
