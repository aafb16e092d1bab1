"""Result pages from a per-run index held in memory.

A run's rows never change (a new run has a new run id, hence new keys), so each API
process keeps, per run, the run's stored frame (:class:`caliber.scoring.frames.StoredRun`,
read once from the run's file) with its narrow columns pages sort and filter on (the
*index*: rank, score, impressions, spend, CPM, CTR, conversion rate, percentile, name,
status), each column's ascending order (sorted in the background once the index is
loaded; one sort serves both directions and every filter), and per sort and filter the
ordered ranks of the matching rows. A page is then a slice of those ranks and its rows
taken from the frame, whatever the sort, filter or depth: no database or storage read
per page.

The order: the sort column in the asked direction, rows with no value last, ties by
engine rank in the sort's direction; names compare by code point.

Budgets (per process): runs of at most ``max_rows`` rows in all (``RESULT_CACHE_ROWS``),
and at most 4 x ``max_rows`` cached ranks. A run larger than the whole budget is read for
each request and not kept.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Hashable
from dataclasses import dataclass

import numpy as np
import polars as pl
from sqlalchemy.orm import Session

from caliber.core.lru import RunCache
from caliber.db.models import ScoringRun
from caliber.scoring import store
from caliber.scoring.frames import DECISION_INDEX, INDEX_SCHEMA, StoredRun
from caliber.scoring.repository import ResultFilters, SortColumn, SortDirection

DEFAULT_MAX_ROWS = 2_000_000
SCHEMA = INDEX_SCHEMA


@dataclass(frozen=True)
class RunKey:
    """A run's rows (a new run has a new id)."""

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

    def orders_bytes(self) -> int:
        return sum(int(order.nbytes) for order, _ in self._ascending.values()) + int(
            self.ranks.nbytes
        )

    def matching(self, filters: ResultFilters) -> np.ndarray | None:
        """A mask of the rows matching ``filters`` by position (None: no filter)."""
        if filters == ResultFilters():
            return None
        mask = self.frame.select(_predicate(filters)).to_series().fill_null(False)
        return mask.to_numpy()


class HeldRun:
    """What a process holds of a run for its pages: the stored frame and its index."""

    def __init__(self, stored: StoredRun) -> None:
        self.stored = stored
        self.index = RunIndex(stored.index)

    @property
    def height(self) -> int:
        return self.stored.height

    def memory_bytes(self) -> int:
        """The frame, what the index adds to it, and the sort orders made so far."""
        return (
            int(self.stored.frame.estimated_size())
            + self.stored.index_bytes()
            + self.index.orders_bytes()
        )


class PageIndex:
    """The per-process caches of held runs and orderings."""

    def __init__(self, max_rows: int = DEFAULT_MAX_ROWS) -> None:
        self.configure(max_rows)

    def configure(self, max_rows: int) -> None:
        self.max_rows = max_rows
        self._runs: RunCache[HeldRun] = RunCache(
            64, weight=lambda held: held.height, max_weight=max_rows
        )
        self._orders: RunCache[np.ndarray] = RunCache(
            1024, weight=lambda ranks: int(ranks.size) or 1, max_weight=4 * max_rows
        )

    def run(self, session: Session, run: ScoringRun) -> HeldRun:
        """The run held for pages: read from its file (or SQL rows) the first time."""

        return self._runs.get_or_make(RunKey(run.id), lambda: HeldRun(store.load(session, run)))

    def ranks(
        self,
        held: HeldRun,
        filters: ResultFilters,
        sort_by: SortColumn,
        direction: SortDirection,
    ) -> np.ndarray:
        """The ranks of the held run's rows matching ``filters``, in page order."""
        key: Hashable = (RunKey(held.stored.run_id), filters, sort_by, direction)
        return self._orders.get_or_make(
            key, lambda: ordered_ranks(held.index, filters, sort_by, direction)
        )

    def clear(self) -> None:
        self._runs.clear()
        self._orders.clear()


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
    if filters.decision is not None:  # results.py refuses it on a classic run
        found &= pl.col(DECISION_INDEX) == filters.decision
    return found


_index = PageIndex()
_configure_lock = threading.Lock()


def index() -> PageIndex:
    return _index


def configure(max_rows: int) -> None:
    """Set the per-process budget (``RESULT_CACHE_ROWS``); drops what is cached."""
    with _configure_lock:
        if max_rows != _index.max_rows:
            _index.configure(max_rows)
