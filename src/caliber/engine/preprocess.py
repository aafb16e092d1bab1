"""Cleaning: from a file's table to one row per domain or supply vendor with its metrics.

Steps (``scoring.md`` §2-3), all vectorized polars expressions:

1. map headers to standard names and decide where each metric comes from, failing
   before any work if a metric can come from neither (:mod:`caliber.engine.headers`);
2. parse cells (money, thousands separators, percent, missing markers) and count what
   they say (:mod:`caliber.engine.cells`);
3. drop aggregate rows (whole-value match) and rows with no dimension value, and group
   by the normalized name (:mod:`caliber.engine.dimension`);
4. sum counts per name, weight given rates by impressions;
5. derive metrics from the sums; apply the volume filter.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import polars as pl

from caliber.engine import number_format
from caliber.engine.cells import (
    cell_exprs,
    cell_stats,
    cell_warnings,
    combine,
    missing_impressions,
    unsure_cells,
    warn_huge_counts,
)
from caliber.engine.columns import INPUTS, Kind
from caliber.engine.config import CPM_WARNING_THRESHOLD, Platform, ResolvedSetup, Setup
from caliber.engine.dimension import (
    AGGREGATE_PATTERN,
    DROPPED_KEYS,
    FIRST,
    MAX_NAME_LENGTH,
    RAW,
    ROWS,
    group_key,
    name_warnings,
)
from caliber.engine.errors import (
    EmptyFileError,
    MissingColumnError,
    MissingMetricError,
    NoDataError,
    NoScorableRowsError,
    UnreadableFileError,
)
from caliber.engine.headers import MetricSource, map_headers, plan_sources
from caliber.engine.locate import located, record_layout
from caliber.engine.metrics import METRICS
from caliber.engine.number_format import NumberColumn, NumberReading
from caliber.engine.options import ReadOptions
from caliber.engine.read import Table, is_encoding_error
from caliber.engine.report import DataWarning, ProcessingReport
from caliber.engine.usercolumns import sum_parts

DIM = "__dimension"


@dataclass(frozen=True)
class Prepared:
    """The aggregated, filtered frame ready to normalize, and what it took to get there."""

    frame: pl.DataFrame  # one row per dimension value: DIM, counts, metrics
    sources: dict[str, MetricSource]
    total_impressions: float


def prepare(
    table: Table,
    setup: Setup,
    resolved: ResolvedSetup,
    report: ProcessingReport,
    options: ReadOptions | None = None,
) -> Prepared:
    """Run steps 1-6 on ``table`` and fill ``report``.

    One streaming pass parses the cells and groups by the dimension; per-column
    statistics (unparseable cells, negatives, percent signs, ranges) are aggregated per
    group in the same pass and reduced afterwards. Dividing a percentage column by 100
    commutes with the impression-weighted mean, so it is applied after aggregation.
    """
    options = options or ReadOptions()
    # the user's mapping first, then the aliases; several headers of one count add up
    mapping = map_headers(table.headers, options.columns)
    report.file_format = table.format
    report.encoding = table.encoding
    report.delimiter = table.delimiter
    report.column_mapping = dict(mapping.mapped)
    report.unmapped_columns = list(mapping.unmapped)
    report.ignored_duplicate_columns = dict(mapping.ignored_duplicates)
    report.input_columns = mapping.describe()
    report.warnings.extend(table.warnings)
    record_layout(table, report)
    try:
        sources = plan_sources(mapping, resolved, str(setup.platform))
    except (MissingColumnError, MissingMetricError) as exc:
        # say what was read: the sheet (and the others), the header row, its headers
        raise located(exc, table) from None
    header_of = mapping.header_names()
    report.metric_sources = {m: s.describe(header_of) for m, s in sources.items()}

    level = str(resolved.level)
    inputs = [c for c in _inputs_needed(sources) if c in mapping.positions]
    rates = sorted({s.columns[0] for s in sources.values() if s.kind == "rate"})
    positions = {mapping.positions[level], 0, *(p for c in inputs for p in mapping.columns[c])}
    scan = table.scan(sorted(positions))
    schema = scan.collect_schema()
    # every mapped numeric column votes on the number format (dates and names never do)
    numeric = [
        NumberColumn(name, p, table.headers[p])
        for name, where in mapping.columns.items()
        if INPUTS[name].kind is not Kind.DIMENSION
        for p in where
    ]

    def first_pass(reading: NumberReading) -> pl.DataFrame:
        cells = [
            sum_parts(
                c,
                [
                    cell_exprs(c, f"c{p}", schema[f"c{p}"], reading.format_of(p))
                    for p in mapping.columns[c]
                ],
            )
            for c in inputs
        ]
        # Level 1 groups by the raw dimension text (and whether the first column marks
        # an aggregate row); level 2 normalizes the few distinct raw values and merges
        # them, so the string work runs per distinct value instead of per row.
        dim_column = f"c{mapping.positions[level]}"
        first_is_aggregate = (
            pl.col("c0").cast(pl.String).str.contains(AGGREGATE_PATTERN).fill_null(value=False)
            if mapping.positions[level] != 0
            else pl.lit(value=False)
        )
        staged = scan.select(
            pl.col(dim_column).cast(pl.String).alias(RAW),
            first_is_aggregate.alias(FIRST),
            *(e for exprs in cells for e in exprs),
        )
        return _collect(staged.group_by(RAW, FIRST).agg(_group_aggs(inputs, rates)))

    try:
        # the number format is decided on the first rows and checked on every cell read;
        # a cell that may contradict it has every row counted, and the pass rerun when
        # the decision changes
        given = options.number_format
        reading = number_format.detect(table, numeric, given, _collect)
        level1 = first_pass(reading)
        if number_format.needs_whole_file(reading, unsure_cells(level1, inputs)):
            count = partial(_collect, streaming=True)
            whole = number_format.detect(table, numeric, given, _collect, None, count)
            if whole.formats != reading.formats:
                level1 = first_pass(whole)
            reading = whole
    except _NotUtf8Error:
        if table.reopen is None:
            raise UnreadableFileError("the file is not valid UTF-8 text") from None
        report.percent_columns.clear()
        return prepare(table.reopen(), setup, resolved, report, options)
    report.number_format = reading.to_dict()
    report.warnings.extend(reading.warnings())
    # sorted, so the merge below adds floats in the same order on every run
    level1 = level1.sort(RAW, FIRST)
    keyed = level1.with_columns(group_key(RAW, FIRST).alias(DIM)).drop(RAW, FIRST)
    grouped = keyed.group_by(DIM).agg(combine(c) for c in keyed.columns if c != DIM)

    report.rows_read = int(grouped[ROWS].sum() or 0)
    if report.rows_read == 0:
        raise EmptyFileError(
            "the file has a header row but no data rows", headers=list(table.headers)
        )
    dropped_groups = dict(
        grouped.filter(pl.col(DIM).is_in(list(DROPPED_KEYS.values()))).select(DIM, ROWS).iter_rows()
    )
    dropped = {reason: int(dropped_groups.get(key, 0)) for reason, key in DROPPED_KEYS.items()}
    report.rows_dropped = {k: v for k, v in dropped.items() if v}
    report.warnings.extend(name_warnings(level1, dropped, level, header_of[level]))
    kept = grouped.filter(~pl.col(DIM).is_in(list(DROPPED_KEYS.values())))
    if kept.height == 0:
        too_long = dropped["dimension_too_long"]
        raise NoScorableRowsError(
            f"no data rows left after dropping {dropped['aggregate_row']} aggregate row(s), "
            f"{dropped['missing_dimension']} row(s) without a {level.replace('_', ' ')}"
            + (
                f" and {too_long} row(s) whose {level.replace('_', ' ')} is longer than "
                f"{MAX_NAME_LENGTH} characters"
                if too_long
                else ""
            ),
            rows_read=report.rows_read,
            rows_dropped=dropped,
        )
    percent = cell_warnings(kept, inputs, header_of, report)
    for name in inputs:
        if INPUTS[name].kind is Kind.COUNT:
            position = mapping.positions[name]
            fmt = reading.format_of(position)
            warn_huge_counts(table, position, header_of[name], kept, name, report, fmt)
    total_impressions = float(kept["impressions|sum"].sum() or 0.0)
    if not total_impressions > 0:
        raise NoDataError(
            f"the impressions column ('{header_of['impressions']}') has no positive value",
            column=header_of["impressions"],
        )
    aggregated = kept.select(_final_exprs(inputs, sources, percent))
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


class _NotUtf8Error(Exception):
    """The scanned bytes are not UTF-8 (a file scanned in place is then decoded)."""


def _collect(frame: pl.LazyFrame, *, streaming: bool = False) -> pl.DataFrame:
    try:
        # The in-memory engine sums each group in a fixed order; the streaming engine's
        # float sums depend on thread timing (the last bit of spend or a rate could vary
        # between runs, and a rounded score with it). Counting cells may stream.
        return frame.collect(engine="streaming" if streaming else "in-memory")
    except pl.exceptions.ComputeError as exc:
        if is_encoding_error(exc):
            raise _NotUtf8Error from None
        lines = str(exc).strip().splitlines()
        first = lines[0] if lines else type(exc).__name__
        raise UnreadableFileError(f"the file could not be parsed: {first}") from None


def _group_aggs(inputs: list[str], rates: list[str]) -> list[pl.Expr]:
    imps = pl.col("impressions")
    aggs: list[pl.Expr] = [pl.len().alias(ROWS)]
    for name in inputs:
        value = pl.col(name)
        aggs += [
            value.sum().alias(f"{name}|sum"),
            value.count().alias(f"{name}|n"),
            *cell_stats(name),
        ]
        if name in rates:
            aggs += [
                (value * imps).sum().alias(f"{name}|wsum"),
                pl.when(value.is_not_null()).then(imps).sum().alias(f"{name}|w"),
            ]
    aggs.append(missing_impressions())
    return aggs


def _final_exprs(
    inputs: list[str], sources: dict[str, MetricSource], percent: set[str]
) -> list[pl.Expr]:
    """Counts from their sums (missing when a group had no value), then metrics (§3)."""
    exprs: list[pl.Expr] = [pl.col(DIM), pl.col(ROWS)]
    for name in inputs:
        if INPUTS[name].kind is Kind.COUNT:
            exprs.append(_count(name).alias(name))
    for metric, source in sources.items():
        if source.kind == "counts":
            num, den = (_count(c) for c in source.columns)
            scale = METRICS[metric].scale
            exprs.append(pl.when(den > 0).then(num / den * scale).alias(metric))
        else:
            rate = source.columns[0]
            weight = pl.col(f"{rate}|w")
            divisor = 100.0 if rate in percent else 1.0
            exprs.append(
                pl.when(weight > 0).then(pl.col(f"{rate}|wsum") / weight / divisor).alias(metric)
            )
    return exprs


def _inputs_needed(sources: dict[str, MetricSource]) -> list[str]:
    names = ["impressions"]
    names += [c for s in sources.values() for c in s.columns]
    names += ["spend", "clicks", "conversions"]
    return list(dict.fromkeys(names))


def _count(name: str) -> pl.Expr:
    """A summed count, missing when no row of the group had a value."""
    return pl.when(pl.col(f"{name}|n") > 0).then(pl.col(f"{name}|sum"))


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
