"""The engine's one entry point: a file (bytes) or a DataFrame plus a frozen setup in,
a :class:`ScoringResult` out. Pure and deterministic: same input, same output."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from caliber.engine import decisions, normalize, outliers, preprocess
from caliber.engine import lists as lists_mod
from caliber.engine.cells import MAX_COUNT
from caliber.engine.config import ResolvedSetup, Setup
from caliber.engine.locate import setup_inputs
from caliber.engine.options import ReadOptions
from caliber.engine.read import ReadLimits, Table, null_markers, open_table
from caliber.engine.report import ProcessingReport
from caliber.engine.score import PERCENTILE, SCORE, STATUS, add_scores, contribution_column

Progress = Callable[[str, float], None]
_OPTIONAL_OUTPUTS = ("spend", "cpm", "ctr", "conversions", "conversion_rate")


@dataclass(frozen=True)
class ScoringResult:
    """Everything a scoring run produced."""

    setup: Setup
    resolved: ResolvedSetup
    dimension: str  # "domain" or "supply_vendor": the results' key column
    results: pl.DataFrame  # one row per dimension value, best first
    lists: lists_mod.OptimizationLists
    campaign: dict[str, Any]
    normalization: dict[str, normalize.NormalizationStat]
    report: ProcessingReport
    # with setup.list_confidence: the model, the decisions and the classic lists (then
    # ``lists`` holds the confident ones, the lists in use)
    confidence: decisions.Confidence | None = None

    @property
    def metric_names(self) -> list[str]:
        return [m.name for m in self.resolved.metrics]

    def breakdown(self, row: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """Per-metric value, normalized value, weight and contribution of one result row."""
        return {
            m.name: {
                "value": row.get(m.name),
                "normalized": row.get(f"{m.name}_normalized"),
                "weight": m.weight,
                "contribution": row.get(contribution_column(m.name)),
                "higher_is_better": m.higher_is_better,
            }
            for m in self.resolved.metrics
        }

    def summary(self) -> dict[str, Any]:
        """JSON-able summary: campaign figures first, then setup, lists and the report."""
        report = self.report.to_dict()
        return {
            **self.campaign,
            "analysis_level": self.dimension,
            "setup": self.setup.to_dict(),
            "weights": self.resolved.weights,
            "directions": {
                m.name: "higher_is_better" if m.higher_is_better else "lower_is_better"
                for m in self.resolved.metrics
            },
            "lists": self.lists.criteria(),
            **({} if self.confidence is None else {"confidence": self.confidence.to_dict()}),
            "normalization_stats": {k: v.to_dict() for k, v in self.normalization.items()},
            "rows": {
                "read": report["rows_read"],
                "dropped": report["rows_dropped"],
                "dropped_total": report["rows_dropped_total"],
                "aggregated": report["rows_aggregated"],
                "filtered": report["rows_filtered"],
                "scored": report["rows_scored"],
            },
            "processing_report": report,
            "data_quality_warnings": report["warnings"],
        }


def score(
    source: bytes | Path | pl.DataFrame | Any,
    setup: Setup,
    *,
    filename: str | None = None,
    limits: ReadLimits | None = None,
    options: ReadOptions | None = None,
    progress: Progress | None = None,
) -> ScoringResult:
    """Score ``source`` (a file's bytes or path, or a polars/pandas DataFrame) under
    ``setup``, read as ``options`` say (default: everything detected)."""
    notify = progress or _silent
    options = options or ReadOptions()
    resolved = setup.resolve()
    notify("reading", 0.0)
    if isinstance(source, bytes | Path):
        # a workbook's sheet is the one whose header row matches this setup best
        wanted = setup_inputs(resolved, options.columns)
        table = open_table(source, filename, limits, options, wanted)
    else:
        table = _frame_table(source)
    notify("cleaning", 0.15)
    report = ProcessingReport(read_options=options.to_dict())
    prepared = preprocess.prepare(table, setup, resolved, report, options)
    notify("scoring", 0.7)
    dimension = str(resolved.level)
    metrics = resolved.metrics
    frame = prepared.frame.rename({preprocess.DIM: dimension})
    stats = normalize.fit(frame, metrics)
    frame = normalize.transform(frame, stats)
    frame = add_scores(frame, metrics)
    frame = outliers.add_outlier_flags(frame, [m.name for m in metrics])
    assessed = None
    if setup.list_confidence is not None:
        # after the classic score, which it leaves as it is (engine/decisions.py)
        frame, assessed = decisions.assess(frame, metrics, stats, prepared.sources, setup)
    results = lists_mod.rank_order(_arrange(frame, dimension, resolved), dimension)
    notify("lists", 0.9)
    optimization = lists_mod.build_lists(
        results,
        dimension,
        setup.min_impressions,
        setup.whitelist_quantile,
        setup.blacklist_quantile,
    )
    confidence = None
    if assessed is not None:
        classic = optimization
        optimization = decisions.confident_lists(results, dimension, setup)
        confidence = decisions.summarize(assessed, results, dimension, optimization, classic)
    campaign = lists_mod.campaign_summary(results, dimension)
    notify("done", 1.0)
    return ScoringResult(
        setup, resolved, dimension, results, optimization, campaign, stats, report, confidence
    )


def _silent(step: str, fraction: float) -> None:
    del step, fraction


def _arrange(frame: pl.DataFrame, dimension: str, resolved: ResolvedSetup) -> pl.DataFrame:
    """Fix the column set and order of §6; add empty columns the file could not give."""
    metrics = [m.name for m in resolved.metrics]
    missing = [c for c in _OPTIONAL_OUTPUTS if c not in frame.columns]
    if missing:
        frame = frame.with_columns(pl.lit(None, pl.Float64).alias(c) for c in missing)
    head = [dimension, "impressions", "spend", "cpm", "ctr", "conversions", "conversion_rate"]
    extra = [m for m in metrics if m not in head]
    order = [
        *head,
        *extra,
        *(f"{m}_normalized" for m in metrics),
        SCORE,
        PERCENTILE,
        STATUS,
        outliers.FLAGS,
        outliers.IS_OUTLIER,
        *(contribution_column(m) for m in metrics),
        "source_rows",
        # with confidence on (engine/decisions.py)
        *(c for c in decisions.result_columns(resolved.metrics) if c in frame.columns),
    ]
    whole = [
        c
        for c in ("impressions", "conversions")
        if frame[c].dtype.is_float()
        and bool((frame[c].drop_nulls() % 1 == 0).all())
        and bool((frame[c].drop_nulls().abs() <= MAX_COUNT).all())
    ]
    # counts read as text become floats; show them as integers when they are whole (and
    # exact: each count is at most 2**53, but a sum of many may not be)
    return frame.select(order).with_columns(pl.col(c).cast(pl.Int64) for c in whole)


def _frame_table(source: Any) -> Table:
    """A :class:`Table` over an in-memory DataFrame (polars, or pandas via Arrow)."""
    if isinstance(source, pl.DataFrame):
        frame = source
    elif hasattr(source, "to_numpy") and hasattr(source, "columns"):
        frame = pl.from_pandas(source)
    else:
        msg = f"source must be file bytes, a path or a DataFrame, not {type(source).__name__}"
        raise TypeError(msg)
    headers = tuple(str(c).strip() for c in frame.columns)

    def scan(positions: Sequence[int]) -> pl.LazyFrame:
        picked = frame.lazy().select(pl.nth(p).alias(f"c{p}") for p in positions)
        strings = [c for c, t in picked.collect_schema().items() if t == pl.String]
        return picked.with_columns(null_markers(pl.col(c)).alias(c) for c in strings)

    return Table(headers, "dataframe", None, None, scan)


__all__ = ["ScoringResult", "score"]
