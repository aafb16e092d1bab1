"""Where a scoring run's rows live: SQL rows per run, one columnar file per run, or
PostgreSQL partitions, measured at a scaled-down size (issue 18 §1).

Run: ``python benchmarks/run_storage.py [--campaigns 2] [--runs 3] [--rows 200000]
[--database-url URL] [--layouts rows,files,partitions] [--json]``
(default: a temporary SQLite database; pass a PostgreSQL URL, e.g. a database of its
own, to measure COPY and the partitioned layout, which only PostgreSQL has).

Every run is a genuine engine result: ``list_sim.simulate`` writes a Trade Desk
action/display export of ``--rows`` sites (one seed per campaign and run, so no two runs
are alike) and ``caliber.engine.pipeline.score`` scores it. Each layout stores
``--campaigns`` x ``--runs`` such runs, then the script prints per layout:

- bytes per row at rest: the table with its indexes and TOAST (PostgreSQL:
  ``pg_total_relation_size``; SQLite: its pages in ``dbstat``), or the run files;
- write rows/s of one run: building what is stored from the engine's frame, and writing
  it (COPY on PostgreSQL, one ``executemany`` transaction on SQLite, one file);
- the first page of a run no process holds yet (cold: everything a page needs read from
  where the run lives and indexed) and a page at depth once held (warm), best of 7;
- memory per run held for pages (the frames' ``estimated_size`` and the sort orders);
- removing one run (retention): DELETE of its rows, DROP of its partition, or the file.

Layouts: ``rows`` is the SQL layout Caliber had until issue 18 (one ``scoring_results``
row per result row, metrics and breakdown as JSON); ``files`` one Parquet file (zstd)
per run in the storage backend holding the engine's whole result frame, SQL keeping the
run's row (campaign, status, summary, list sizes); ``partitions`` (PostgreSQL only) the
same rows in a table partitioned by run (one partition per run, so retention drops it).
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import polars as pl
from sqlalchemy import Engine, delete, select, text
from sqlalchemy import column as sa_column
from sqlalchemy import table as sa_table
from sqlalchemy.orm import Session, sessionmaker

from caliber.db.migrate import upgrade
from caliber.db.models import Campaign, Organization, ScoringResult, User
from caliber.db.session import build_engine, session_factory, session_scope
from caliber.engine.config import Setup
from caliber.engine.pipeline import ScoringResult as EngineResult
from caliber.engine.pipeline import score
from caliber.scoring import frames as run_frames
from caliber.scoring import legacy, pages, store
from caliber.scoring.repository import ResultFilters
from caliber.scoring.results import result_row
from caliber.storage.local import LocalStorage

sys.path.insert(0, str(Path(__file__).resolve().parent))
import list_sim

T = TypeVar("T")
PER_PAGE = 50
SETUP = list_sim.SETUPS["action-display"]
PARTITIONED = "bench_partitioned_results"
# the agency platform of issue 18: what the bytes per row measured here come to
ORGANIZATIONS, CAMPAIGNS, RUNS, RUN_ROWS = 1_000, 50, 12, 200_000
AGENCY_ROWS = ORGANIZATIONS * CAMPAIGNS * RUNS * RUN_ROWS


@dataclass
class Figures:
    """What one layout measured."""

    layout: str
    rows: int = 0  # stored in all
    stored_bytes: int = 0
    build_s: list[float] = field(default_factory=list)  # per run: frame -> what is stored
    write_s: list[float] = field(default_factory=list)  # per run: the write itself
    sizes: list[int] = field(default_factory=list)  # per run: its rows
    cold_ms: float = 0.0
    warm_first_ms: float = 0.0
    warm_deep_ms: float = 0.0
    sorted_deep_ms: float = 0.0
    memory_bytes: int = 0  # one run held for pages
    remove_ms: float = 0.0
    notes: list[str] = field(default_factory=list)

    def per_row(self) -> float:
        return self.stored_bytes / self.rows if self.rows else 0.0

    def rows_per_s(self) -> float:
        """The best of the runs: rows stored per second of building and writing."""
        return max(
            size / (b + w)
            for size, b, w in zip(self.sizes, self.build_s, self.write_s, strict=True)
        )

    def memory_per_row(self) -> float:
        return self.memory_bytes / self.sizes[-1]  # (the run held is the last one)

    def to_dict(self) -> dict[str, Any]:
        return {
            "layout": self.layout,
            "rows": self.rows,
            "bytes_per_row": round(self.per_row(), 1),
            "build_s": [round(s, 3) for s in self.build_s],
            "write_s": [round(s, 3) for s in self.write_s],
            "write_rows_per_s": round(self.rows_per_s()),
            "cold_first_page_ms": round(self.cold_ms, 1),
            "warm_first_page_ms": round(self.warm_first_ms, 2),
            "warm_deep_page_ms": round(self.warm_deep_ms, 2),
            "warm_deep_sorted_page_ms": round(self.sorted_deep_ms, 2),
            "memory_bytes_per_row": round(self.memory_per_row(), 1),
            "remove_run_ms": round(self.remove_ms, 1),
        }


def engine_run(seed: int, rows: int, work: Path) -> EngineResult:
    """A genuine engine result of ``rows`` sites: a simulated export, scored."""
    export = list_sim.simulate(SETUP, seed, domains=rows)
    path = work / f"export-{seed}.csv"
    export.write_csv(path)
    try:
        return score(path, Setup.create(SETUP.platform, SETUP.goal, SETUP.channel))
    finally:
        path.unlink()


def _best_ms(action: Callable[[], object], repeats: int = 7) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        times.append((time.perf_counter() - start) * 1000)
    return min(times)


def _timed(action: Callable[[], object]) -> float:
    return _timed_value(action)[0]


def _timed_value(action: Callable[[], T]) -> tuple[float, T]:
    start = time.perf_counter()
    value = action()
    return time.perf_counter() - start, value


# --- the SQL layouts (rows, partitions) ------------------------------------------------


def _sql_index_frame(session: Session, table: str, run_id: uuid.UUID) -> pl.DataFrame:
    """The run's narrow columns in rank order, as the SQL layout's page index loaded them
    (COPY as CSV on PostgreSQL, parsed by polars; plain rows on SQLite)."""
    names = ", ".join(pages.SCHEMA)
    query = (
        f"SELECT {names} FROM {table} WHERE run_id = '{_db_uuid(session, run_id)}' ORDER BY rank"
    )
    if session.get_bind().dialect.name != "postgresql":
        found = session.execute(text(query)).all()
        return pl.DataFrame([tuple(r) for r in found], schema=pages.SCHEMA, orient="row")
    driver = session.connection().connection.driver_connection
    assert driver is not None
    buffer = io.BytesIO()
    with driver.cursor() as cursor, cursor.copy(f"COPY ({query}) TO STDOUT (FORMAT csv)") as copy:
        for chunk in copy:
            buffer.write(chunk)
    buffer.seek(0)
    return pl.read_csv(
        buffer, has_header=False, new_columns=list(pages.SCHEMA), schema=pages.SCHEMA
    )


def _db_uuid(session: Session, value: uuid.UUID) -> str:
    return str(value) if session.get_bind().dialect.name == "postgresql" else value.hex


def _sql_page(session: Session, table: str, run_id: uuid.UUID, ranks: np.ndarray) -> list[Any]:
    """A page's rows by (run, rank), as the SQL layout fetched them (the JSON columns
    decoded), made what the page answers."""
    typed = sa_table(table, *(sa_column(c.name, c.type) for c in legacy.TABLE.columns))
    wanted = [int(r) for r in ranks]
    query = select(typed).where(typed.c.run_id == run_id, typed.c.rank.in_(wanted))
    found = {row.rank: row for row in session.execute(query).all()}
    return [result_row(found[rank]) for rank in wanted]


def _sql_reads(
    sessions: sessionmaker[Session], table: str, run_id: uuid.UUID, figures: Figures
) -> None:
    with sessions() as session:

        def cold() -> None:
            index = _NarrowIndex(_sql_index_frame(session, table, run_id))
            _sql_page(session, table, run_id, index.ranks(ResultFilters(), "score")[:PER_PAGE])

        figures.cold_ms = _best_ms(cold, repeats=3)
        index = _NarrowIndex(_sql_index_frame(session, table, run_id))
        default = index.ranks(ResultFilters(), "score")
        by_impressions = index.ranks(ResultFilters(quality_status="moderate"), "impressions")
        figures.warm_first_ms = _best_ms(lambda: _sql_page(session, table, run_id, default[:50]))
        deep = default[-PER_PAGE:]
        figures.warm_deep_ms = _best_ms(lambda: _sql_page(session, table, run_id, deep))
        deep_sorted = by_impressions[-PER_PAGE:]
        figures.sorted_deep_ms = _best_ms(lambda: _sql_page(session, table, run_id, deep_sorted))
        figures.memory_bytes = index.memory()


class _NarrowIndex:
    """The SQL layout's page index: narrow columns and one order per sorted column."""

    def __init__(self, frame: pl.DataFrame) -> None:
        self.index = pages.RunIndex(frame)

    def ranks(self, filters: ResultFilters, sort: Any) -> np.ndarray:
        return pages.ordered_ranks(self.index, filters, sort, "desc")

    def memory(self) -> int:
        for column in pages.SORTED_COLUMNS:
            self.index.order(column, "asc")
        return int(self.index.frame.estimated_size()) + self.index.orders_bytes()


def _table_bytes(session: Session, tables: Sequence[str]) -> int:
    if session.get_bind().dialect.name == "postgresql":
        total = 0
        for table in tables:
            total += session.scalar(text(f"SELECT pg_total_relation_size('{table}')")) or 0
        return int(total)
    names = ", ".join(f"'{t}'" for t in tables)
    indexes = session.scalars(
        text(f"SELECT name FROM sqlite_master WHERE tbl_name IN ({names})")
    ).all()
    quoted = ", ".join(f"'{n}'" for n in {*tables, *indexes})
    found = session.scalar(text(f"SELECT SUM(pgsize) FROM dbstat WHERE name IN ({quoted})"))
    return int(found or 0)


def measure_rows(
    sessions: sessionmaker[Session], runs: Sequence[tuple[uuid.UUID, EngineResult]]
) -> Figures:
    """Today's layout: one scoring_results row per result row."""
    figures = Figures("rows")
    run_ids = []
    for campaign_id, result in runs:
        run_id = uuid.uuid4()
        built, rows = _timed_value(partial(legacy.result_rows, result, campaign_id, run_id))
        figures.build_s.append(built)

        def write(batch: list[dict[str, Any]] = rows) -> None:
            with session_scope(sessions) as session:
                legacy.insert_rows(session, batch)

        figures.write_s.append(_timed(write))
        figures.rows += len(rows)
        figures.sizes.append(len(rows))
        run_ids.append((campaign_id, run_id))
        del rows
        gc.collect()
    with sessions() as session:
        _analyze(session, "scoring_results")
        figures.stored_bytes = _table_bytes(session, ["scoring_results"])
    _sql_reads(sessions, "scoring_results", run_ids[-1][1], figures)
    campaign_id, oldest = run_ids[0]

    def remove() -> None:  # as the SQL layout removed a replaced run: batches on SQLite
        with session_scope(sessions) as session:
            legacy.delete_rows(session, campaign_id, [oldest])

    figures.remove_ms = _timed(remove) * 1000
    return figures


def _analyze(session: Session, table: str) -> None:
    bind = session.get_bind()
    statement = f"VACUUM (ANALYZE) {table}" if bind.dialect.name == "postgresql" else "ANALYZE"
    with bind.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text(statement))


def measure_partitions(
    sessions: sessionmaker[Session], runs: Sequence[tuple[uuid.UUID, EngineResult]]
) -> Figures:
    """The same rows, in a table partitioned by run (PostgreSQL): one partition each."""
    figures = Figures("partitions")
    with session_scope(sessions) as session:
        session.execute(text(f"DROP TABLE IF EXISTS {PARTITIONED}"))
        session.execute(
            text(
                f"CREATE TABLE {PARTITIONED} (LIKE scoring_results INCLUDING DEFAULTS) "
                "PARTITION BY LIST (run_id)"
            )
        )
        session.execute(text(f"ALTER TABLE {PARTITIONED} ADD PRIMARY KEY (run_id, id)"))
        session.execute(text(f"ALTER TABLE {PARTITIONED} ADD UNIQUE (run_id, domain)"))
        session.execute(text(f"ALTER TABLE {PARTITIONED} ADD UNIQUE (run_id, rank)"))
        for name, columns in (
            ("status_score", "run_id, quality_status, score, rank"),
            ("score", "run_id, score, rank"),
            ("impressions", "run_id, impressions, rank"),
        ):
            session.execute(text(f"CREATE INDEX bench_p_{name} ON {PARTITIONED} ({columns})"))
    partitions = []
    try:
        for campaign_id, result in runs:
            run_id = uuid.uuid4()
            built, rows = _timed_value(partial(legacy.result_rows, result, campaign_id, run_id))
            figures.build_s.append(built)
            partition = f"bench_p_{run_id.hex}"

            def write(
                batch: list[dict[str, Any]] = rows, p: str = partition, i: uuid.UUID = run_id
            ) -> None:
                with session_scope(sessions) as session:
                    session.execute(
                        text(f"CREATE TABLE {p} PARTITION OF {PARTITIONED} FOR VALUES IN ('{i}')")
                    )
                    legacy.insert_rows(session, batch, table=PARTITIONED)

            figures.write_s.append(_timed(write))
            figures.rows += len(rows)
            figures.sizes.append(len(rows))
            partitions.append((partition, run_id))
            del rows
            gc.collect()
        with sessions() as session:
            for partition, _ in partitions:
                _analyze(session, partition)
            figures.stored_bytes = _table_bytes(session, [p for p, _ in partitions])
        _sql_reads(sessions, PARTITIONED, partitions[-1][1], figures)

        def remove() -> None:
            with session_scope(sessions) as session:
                session.execute(text(f"DROP TABLE {partitions[0][0]}"))

        figures.remove_ms = _timed(remove) * 1000
        figures.notes.append(
            "one partition per run: ~600,000 partitions at the agency scale, far beyond what "
            "PostgreSQL plans well (thousands); hash partitions by campaign keep DELETE"
        )
    finally:
        with session_scope(sessions) as session:
            session.execute(text(f"DROP TABLE IF EXISTS {PARTITIONED}"))
    return figures


# --- the file layout ----------------------------------------------------------------


def _file_bytes(result: EngineResult) -> bytes:
    return run_frames.to_parquet(run_frames.prepare(result.results, result.dimension))


def measure_files(storage: LocalStorage, runs: Sequence[tuple[uuid.UUID, EngineResult]]) -> Figures:
    """One Parquet file per run in the storage backend (the engine's whole frame), as
    the scoring job writes it (caliber.scoring.jobs.save_result, saving.save_run)."""
    figures = Figures("files")
    kept = []
    for campaign_id, result in runs:
        run_id = uuid.uuid4()
        built, data = _timed_value(partial(_file_bytes, result))
        figures.build_s.append(built)
        key = store.run_key(campaign_id, run_id)
        figures.write_s.append(_timed(partial(store.save_frame, storage, key, data)))
        figures.rows += result.results.height
        figures.sizes.append(result.results.height)
        figures.stored_bytes += len(data)
        kept.append((key, run_id, run_frames.Layout.of(result.setup)))
    key, run_id, layout = kept[-1]

    def held() -> pages.HeldRun:  # what PageIndex.run does on a run's first read
        frame = run_frames.from_parquet(storage.read(key))
        return pages.HeldRun(run_frames.StoredRun(run_id, layout, frame))

    def cold() -> None:
        run = held()
        ranks = pages.ordered_ranks(run.index, ResultFilters(), "score", "desc")
        [result_row(r) for r in run.stored.records(ranks[:PER_PAGE] - 1)]

    figures.cold_ms = _best_ms(cold, repeats=3)
    run = held()
    default = pages.ordered_ranks(run.index, ResultFilters(), "score", "desc") - 1
    by_impressions = (
        pages.ordered_ranks(
            run.index, ResultFilters(quality_status="moderate"), "impressions", "desc"
        )
        - 1
    )

    def page(positions: np.ndarray) -> list[dict[str, Any]]:
        return [result_row(r) for r in run.stored.records(positions)]

    figures.warm_first_ms = _best_ms(lambda: page(default[:PER_PAGE]))
    figures.warm_deep_ms = _best_ms(lambda: page(default[-PER_PAGE:]))
    figures.sorted_deep_ms = _best_ms(lambda: page(by_impressions[-PER_PAGE:]))
    for column in pages.SORTED_COLUMNS:
        run.index.order(column, "asc")
    figures.memory_bytes = run.memory_bytes()
    figures.remove_ms = _timed(lambda: storage.delete(kept[0][0])) * 1000
    return figures


# --- driver ---------------------------------------------------------------------------


@contextmanager
def _database(url: str | None, work: Path) -> Iterator[tuple[Engine, sessionmaker[Session]]]:
    url = url or f"sqlite:///{work / 'runs.db'}"
    upgrade(url)
    engine = build_engine(url)
    try:
        yield engine, session_factory(engine)
    finally:
        engine.dispose()


def _campaigns(sessions: sessionmaker[Session], count: int) -> tuple[uuid.UUID, list[uuid.UUID]]:
    with session_scope(sessions) as session:
        user = User(id=uuid.uuid4(), firebase_uid=f"bench-runs-{uuid.uuid4().hex}")
        session.add(user)
        # its organization has its id, so the one id scopes the services too
        session.add(Organization(id=user.id, name="bench runs"))
        session.flush()
        made = []
        for index in range(count):
            campaign = Campaign(
                owner_id=user.id,
                organization_id=user.id,
                name=f"runs {index}",
                platform=SETUP.platform,
                goal=SETUP.goal,
                channel=SETUP.channel,
            )
            session.add(campaign)
            session.flush()
            made.append(campaign.id)
        return user.id, made


def _print(all_figures: list[Figures], sites: int, backend: str, runs: int) -> None:
    base = all_figures[0]
    mean = statistics.fmean(base.sizes)
    print(
        f"Run storage on {backend}: {runs} runs per layout, {mean:,.0f} result rows a run on "
        f"average ({sites:,} sites, those under the impressions floor not scored)"
    )
    header = (
        f"{'layout':11s} {'bytes/row':>9s} {'build s':>8s} {'write s':>8s} {'rows/s':>10s} "
        f"{'cold ms':>8s} {'warm 1st':>8s} {'warm deep':>9s} {'deep sort':>9s} "
        f"{'mem B/row':>9s} {'remove ms':>9s}"
    )
    print(header)
    for f in all_figures:
        print(
            f"{f.layout:11s} {f.per_row():9.1f} {min(f.build_s):8.3f} {min(f.write_s):8.3f} "
            f"{f.rows_per_s():10,.0f} {f.cold_ms:8.1f} {f.warm_first_ms:8.2f} "
            f"{f.warm_deep_ms:9.2f} {f.sorted_deep_ms:9.2f} "
            f"{f.memory_per_row():9.1f} {f.remove_ms:9.1f}"
        )
    print(f"ratios to {base.layout}:")
    for f in all_figures[1:]:
        print(
            f"{f.layout:11s} bytes/row x{f.per_row() / base.per_row():.3f}, "
            f"write rows/s x{f.rows_per_s() / base.rows_per_s():.1f}, "
            f"cold first page x{f.cold_ms / base.cold_ms:.2f}, "
            f"warm deep page x{f.warm_deep_ms / base.warm_deep_ms:.2f}, "
            f"memory x{f.memory_per_row() / base.memory_per_row():.2f}"
        )
    print(
        f"at the agency scale ({AGENCY_ROWS / 1e9:,.0f} billion rows: {ORGANIZATIONS:,} "
        f"organizations x {CAMPAIGNS} campaigns x {RUNS} runs x {RUN_ROWS:,} rows):"
    )
    for f in all_figures:
        total = f.per_row() * AGENCY_ROWS
        print(
            f"{f.layout:11s} {total / 1e12:8.1f} TB in all, {total / ORGANIZATIONS / 1e9:7.1f} GB "
            f"per organization, {f.per_row() * RUN_ROWS / 1e6:7.1f} MB per run"
        )
    for f in all_figures:
        for note in f.notes:
            print(f"note ({f.layout}): {note}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--campaigns", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3, help="runs per campaign")
    parser.add_argument("--rows", type=int, default=200_000, help="rows per run")
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--layouts", default="rows,files,partitions")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    layouts = [name.strip() for name in args.layouts.split(",") if name.strip()]
    unknown = set(layouts) - {"rows", "files", "partitions"}
    if unknown or not layouts or args.campaigns < 1 or args.runs < 1 or args.rows < PER_PAGE:
        parser.error(f"bad arguments: layouts {sorted(unknown)}, or sizes too small")
    with (
        tempfile.TemporaryDirectory() as tmp,
        _database(args.database_url, Path(tmp)) as (
            engine,
            sessions,
        ),
    ):
        work = Path(tmp)
        backend = engine.dialect.name
        if backend != "postgresql" and "partitions" in layouts:
            layouts.remove("partitions")
        user_id, campaigns = _campaigns(sessions, args.campaigns)
        started = time.perf_counter()
        runs = [
            (campaign_id, engine_run(1000 * c + r, args.rows, work))
            for c, campaign_id in enumerate(campaigns)
            for r in range(args.runs)
        ]
        print(f"{len(runs)} engine runs made in {time.perf_counter() - started:.1f} s")
        try:
            measured = []
            for layout in layouts:
                if layout == "rows":
                    measured.append(measure_rows(sessions, runs))
                elif layout == "partitions":
                    measured.append(measure_partitions(sessions, runs))
                else:
                    measured.append(measure_files(LocalStorage(work / "files"), runs))
                gc.collect()
        finally:
            with session_scope(sessions) as session:
                session.execute(
                    delete(ScoringResult).where(ScoringResult.campaign_id.in_(campaigns))
                )
                session.execute(delete(User).where(User.id == user_id))
        _print(measured, args.rows, backend, len(runs))
        if args.json:
            print(json.dumps([f.to_dict() for f in measured]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
