"""Cleaning: header mapping, cell parsing, aggregate-row removal, aggregation, metrics.

Steps (``scoring.md`` §2-3), all vectorized polars expressions:

1. map headers to standard names by exact folded alias (no fuzzy matching);
2. decide where each metric comes from (counts preferred, else a rate column) and
   fail before any work if a metric can come from neither;
3. drop aggregate rows (whole-value match) and rows with no dimension value;
4. parse cells (money, thousands separators, percent, missing markers);
5. group by the analysis dimension, sum counts, weight given rates by impressions;
6. derive metrics from the sums; apply the volume filter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import polars as pl

from caliber.engine.config import (
    ALIAS_INDEX,
    CPM_WARNING_THRESHOLD,
    INPUTS,
    METRICS,
    STANDARD_OUTPUT_METRICS,
    Kind,
    Level,
    Platform,
    ResolvedSetup,
    Setup,
    alias_rank,
    fold_header,
    metric_requirement,
)
from caliber.engine.errors import (
    MissingColumnError,
    MissingMetricError,
    NoDataError,
    NoScorableRowsError,
)

if TYPE_CHECKING:
    from caliber.engine.read import Table

AGGREGATE_MARKERS: tuple[str, ...] = (
    "total",
    "totals",
    "grand total",
    "summary",
    "row labels",
    "[tail aggregate]",
    "(not set)",
    "(not available)",
)
MISSING_MARKERS: tuple[str, ...] = ("", "-", "--", "n/a", "null")

DIM = "__dimension"
_FIRST = "__first"
_ROWS = "source_rows"


@dataclass(frozen=True)
class DataWarning:
    """A data-quality observation that did not stop scoring."""

    code: str
    message: str
    column: str | None = None
    count: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "column": self.column,
            "count": self.count,
        }


@dataclass(frozen=True)
class ColumnMapping:
    """Which header became which standard column, and what was left alone."""

    positions: dict[str, int]  # standard name -> header position
    mapped: dict[str, str]  # header -> standard name
    unmapped: list[str]
    ignored_duplicates: dict[str, list[str]]  # standard name -> headers not used


@dataclass(frozen=True)
class MetricSource:
    metric: str
    kind: str  # "counts" or "rate"
    columns: tuple[str, ...]  # standard input names used

    def describe(self, headers: dict[str, str]) -> str:
        names = [headers.get(c, c) for c in self.columns]
        if self.kind == "counts":
            recipe = METRICS[self.metric]
            scale = f" × {recipe.scale:g}" if recipe.scale != 1 else ""
            return f"{names[0]} / {names[1]}{scale} (summed per row)"
        return f"impression-weighted mean of {names[0]}"


@dataclass
class ProcessingReport:
    """What the cleaning did, for the user and for audits."""

    file_format: str | None = None
    encoding: str | None = None
    delimiter: str | None = None
    column_mapping: dict[str, str] = field(default_factory=dict)
    unmapped_columns: list[str] = field(default_factory=list)
    ignored_duplicate_columns: dict[str, list[str]] = field(default_factory=dict)
    metric_sources: dict[str, str] = field(default_factory=dict)
    percent_columns: list[str] = field(default_factory=list)
    rows_read: int = 0
    rows_dropped: dict[str, int] = field(default_factory=dict)
    rows_aggregated: int = 0
    rows_filtered: int = 0
    rows_scored: int = 0
    filter_threshold: float = 0.0
    warnings: list[DataWarning] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "file_format": self.file_format,
            "encoding": self.encoding,
            "delimiter": self.delimiter,
            "column_mapping": dict(self.column_mapping),
            "unmapped_columns": list(self.unmapped_columns),
            "ignored_duplicate_columns": {
                k: list(v) for k, v in self.ignored_duplicate_columns.items()
            },
            "metric_sources": dict(self.metric_sources),
            "percent_columns": list(self.percent_columns),
            "rows_read": self.rows_read,
            "rows_dropped": dict(self.rows_dropped),
            "rows_dropped_total": sum(self.rows_dropped.values()),
            "rows_aggregated": self.rows_aggregated,
            "rows_filtered": self.rows_filtered,
            "rows_scored": self.rows_scored,
            "filter_threshold": self.filter_threshold,
            "warnings": [w.to_dict() for w in self.warnings],
        }


def map_headers(headers: Sequence[str]) -> ColumnMapping:
    """Map headers to standard names by exact folded alias; prefer the earlier alias."""
    candidates: dict[str, list[tuple[int, int, str]]] = {}
    unmapped: list[str] = []
    for position, header in enumerate(headers):
        standard = ALIAS_INDEX.get(fold_header(header))
        if standard is None:
            unmapped.append(header)
            continue
        candidates.setdefault(standard, []).append((alias_rank(standard, header), position, header))
    positions: dict[str, int] = {}
    mapped: dict[str, str] = {}
    ignored: dict[str, list[str]] = {}
    for standard, options in candidates.items():
        options.sort()
        _, position, header = options[0]
        positions[standard] = position
        mapped[header] = standard
        if len(options) > 1:
            ignored[standard] = [h for _, _, h in options[1:]]
    return ColumnMapping(positions, mapped, unmapped, ignored)


def plan_sources(mapping: ColumnMapping, resolved: ResolvedSetup) -> dict[str, MetricSource]:
    """Where each metric (of the setup, plus the standard output ones) comes from.

    Raises before any parsing when the dimension, impressions or a setup metric is missing.
    """
    level = str(resolved.level)
    if level not in mapping.positions:
        accepted = ", ".join(f"'{a}'" for a in INPUTS[level].aliases)
        raise MissingColumnError(
            f"no {level.replace('_', ' ')} column: this setup scores by {level}; "
            f"add one of these headers: {accepted}",
            column=level,
            accepted_headers=list(INPUTS[level].aliases),
        )
    if "impressions" not in mapping.positions:
        accepted = ", ".join(f"'{a}'" for a in INPUTS["impressions"].aliases)
        raise MissingColumnError(
            f"no impressions column; add one of these headers: {accepted}",
            column="impressions",
            accepted_headers=list(INPUTS["impressions"].aliases),
        )
    sources: dict[str, MetricSource] = {}
    missing: list[str] = []
    wanted = [m.name for m in resolved.metrics]
    wanted += [m for m in STANDARD_OUTPUT_METRICS if m not in wanted]
    for name in wanted:
        source = _source_for(name, mapping)
        if source is not None:
            sources[name] = source
        elif name in {m.name for m in resolved.metrics}:
            missing.append(name)
    if missing:
        needs = "; ".join(f"{m} needs {metric_requirement(m)}" for m in missing)
        raise MissingMetricError(
            f"the file lacks what this setup needs: {needs}",
            missing_metrics=missing,
            requirements={m: metric_requirement(m) for m in missing},
        )
    return sources


def _source_for(metric: str, mapping: ColumnMapping) -> MetricSource | None:
    recipe = METRICS[metric]
    have = mapping.positions
    numerator, denominator = recipe.numerator, recipe.denominator
    if numerator is not None and denominator is not None and {numerator, denominator} <= set(have):
        return MetricSource(metric, "counts", (numerator, denominator))
    for rate in recipe.rate_columns:
        if rate in have:
            return MetricSource(metric, "rate", (rate,))
    return None


@dataclass(frozen=True)
class Prepared:
    """The aggregated, filtered frame ready to normalize, and what it took to get there."""

    frame: pl.DataFrame  # one row per dimension value: DIM, counts, metrics
    sources: dict[str, MetricSource]
    total_impressions: float


def prepare(
    table: Table, setup: Setup, resolved: ResolvedSetup, report: ProcessingReport
) -> Prepared:
    """Run steps 1-6 on ``table`` and fill ``report``."""
    mapping = map_headers(table.headers)
    report.file_format = table.format
    report.encoding = table.encoding
    report.delimiter = table.delimiter
    report.column_mapping = dict(mapping.mapped)
    report.unmapped_columns = list(mapping.unmapped)
    report.ignored_duplicate_columns = dict(mapping.ignored_duplicates)
    sources = plan_sources(mapping, resolved)
    header_of = {std: table.headers[pos] for std, pos in mapping.positions.items()}
    report.metric_sources = {m: s.describe(header_of) for m, s in sources.items()}

    level = str(resolved.level)
    inputs = [c for c in _inputs_needed(sources) if c in mapping.positions]
    wanted_positions = {mapping.positions[level], 0, *(mapping.positions[c] for c in inputs)}
    raw = table.load(sorted(wanted_positions))
    report.rows_read = raw.height

    dim_raw = pl.col(f"c{mapping.positions[level]}").cast(pl.String).str.strip_chars()
    first_raw = pl.col("c0").cast(pl.String).str.strip_chars().str.to_lowercase()
    dim_lower = dim_raw.str.to_lowercase()
    is_aggregate = dim_lower.is_in(AGGREGATE_MARKERS) | first_raw.is_in(AGGREGATE_MARKERS)
    dim_norm = dim_lower.str.strip_prefix("www.").str.strip_chars()
    is_missing = dim_norm.is_null() | (dim_norm == "")
    renamed = [pl.col(f"c{mapping.positions[c]}").alias(c) for c in inputs]
    # lazy, so the shared sub-expressions (dim_lower, dim_norm) are computed once
    staged = (
        raw.lazy()
        .select(
            is_aggregate.fill_null(value=False).alias("__aggregate"),
            dim_norm.alias(DIM),
            is_missing.alias("__missing"),
            *renamed,
        )
        .collect()
    )
    del raw
    counts = staged.select(
        pl.col("__aggregate").sum().alias("aggregate"),
        (pl.col("__missing") & ~pl.col("__aggregate")).sum().alias("missing"),
    ).row(0)
    dropped = {"aggregate_row": int(counts[0]), "missing_dimension": int(counts[1])}
    report.rows_dropped = {k: v for k, v in dropped.items() if v}
    kept = staged.filter(~pl.col("__aggregate") & ~pl.col("__missing")).drop(
        "__aggregate", "__missing"
    )
    del staged
    if kept.height == 0:
        raise NoScorableRowsError(
            f"no data rows left after dropping {dropped['aggregate_row']} aggregate row(s) and "
            f"{dropped['missing_dimension']} row(s) without a {level.replace('_', ' ')}",
            rows_read=report.rows_read,
            rows_dropped=dropped,
        )

    parsed = _parse_cells(kept, inputs, header_of, report)
    del kept
    total_impressions = float(parsed.select(pl.col("impressions").sum()).item() or 0.0)
    if not total_impressions > 0:
        raise NoDataError(
            f"the impressions column ('{header_of['impressions']}') has no positive value",
            column=header_of["impressions"],
        )
    aggregated = _aggregate(parsed, sources, inputs)
    del parsed
    report.rows_aggregated = aggregated.height

    threshold = float(setup.min_impressions)
    if setup.platform is Platform.PULSEPOINT:
        threshold = max(threshold, setup.pulsepoint_min_share * total_impressions)
    report.filter_threshold = threshold
    filtered = aggregated.filter(pl.col("impressions") >= threshold)
    report.rows_filtered = aggregated.height - filtered.height
    report.rows_scored = filtered.height
    if filtered.height == 0:
        largest = aggregated.select(pl.col("impressions").max()).item()
        raise NoScorableRowsError(
            f"no {level.replace('_', ' ')} has at least {threshold:,.0f} impressions "
            f"(the largest has {largest or 0:,.0f}); lower min_impressions",
            threshold=threshold,
            largest=largest,
        )
    for metric in resolved.metrics:
        if filtered.select(pl.col(metric.name).is_not_null().sum()).item() == 0:
            source = sources[metric.name]
            columns = ", ".join(f"'{header_of[c]}'" for c in source.columns)
            raise NoDataError(
                f"metric {metric.name} has no value in any scored row (from {columns}); "
                "the column(s) are empty or hold only missing markers",
                metric=metric.name,
                columns=[header_of[c] for c in source.columns],
            )
    report.warnings.extend(_result_warnings(filtered, sources))
    return Prepared(filtered, sources, total_impressions)


def _inputs_needed(sources: dict[str, MetricSource]) -> list[str]:
    names = ["impressions"]
    names += [c for s in sources.values() for c in s.columns]
    names += ["spend", "clicks", "conversions"]
    return list(dict.fromkeys(names))


def _parse_cells(
    kept: pl.DataFrame,
    inputs: list[str],
    header_of: dict[str, str],
    report: ProcessingReport,
) -> pl.DataFrame:
    """Turn text cells into floats; decide percent columns; null out negative counts."""
    present = [c for c in inputs if c in kept.columns]
    parsed = kept.with_columns(
        _to_number(name, kept.schema[name]).alias(f"{name}|num") for name in present
    )
    stats: list[pl.Expr] = []
    for name in present:
        number, text = pl.col(f"{name}|num"), pl.col(name)
        failed = text.filter(number.is_null() & text.is_not_null())
        if kept.schema[name] == pl.String:
            # the missing-marker check runs only on cells that did not parse
            failed = failed.filter(
                ~failed.str.strip_chars().str.to_lowercase().is_in(MISSING_MARKERS)
            )
        stats += [
            failed.len().alias(f"{name}|bad"),
            number.max().alias(f"{name}|max"),
            (number < 0).sum().alias(f"{name}|neg"),
        ]
        if INPUTS[name].kind is Kind.RATE and kept.schema[name] == pl.String:
            stats.append(text.str.contains("%", literal=True).any().alias(f"{name}|pct"))
    summary = parsed.select(stats).row(0, named=True) if stats else {}
    numbers = parsed.select(pl.col(DIM), *(pl.col(f"{name}|num").alias(name) for name in present))
    del parsed

    fixes: list[pl.Expr] = []
    for name in present:
        header = header_of[name]
        kind = INPUTS[name].kind
        bad = int(summary[f"{name}|bad"])
        if bad:
            report.warnings.append(
                DataWarning(
                    "unparseable_values",
                    f"{bad} cell(s) of '{header}' are not numbers and were treated as missing",
                    header,
                    bad,
                )
            )
        negatives = int(summary[f"{name}|neg"])
        if kind is Kind.COUNT or kind is Kind.MONEY_RATE:
            if negatives:
                report.warnings.append(
                    DataWarning(
                        "negative_counts",
                        f"{negatives} negative value(s) in '{header}' were treated as missing",
                        header,
                        negatives,
                    )
                )
                fixes.append(pl.when(pl.col(name) >= 0).then(pl.col(name)).alias(name))
        elif kind is Kind.RATE:
            maximum = summary[f"{name}|max"]
            if summary.get(f"{name}|pct") or (maximum is not None and maximum > 1):
                report.percent_columns.append(header)
                fixes.append((pl.col(name) / 100.0).alias(name))
    if fixes:
        numbers = numbers.with_columns(fixes)
    _cell_range_warnings(numbers, present, header_of, report)
    return numbers


_NOISE = [" ", "\t", "\u00a0", "$", "€", "£", ","]


def _to_number(name: str, dtype: pl.DataType) -> pl.Expr:
    """Text cell -> float: currency signs, thousands separators, spaces and a trailing %
    removed; anything else that does not parse, and inf / NaN, become missing."""
    col = pl.col(name)
    if dtype == pl.String:
        cleaned = col.str.replace_many(_NOISE, [""] * len(_NOISE)).str.strip_suffix("%")
        number = cleaned.cast(pl.Float64, strict=False)
    else:
        number = col.cast(pl.Float64, strict=False)
    return pl.when(number.is_finite()).then(number)


def _cell_range_warnings(
    numbers: pl.DataFrame, present: list[str], header_of: dict[str, str], report: ProcessingReport
) -> None:
    checks: list[pl.Expr] = []
    for name in present:
        kind = INPUTS[name].kind
        if kind is Kind.RATE:
            checks.append(((pl.col(name) < 0) | (pl.col(name) > 1)).sum().alias(name))
        elif kind is Kind.MONEY_RATE:
            checks.append((pl.col(name) > CPM_WARNING_THRESHOLD).sum().alias(name))
    checks.append(pl.col("impressions").is_null().sum().alias("__no_impressions"))
    found = numbers.select(checks).row(0, named=True)
    for name, count in found.items():
        if not count:
            continue
        if name == "__no_impressions":
            report.warnings.append(
                DataWarning(
                    "missing_impressions",
                    f"{count} row(s) have no impressions value and add nothing to weighted "
                    "means or volume",
                    header_of["impressions"],
                    int(count),
                )
            )
        elif INPUTS[name].kind is Kind.RATE:
            report.warnings.append(
                DataWarning(
                    "rate_out_of_range",
                    f"{count} value(s) of '{header_of[name]}' lie outside [0, 1] after "
                    "percent conversion",
                    header_of[name],
                    int(count),
                )
            )
        else:
            report.warnings.append(
                DataWarning(
                    "cpm_above_1000",
                    f"{count} value(s) of '{header_of[name]}' are above "
                    f"{CPM_WARNING_THRESHOLD:,.0f}",
                    header_of[name],
                    int(count),
                )
            )


def _aggregate(
    numbers: pl.DataFrame, sources: dict[str, MetricSource], inputs: list[str]
) -> pl.DataFrame:
    """One row per dimension value: summed counts, then metrics from the sums (§3)."""
    present = set(numbers.columns)
    count_inputs = [c for c in inputs if c in present and INPUTS[c].kind is Kind.COUNT]
    rate_inputs = sorted({s.columns[0] for s in sources.values() if s.kind == "rate"} & present)
    imps = pl.col("impressions")
    aggs: list[pl.Expr] = [pl.len().alias(_ROWS)]
    aggs += [pl.when(pl.col(c).count() > 0).then(pl.col(c).sum()).alias(c) for c in count_inputs]
    for rate in rate_inputs:
        weight = pl.when(pl.col(rate).is_not_null()).then(imps)
        aggs.append((pl.col(rate) * imps).sum().alias(f"{rate}|wsum"))
        aggs.append(weight.sum().alias(f"{rate}|w"))
    grouped = numbers.group_by(DIM).agg(aggs)

    metric_exprs: list[pl.Expr] = []
    for metric, source in sources.items():
        if source.kind == "counts":
            num, den = (pl.col(c) for c in source.columns)
            scale = METRICS[metric].scale
            metric_exprs.append(pl.when(den > 0).then(num / den * scale).alias(metric))
        else:
            rate = source.columns[0]
            weight_sum = pl.col(f"{rate}|w")
            metric_exprs.append(
                pl.when(weight_sum > 0).then(pl.col(f"{rate}|wsum") / weight_sum).alias(metric)
            )
    result = grouped.with_columns(metric_exprs)
    helper = [c for c in result.columns if "|" in c]
    return result.drop(helper)


def _result_warnings(frame: pl.DataFrame, sources: dict[str, MetricSource]) -> list[DataWarning]:
    checks: list[pl.Expr] = []
    for metric, source in sources.items():
        if source.kind != "counts":
            continue
        if METRICS[metric].is_fraction:
            checks.append((pl.col(metric) > 1).sum().alias(metric))
        else:
            checks.append((pl.col(metric) > CPM_WARNING_THRESHOLD).sum().alias(metric))
    if not checks:
        return []
    warnings = []
    for metric, count in frame.select(checks).row(0, named=True).items():
        if not count:
            continue
        if METRICS[metric].is_fraction:
            message = f"{count} scored row(s) have {metric} above 1 (numerator above denominator)"
            code = "rate_out_of_range"
        else:
            message = f"{count} scored row(s) have {metric} above {CPM_WARNING_THRESHOLD:,.0f}"
            code = "cpm_above_1000"
        warnings.append(DataWarning(code, message, metric, int(count)))
    return warnings


def dimension_name(level: Level) -> str:
    """The result column that holds the analysis dimension."""
    return str(level)
