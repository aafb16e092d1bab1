"""Result pages from a per-run index held in memory.

A run's rows never change (a new run has a new run id, hence new keys), so
each API process keeps, per run, the narrow columns pages sort and filter on (the
*index*: rank, score, impressions, spend, CPM, CTR, conversion rate, percentile, name,
status), each column's ascending order (sorted in the background once the index is
loaded; one sort serves both directions and every filter), about 120 bytes a row in
all, and per sort and filter the ordered ranks of the matching rows. A page is then a
slice of those ranks and one primary-key lookup of its rows, whatever the sort, filter
or depth: PostgreSQL never sorts or walks an offset of a 200,000-row campaign per
request.

The order is the SQL order of :func:`caliber.scoring.repository.results_page`: the
sort column in the asked direction, rows with no value last, ties by engine rank in
the sort's direction; names compare by code point (as the SQL path does on every
backend). Campaigns larger than the budget are paged by SQL.

Budgets (per process): indexes of at most ``max_rows`` rows in all
(``RESULT_CACHE_ROWS``), and at most 4 × ``max_rows`` cached ranks.
"""

from __future__ import annotations

import io
import threading
import uuid
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
from sqlalchemy import Row, Select, select
from sqlalchemy.orm import Session

from caliber.core.lru import RunCache
from caliber.db.models import ScoringResult
from caliber.scoring.repository import ResultFilters, SortColumn, SortDirection

DEFAULT_MAX_ROWS = 2_000_000

SCHEMA: dict[str, type[pl.DataType]] = {
    "rank": pl.Int32,
    "domain": pl.String,
    "impressions": pl.Float64,
    "spend": pl.Float64,
    "cpm": pl.Float64,
    "ctr": pl.Float64,
    "conversion_rate": pl.Float64,
    "score": pl.Float64,
    "percentile_rank": pl.Int32,
    "quality_status": pl.String,
}


@dataclass(frozen=True)
class RunKey:
    """A run's rows: ``scoring_results.run_id`` (a new run has a new id)."""

    run_id: uuid.UUID


# every sortable column (score too: ascending; descending is rank order), most used first
SORTED_COLUMNS: tuple[SortColumn, ...] = (
    "score",
    "impressions",
    "ctr",
    "cpm",
    "spend",
    "conversion_rate",
    "percentile_rank",
    "domain",
)


class RunIndex:
    """One run's narrow columns (in rank order) and each column's ascending order: one
    sort per column serves both directions and every filter. :meth:`prewarm` sorts them
    all on a background thread (polars sorts without holding the GIL), so the first
    request of each sort does not pay for it."""

    def __init__(self, frame: pl.DataFrame) -> None:
        self.frame = frame
        self.ranks = frame["rank"].to_numpy().astype(np.int32, copy=False)
        self._ascending: dict[str, tuple[np.ndarray, int]] = {}
        self._locks = {column: threading.Lock() for column in SORTED_COLUMNS}

    @property
    def height(self) -> int:
        return self.frame.height

    def prewarm(self) -> None:
        def sort_all() -> None:
            for column in SORTED_COLUMNS:
                self._ascending_order(column)

        threading.Thread(target=sort_all, name="caliber-page-index", daemon=True).start()

    def order(self, sort_by: SortColumn, direction: SortDirection) -> np.ndarray:
        """Row positions in page order: the column in ``direction``, missing values last,
        ties by rank in the sort's direction (the SQL order)."""
        if sort_by == "score" and direction == "desc":  # the engine's rank order
            return np.arange(self.height, dtype=np.int32)
        ascending, missing = self._ascending_order(sort_by)
        if direction == "asc":
            return ascending
        present = self.height - missing
        # reversed: (value desc, rank desc), then the missing ones by rank desc
        return np.concatenate((ascending[:present][::-1], ascending[present:][::-1]))

    def _ascending_order(self, column: SortColumn) -> tuple[np.ndarray, int]:
        with self._locks[column]:  # one sort per column, whoever asks first
            found = self._ascending.get(column)
            if found is None:
                positions = self.frame.select(
                    pl.arg_sort_by([column, "rank"], nulls_last=True)
                ).to_series()
                found = (
                    positions.to_numpy().astype(np.int32, copy=False),
                    self.frame[column].null_count(),
                )
                self._ascending[column] = found
            return found

    def matching(self, filters: ResultFilters) -> np.ndarray | None:
        """A mask of the rows matching ``filters`` by position (None: no filter)."""
        if filters == ResultFilters():
            return None
        mask = self.frame.select(_predicate(filters)).to_series().fill_null(False)
        return mask.to_numpy()


class PageIndex:
    """The per-process caches of run indexes and orderings."""

    def __init__(self, max_rows: int = DEFAULT_MAX_ROWS) -> None:
        self.configure(max_rows)

    def configure(self, max_rows: int) -> None:
        self.max_rows = max_rows
        self._runs: RunCache[RunIndex] = RunCache(
            64, weight=lambda run: run.height, max_weight=max_rows
        )
        self._orders: RunCache[np.ndarray] = RunCache(
            1024, weight=lambda ranks: int(ranks.size) or 1, max_weight=4 * max_rows
        )

    def serves(self, row_count: int) -> bool:
        """Whether a run of ``row_count`` rows is paged from memory."""
        return row_count <= self.max_rows

    def run(self, session: Session, run: RunKey) -> RunIndex:
        return self._runs.get_or_make(run, lambda: RunIndex(load_frame(session, run.run_id)))

    def frame(self, session: Session, run: RunKey) -> pl.DataFrame:
        return self.run(session, run).frame

    def ranks(
        self,
        session: Session,
        run: RunKey,
        filters: ResultFilters,
        sort_by: SortColumn,
        direction: SortDirection,
    ) -> np.ndarray:
        """The ranks of the rows matching ``filters``, in page order."""
        key: Hashable = (run, filters, sort_by, direction)
        return self._orders.get_or_make(
            key, lambda: ordered_ranks(self.run(session, run), filters, sort_by, direction)
        )

    def clear(self) -> None:
        self._runs.clear()
        self._orders.clear()


def load_frame(session: Session, run_id: uuid.UUID) -> pl.DataFrame:
    """The run's narrow columns, in rank order. On PostgreSQL as CSV through COPY, parsed
    by polars (a 200k-row run in a fraction of the time, and without holding the GIL for
    200,000 Python tuples, which would stall every other request of the process)."""
    table = ScoringResult.__table__
    query = (
        select(*(table.c[name] for name in SCHEMA))
        .where(table.c.run_id == run_id)
        .order_by(table.c.rank)
    )
    if session.get_bind().dialect.name == "postgresql":
        return _copy_frame(session, query)
    rows = session.execute(query).all()
    return pl.DataFrame([tuple(r) for r in rows], schema=SCHEMA, orient="row")


def _copy_frame(session: Session, query: Select[Any]) -> pl.DataFrame:
    connection = session.connection()
    statement = str(query.compile(connection, compile_kwargs={"literal_binds": True}))
    driver = connection.connection.driver_connection
    assert driver is not None
    buffer = io.BytesIO()
    with (
        driver.cursor() as cursor,
        cursor.copy(f"COPY ({statement}) TO STDOUT (FORMAT csv)") as copy,
    ):
        for chunk in copy:
            buffer.write(chunk)
    if buffer.tell() == 0:
        return pl.DataFrame(schema=SCHEMA)
    buffer.seek(0)
    return pl.read_csv(
        buffer, has_header=False, new_columns=list(SCHEMA), schema=SCHEMA, quote_char='"'
    )


def ordered_ranks(
    index: RunIndex, filters: ResultFilters, sort_by: SortColumn, direction: SortDirection
) -> np.ndarray:
    order = index.order(sort_by, direction)
    mask = index.matching(filters)
    if mask is not None:
        order = order[mask[order]]
    ranks: np.ndarray = index.ranks[order]
    return ranks


def _predicate(filters: ResultFilters) -> pl.Expr:
    found = pl.lit(True)
    if filters.quality_status is not None:
        found &= pl.col("quality_status") == filters.quality_status
    if filters.min_score is not None:
        found &= pl.col("score") >= filters.min_score
    if filters.max_score is not None:
        found &= pl.col("score") <= filters.max_score
    if filters.min_impressions is not None:
        found &= pl.col("impressions") >= filters.min_impressions
    return found


def fetch_rows(session: Session, run_id: uuid.UUID, ranks: np.ndarray) -> list[Row[Any]]:
    """The rows of ``ranks``, in that order (one lookup by the (run, rank) key); plain
    rows, not ORM objects (read-only, and a third of the cost)."""
    wanted = [int(r) for r in ranks]
    if not wanted:
        return []
    table = ScoringResult.__table__
    found = {
        row.rank: row
        for row in session.execute(
            select(*table.columns).where(table.c.run_id == run_id, table.c.rank.in_(wanted))
        ).all()
    }
    return [found[rank] for rank in wanted if rank in found]


_index = PageIndex()
_configure_lock = threading.Lock()


def index() -> PageIndex:
    return _index


def configure(max_rows: int) -> None:
    """Set the per-process budget (``RESULT_CACHE_ROWS``); drops what is cached."""
    with _configure_lock:
        if max_rows != _index.max_rows:
            _index.configure(max_rows)
