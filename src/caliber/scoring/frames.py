"""A scoring run's results as one columnar frame: the engine's whole result frame, stored
as one Parquet file per run (:mod:`caliber.scoring.store`), and what every read of a
result row is made from (pages, the domain drawer, lists, exports, reports, the AI
context, analytics).

The stored frame is the engine's ``results`` frame in the engine's order (rank = position
+ 1) with non-finite floats made missing (they are neither JSON nor sortable), so it
carries every column the engine adds (the confidence columns of a setup with
``list_confidence`` too) without this module naming them. A row as the SQL layout stored
it (``scoring_results``: typed columns, ``metrics`` and ``score_breakdown`` as JSON) is
rebuilt from the frame and the run's :class:`Layout` exactly, to the Python type of each
value, so answers and exports are byte for byte what they were.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from caliber.core.errors import InvalidInput
from caliber.engine.confidence import shrunk_column
from caliber.engine.config import MetricSpec, Setup
from caliber.engine.decisions import DECISION, IMPRESSIONS_NEEDED
from caliber.engine.score import contribution_column

MAX_NAME_LENGTH = 512  # what the SQL layout's domain column held, kept as the limit
# the typed columns of a stored row, as the SQL layout read them back: floats (counts
# included), the percentile as an integer
HEAD_FLOATS = ("impressions", "spend", "cpm", "ctr", "conversions", "conversion_rate", "score")
# what a run scored with confidence adds that its lists are made of (engine/decisions.py)
CONFIDENCE_COLUMNS = ("shrunk_score", "score_low", "score_high")
# what a confident run's rows answer beside the classic fields (issue 17), in this order;
# the shrunk rates follow as ``shrunk_metrics``
ROW_CONFIDENCE = (*CONFIDENCE_COLUMNS, DECISION, IMPRESSIONS_NEEDED)
# the narrow columns pages sort and filter on (caliber.scoring.pages), in this order
INDEX_SCHEMA: dict[str, type[pl.DataType]] = {
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
# a confident run's index also carries each row's decision (the ``decision=`` filter)
DECISION_INDEX = DECISION


@dataclass(frozen=True)
class Layout:
    """What a run's frame is keyed by and scored with: the dimension column (``domain``
    or ``supply_vendor``) and the metrics in the setup's order, with the weight and
    direction each row's breakdown states."""

    dimension: str
    metrics: tuple[MetricSpec, ...]

    @classmethod
    def of(cls, setup: Setup) -> Layout:
        resolved = setup.resolve()
        return cls(str(resolved.level), tuple(resolved.metrics))

    @classmethod
    def from_snapshot(cls, snapshot: Mapping[str, Any]) -> Layout:
        """From a run's configuration snapshot (``analysis_level``, ``weights`` and
        ``directions`` in the setup's metric order, as the run was started with)."""
        weights: Mapping[str, Any] = snapshot.get("weights") or {}
        directions: Mapping[str, Any] = snapshot.get("directions") or {}
        metrics = tuple(
            MetricSpec(name, float(weight), directions.get(name) != "lower_is_better")
            for name, weight in weights.items()
        )
        return cls(str(snapshot.get("analysis_level") or "domain"), metrics)


def prepare(results: pl.DataFrame, dimension: str) -> pl.DataFrame:
    """The engine's results frame as stored: non-finite floats missing; a name longer
    than :data:`MAX_NAME_LENGTH` is the file's problem (a 422 naming the column)."""
    floats = [name for name, dtype in results.schema.items() if dtype.is_float()]
    frame = results.with_columns(
        pl.when(pl.col(c).is_finite()).then(pl.col(c)).alias(c) for c in floats
    )
    too_long = frame.filter(pl.col(dimension).str.len_chars() > MAX_NAME_LENGTH).height
    if too_long:
        raise InvalidInput(
            f"{too_long} {dimension} value(s) are longer than {MAX_NAME_LENGTH} characters; "
            "check the file's dimension column",
            field=dimension,
        )
    return frame


def to_parquet(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_parquet(buffer, compression="zstd")
    return buffer.getvalue()


def from_parquet(data: bytes) -> pl.DataFrame:
    return pl.read_parquet(io.BytesIO(data))


@dataclass(frozen=True)
class Record:
    """One stored result row, as the SQL layout's ``scoring_results`` row held it."""

    rank: int
    domain: str
    impressions: float
    spend: float | None
    cpm: float | None
    ctr: float | None
    conversions: float | None
    conversion_rate: float | None
    score: float
    percentile_rank: int
    quality_status: str
    is_outlier: bool
    outlier_flags: list[str]
    metrics: dict[str, Any]  # {"values": {...}, "normalized": {...}, "source_rows": n}
    score_breakdown: dict[str, dict[str, Any]]
    # a run scored with confidence: ROW_CONFIDENCE's values and ``shrunk_metrics``
    # (None on a classic run, whose rows answer as they always did)
    confidence: dict[str, Any] | None = None


# the columns of an exported row, in order: what the results CSV and JSON exports read
# (caliber.reports.formats.STORED_RESULT_FIELDS is this tuple)
EXPORT_FIELDS = (
    "domain",
    "score",
    "quality_status",
    "percentile_rank",
    "impressions",
    "spend",
    "cpm",
    "ctr",
    "conversions",
    "conversion_rate",
    "metrics",
    "score_breakdown",
    "outlier_flags",
)


class StoredRun:
    """A run's frame and what it serves: records (a page's rows, a domain), export rows,
    the list and report frames, and the narrow index pages sort on."""

    def __init__(self, run_id: uuid.UUID, layout: Layout, frame: pl.DataFrame) -> None:
        self.run_id = run_id
        self.layout = layout
        self.frame = frame
        self.index = self._index_frame()

    @property
    def height(self) -> int:
        return self.frame.height

    def _column(self, name: str, dtype: type[pl.DataType]) -> pl.Series:
        if name in self.frame.columns:
            return self.frame[name].cast(dtype)
        return pl.Series(name, [None] * self.height, dtype=dtype)

    def _index_frame(self) -> pl.DataFrame:
        columns = [pl.Series("rank", np.arange(1, self.height + 1, dtype=np.int32))]
        for name, dtype in list(INDEX_SCHEMA.items())[1:]:
            source = self.layout.dimension if name == "domain" else name
            columns.append(self._column(source, dtype).alias(name))
        if self.confident:
            columns.append(self.frame[DECISION].cast(pl.String).alias(DECISION_INDEX))
        return pl.DataFrame(columns)

    def index_bytes(self) -> int:
        """Memory the narrow index adds to the frame: its columns that are not the
        frame's own buffers (the rank, and the casts)."""
        extra = 4 * self.height
        for name, dtype in list(INDEX_SCHEMA.items())[2:]:
            source = self.layout.dimension if name == "domain" else name
            if source not in self.frame.columns or self.frame.schema[source] != dtype:
                extra += int(self.index[name].estimated_size())
        return extra

    def records(self, positions: Sequence[int] | np.ndarray) -> list[Record]:
        """The rows at ``positions`` (0-based, rank - 1), in that order."""
        part = self.frame[np.asarray(positions, dtype=np.int64)] if len(positions) else None
        if part is None:
            return []
        ranks = [int(p) + 1 for p in positions]
        return list(self._records(part, ranks))

    def find(self, name: str) -> Record | None:
        """The row named ``name`` ignoring case and a leading ``www.`` of the name asked,
        the first in rank order."""
        wanted = name.strip().lower().removeprefix("www.")
        hits = (
            self.frame.select(pl.col(self.layout.dimension).str.to_lowercase() == wanted)
            .to_series()
            .arg_true()
        )
        return self.records(hits[:1].to_numpy()).pop() if hits.len() else None

    def outlier_positions(self) -> np.ndarray:
        if "is_outlier" not in self.frame.columns:
            return np.zeros(0, dtype=np.int64)
        mask = self.frame["is_outlier"].fill_null(False)
        return mask.arg_true().to_numpy()

    def export_batches(
        self, mask: np.ndarray | None = None, batch: int = 2000, extra: Sequence[str] = ()
    ) -> Iterator[list[tuple[Any, ...]]]:
        """Every (matching) row in rank order as tuples of :data:`EXPORT_FIELDS`, then the
        values of the frame's ``extra`` columns (:meth:`confidence_columns`), ``batch``
        rows at a time."""
        positions = np.arange(self.height) if mask is None else np.flatnonzero(mask)
        for start in range(0, positions.size, batch):
            chunk = positions[start : start + batch]
            rows = [
                tuple(getattr(record, name) for name in EXPORT_FIELDS)
                for record in self.records(chunk)
            ]
            if extra:
                part = self.frame[chunk].select(extra)
                rows = [(*row, *more) for row, more in zip(rows, part.iter_rows(), strict=True)]
            yield rows

    def confidence_columns(self) -> list[str]:
        """A confident run's columns an export adds after the classic ones, in the
        engine's order (``caliber score --confidence``'s results.csv); none for a classic
        run."""
        if not self.confident:
            return []
        return [c for c in ROW_CONFIDENCE if c in self.frame.columns] + list(
            self.shrunk_columns().values()
        )

    def lines(self) -> pl.DataFrame:
        """The typed columns of every row in rank order (what a report lists and sums)."""
        return self.frame.select(
            pl.int_range(1, self.height + 1, dtype=pl.Int64).alias("rank"),
            self._column(self.layout.dimension, pl.String).alias("domain"),
            self._column("score", pl.Float64),
            self._column("quality_status", pl.String),
            self._column("percentile_rank", pl.Int64),
            *(self._column(c, pl.Float64) for c in HEAD_FLOATS if c != "score"),
        )

    def list_frame(self) -> pl.DataFrame:
        """The columns the engine's lists read (``decisions.lists_in_use``), in rank
        order, keyed by the dimension; with a run scored with confidence, its shrunk score
        and bounds too (the confident lists are made of them)."""
        extra = [c for c in CONFIDENCE_COLUMNS if c in self.frame.columns]
        return pl.DataFrame(
            [
                self._column(self.layout.dimension, pl.String).alias(self.layout.dimension),
                self._column("score", pl.Float64),
                self._column("impressions", pl.Float64),
                self._column("percentile_rank", pl.Int64),
                self._column("quality_status", pl.String),
                *(self._column(c, pl.Float64) for c in extra),
            ]
        )

    @property
    def confident(self) -> bool:
        """Scored with ``list_confidence``: its rows carry a decision."""
        return DECISION in self.frame.columns

    def shrunk_columns(self) -> dict[str, str]:
        """metric -> its ``shrunk_<metric>`` column, in the setup's order (the rate
        metrics a confident run shrank)."""
        return {
            m.name: shrunk_column(m.name)
            for m in self.layout.metrics
            if shrunk_column(m.name) in self.frame.columns
        }

    def metric_values(self, metric: str) -> pl.Series | None:
        return self.frame[metric] if metric in self.frame.columns else None

    def _records(self, part: pl.DataFrame, ranks: list[int]) -> Iterator[Record]:
        """Rows of ``part`` rebuilt as the SQL layout stored them: the typed columns as
        floats (counts included) and an integer percentile; ``metrics`` and the breakdown
        with each value as the engine's frame holds it (an integer stays one), keys in
        the setup's metric order."""

        def values(name: str, dtype: type[pl.DataType] | None = None) -> list[Any]:
            if name not in part.columns:
                return [None] * part.height
            column = part[name] if dtype is None else part[name].cast(dtype)
            return column.to_list()

        layout = self.layout
        names = values(layout.dimension)
        heads = {c: values(c, pl.Float64) for c in HEAD_FLOATS}
        percentiles = values("percentile_rank", pl.Int64)
        statuses = values("quality_status")
        outliers = values("is_outlier")
        flags = values("outlier_flags")
        sources = values("source_rows")
        metrics = [m.name for m in layout.metrics]
        raw = {m: values(m) for m in metrics}
        normalized = {m: values(f"{m}_normalized") for m in metrics}
        shares = {m: values(contribution_column(m)) for m in metrics}
        confidence = self._confidence(part) if self.confident else None
        for i, rank in enumerate(ranks):
            yield Record(
                rank=rank,
                domain=names[i],
                impressions=heads["impressions"][i],
                spend=heads["spend"][i],
                cpm=heads["cpm"][i],
                ctr=heads["ctr"][i],
                conversions=heads["conversions"][i],
                conversion_rate=heads["conversion_rate"][i],
                score=heads["score"][i],
                percentile_rank=percentiles[i],
                quality_status=statuses[i],
                is_outlier=bool(outliers[i]),
                outlier_flags=list(flags[i] or []),
                metrics={
                    "values": {m: raw[m][i] for m in metrics},
                    "normalized": {m: normalized[m][i] for m in metrics},
                    "source_rows": sources[i],
                },
                score_breakdown={
                    spec.name: {
                        "value": raw[spec.name][i],
                        "normalized": normalized[spec.name][i],
                        "weight": spec.weight,
                        "contribution": shares[spec.name][i],
                        "higher_is_better": spec.higher_is_better,
                    }
                    for spec in layout.metrics
                },
                confidence=None if confidence is None else confidence[i],
            )

    def _confidence(self, part: pl.DataFrame) -> list[dict[str, Any]]:
        """Each row's ROW_CONFIDENCE values and ``shrunk_metrics`` (impressions_needed an
        integer or None)."""
        heads = {c: part[c].to_list() for c in ROW_CONFIDENCE if c in part.columns}
        shrunk = {m: part[c].to_list() for m, c in self.shrunk_columns().items()}
        return [
            {
                **{c: heads[c][i] if c in heads else None for c in ROW_CONFIDENCE},
                "shrunk_metrics": {m: values[i] for m, values in shrunk.items()},
            }
            for i in range(part.height)
        ]
