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

import re
from dataclasses import dataclass

import polars as pl

from caliber.engine.columns import INPUTS, Kind
from caliber.engine.config import CPM_WARNING_THRESHOLD, Platform, ResolvedSetup, Setup
from caliber.engine.errors import (
    EmptyFileError,
    NoDataError,
    NoScorableRowsError,
    UnreadableFileError,
)
from caliber.engine.headers import MetricSource, map_headers, plan_sources
from caliber.engine.metrics import METRICS
from caliber.engine.read import Table, is_encoding_error
from caliber.engine.report import DataWarning, ProcessingReport

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

# The longest domain or supply vendor kept: a domain has at most 253 characters and
# bundle ids and vendor names far fewer, so a longer value is a broken cell (a quote left
# open swallows the lines after it), never a name to whitelist; its row is dropped and
# counted. The service stores names in a 512-character column: the same rule for both.
MAX_NAME_LENGTH = 512
# The largest count a float holds exactly (2**53): a larger "count" (1e19 impressions)
# is not one anybody measured, and it would not fit the results' integer columns.
MAX_COUNT = float(2**53)

DIM = "__dimension"
_FIRST = "__first_is_aggregate"
_RAW = "__raw_dimension"
_ROWS = "source_rows"


@dataclass(frozen=True)
class Prepared:
    """The aggregated, filtered frame ready to normalize, and what it took to get there."""

    frame: pl.DataFrame  # one row per dimension value: DIM, counts, metrics
    sources: dict[str, MetricSource]
    total_impressions: float


def prepare(
    table: Table, setup: Setup, resolved: ResolvedSetup, report: ProcessingReport
) -> Prepared:
    """Run steps 1-6 on ``table`` and fill ``report``.

    One streaming pass parses the cells and groups by the dimension; per-column
    statistics (unparseable cells, negatives, percent signs, ranges) are aggregated per
    group in the same pass and reduced afterwards. Dividing a percentage column by 100
    commutes with the impression-weighted mean, so it is applied after aggregation.
    """
    mapping = map_headers(table.headers)
    report.file_format = table.format
    report.encoding = table.encoding
    report.delimiter = table.delimiter
    report.column_mapping = dict(mapping.mapped)
    report.unmapped_columns = list(mapping.unmapped)
    report.ignored_duplicate_columns = dict(mapping.ignored_duplicates)
    report.warnings.extend(table.warnings)
    sources = plan_sources(mapping, resolved)
    header_of = {std: table.headers[pos] for std, pos in mapping.positions.items()}
    report.metric_sources = {m: s.describe(header_of) for m, s in sources.items()}

    level = str(resolved.level)
    inputs = [c for c in _inputs_needed(sources) if c in mapping.positions]
    rates = sorted({s.columns[0] for s in sources.values() if s.kind == "rate"})
    positions = {mapping.positions[level], 0, *(mapping.positions[c] for c in inputs)}
    scan = table.scan(sorted(positions))
    schema = scan.collect_schema()
    cells = [
        _cell_exprs(c, f"c{mapping.positions[c]}", schema[f"c{mapping.positions[c]}"])
        for c in inputs
    ]
    # Level 1 groups by the raw dimension text (and whether the first column marks an
    # aggregate row); level 2 normalizes the few distinct raw values and merges them, so
    # the string work runs per distinct value instead of per row.
    dim_column = f"c{mapping.positions[level]}"
    first_is_aggregate = (
        pl.col("c0").cast(pl.String).str.contains(_AGGREGATE_PATTERN).fill_null(value=False)
        if mapping.positions[level] != 0
        else pl.lit(value=False)
    )
    staged = scan.select(
        pl.col(dim_column).cast(pl.String).alias(_RAW),
        first_is_aggregate.alias(_FIRST),
        *(e for exprs in cells for e in exprs),
    )
    try:
        level1 = _collect(staged.group_by(_RAW, _FIRST).agg(_group_aggs(inputs, rates)))
    except _NotUtf8Error:
        if table.reopen is None:
            raise UnreadableFileError("the file is not valid UTF-8 text") from None
        report.percent_columns.clear()
        return prepare(table.reopen(), setup, resolved, report)
    # sorted, so the merge below adds floats in the same order on every run
    level1 = level1.sort(_RAW, _FIRST)
    keyed = level1.with_columns(_group_key(_RAW, _FIRST).alias(DIM)).drop(_RAW, _FIRST)
    grouped = keyed.group_by(DIM).agg(_merge(c) for c in keyed.columns if c != DIM)

    report.rows_read = int(grouped[_ROWS].sum() or 0)
    if report.rows_read == 0:
        raise EmptyFileError(
            "the file has a header row but no data rows", headers=list(table.headers)
        )
    dropped_groups = dict(
        grouped.filter(pl.col(DIM).is_in(list(_DROPPED_KEYS.values())))
        .select(DIM, _ROWS)
        .iter_rows()
    )
    dropped = {reason: int(dropped_groups.get(key, 0)) for reason, key in _DROPPED_KEYS.items()}
    report.rows_dropped = {k: v for k, v in dropped.items() if v}
    report.warnings.extend(_name_warnings(level1, dropped, level, header_of[level]))
    kept = grouped.filter(~pl.col(DIM).is_in(list(_DROPPED_KEYS.values())))
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
    percent = _cell_warnings(kept, inputs, header_of, report)
    for name in inputs:
        if INPUTS[name].kind is Kind.COUNT:
            _warn_huge_counts(table, mapping.positions[name], header_of[name], kept, name, report)
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


# Group keys for dropped rows: they cannot collide with a real value (NUL first).
_AGGREGATE_KEY = "\x00aggregate"
_MISSING_KEY = "\x00missing"
_TOO_LONG_KEY = "\x00too long"
# rows dropped before anything else, by the reason the report counts them under
_DROPPED_KEYS = {
    "aggregate_row": _AGGREGATE_KEY,
    "missing_dimension": _MISSING_KEY,
    "dimension_too_long": _TOO_LONG_KEY,
}
_AGGREGATE_PATTERN = r"(?i)^\s*(?:" + "|".join(re.escape(m) for m in AGGREGATE_MARKERS) + r")\s*$"
# Removed from numeric cells: spaces, currency signs, thousands separators and the percent
# sign (whether a column is in percent is decided per column, from the raw cells).
_NOISE = [" ", "\t", "\u00a0", "$", "€", "£", ",", "%"]


class _NotUtf8Error(Exception):
    """The scanned bytes are not UTF-8 (a file scanned in place is then decoded)."""


def _collect(frame: pl.LazyFrame) -> pl.DataFrame:
    try:
        # The in-memory engine sums each group in a fixed order; the streaming engine's
        # float sums depend on thread timing (the last bit of spend or a rate could vary
        # between runs, and a rounded score with it).
        return frame.collect(engine="in-memory")
    except pl.exceptions.ComputeError as exc:
        if is_encoding_error(exc):
            raise _NotUtf8Error from None
        lines = str(exc).strip().splitlines()
        first = lines[0] if lines else type(exc).__name__
        raise UnreadableFileError(f"the file could not be parsed: {first}") from None


def _group_key(raw: str, first_is_aggregate: str) -> pl.Expr:
    """The normalized dimension value, or a sentinel for aggregate, blank and overlong
    rows. NUL characters are removed first: no database text column takes them, and a
    NUL inside a name is damage (a file padded with NUL bytes gives a blank name)."""
    lowered = (
        pl.col(raw).str.replace_all("\x00", "", literal=True).str.strip_chars().str.to_lowercase()
    )
    is_aggregate = lowered.is_in(AGGREGATE_MARKERS).fill_null(value=False) | pl.col(
        first_is_aggregate
    )
    value = lowered.str.strip_prefix("www.").str.strip_chars()
    return (
        pl.when(is_aggregate)
        .then(pl.lit(_AGGREGATE_KEY))
        .when(value.is_null() | (value == ""))
        .then(pl.lit(_MISSING_KEY))
        .when(value.str.len_chars() > MAX_NAME_LENGTH)
        .then(pl.lit(_TOO_LONG_KEY))
        .otherwise(value)
    )


def _merge(column: str) -> pl.Expr:
    """How a level-1 statistic combines across raw spellings of one dimension value."""
    if column.endswith("|pct"):
        return pl.col(column).any()
    if column.endswith("|max"):
        return pl.col(column).max()
    return pl.col(column).sum()


def _cell_exprs(name: str, source: str, dtype: pl.DataType) -> list[pl.Expr]:
    """Per cell: the number (money, separators, percent handled) and its flags.

    Missing markers are already null here (the readers turn them into nulls), so a
    non-null cell that gives no number is unparseable.
    """
    kind = INPUTS[name].kind
    raw = pl.col(source)
    if dtype == pl.String:
        number = raw.str.replace_many(_NOISE, [""] * len(_NOISE)).cast(pl.Float64, strict=False)
        percent = raw.str.contains("%", literal=True).fill_null(value=False)
    else:
        number = raw.cast(pl.Float64, strict=False)
        percent = pl.lit(value=False)
    exprs = [(raw.is_not_null() & number.is_null()).alias(f"{name}|bad")]
    if kind is Kind.COUNT or kind is Kind.MONEY_RATE:
        # negative counts and spend are reported and left out, like inf and NaN
        usable = number.is_finite() & (number >= 0)
        exprs.append((number < 0).fill_null(value=False).alias(f"{name}|neg"))
        if kind is Kind.COUNT:  # and so are counts too large to be counts
            usable = usable & (number <= MAX_COUNT)
            exprs.append((number > MAX_COUNT).fill_null(value=False).alias(f"{name}|huge"))
    else:
        usable = number.is_finite()
        exprs.append(percent.alias(f"{name}|pct"))
    exprs.append(pl.when(usable).then(number).alias(name))
    return exprs


def _group_aggs(inputs: list[str], rates: list[str]) -> list[pl.Expr]:
    imps = pl.col("impressions")
    aggs: list[pl.Expr] = [pl.len().alias(_ROWS)]
    for name in inputs:
        value = pl.col(name)
        kind = INPUTS[name].kind
        aggs += [
            value.sum().alias(f"{name}|sum"),
            value.count().alias(f"{name}|n"),
            pl.col(f"{name}|bad").sum().alias(f"{name}|bad"),
        ]
        if kind is Kind.COUNT or kind is Kind.MONEY_RATE:
            aggs.append(pl.col(f"{name}|neg").sum().alias(f"{name}|neg"))
        if kind is Kind.COUNT:
            aggs.append(pl.col(f"{name}|huge").sum().alias(f"{name}|huge"))
        if kind is Kind.MONEY_RATE:
            aggs.append((value > CPM_WARNING_THRESHOLD).sum().alias(f"{name}|high"))
        if kind is Kind.RATE:
            aggs += [
                pl.col(f"{name}|pct").any().alias(f"{name}|pct"),
                value.max().alias(f"{name}|max"),
                ((value < 0) | (value > 1)).sum().alias(f"{name}|out1"),
                ((value < 0) | (value > 100)).sum().alias(f"{name}|out100"),
            ]
        if name in rates:
            aggs += [
                (value * imps).sum().alias(f"{name}|wsum"),
                pl.when(value.is_not_null()).then(imps).sum().alias(f"{name}|w"),
            ]
    unset = imps.is_null() & ~pl.col("impressions|neg") & ~pl.col("impressions|huge")
    aggs.append(unset.sum().alias("impressions|missing"))
    return aggs


def _cell_warnings(
    kept: pl.DataFrame, inputs: list[str], header_of: dict[str, str], report: ProcessingReport
) -> set[str]:
    """Reduce the per-group cell statistics; warn; return the rate columns in percent."""
    wanted = [c for c in kept.columns if "|" in c and c.split("|")[1] not in _NOT_STATS]
    totals = kept.select(
        pl.col(c).any()
        if c.endswith("|pct")
        else pl.col(c).max()
        if c.endswith("|max")
        else pl.col(c).sum()
        for c in wanted
    ).row(0, named=True)
    percent: set[str] = set()
    for name in inputs:
        header = header_of[name]
        kind = INPUTS[name].kind
        bad = int(totals[f"{name}|bad"])
        if bad:
            report.warnings.append(
                DataWarning(
                    "unparseable_values",
                    f"{bad} cell(s) of '{header}' are not numbers and were treated as missing",
                    header,
                    bad,
                )
            )
        negatives = int(totals.get(f"{name}|neg") or 0)
        if negatives:
            report.warnings.append(
                DataWarning(
                    "negative_counts",
                    f"{negatives} negative value(s) in '{header}' were treated as missing",
                    header,
                    negatives,
                )
            )
        high = int(totals.get(f"{name}|high") or 0)
        if high:
            report.warnings.append(
                DataWarning(
                    "cpm_above_1000",
                    f"{high} value(s) of '{header}' are above {CPM_WARNING_THRESHOLD:,.0f}",
                    header,
                    high,
                )
            )
        if kind is Kind.RATE:
            maximum = totals[f"{name}|max"]
            in_percent = bool(totals[f"{name}|pct"]) or (maximum is not None and maximum > 1)
            if in_percent:
                percent.add(name)
                report.percent_columns.append(header)
            outside = int(totals[f"{name}|out100" if in_percent else f"{name}|out1"])
            if outside:
                report.warnings.append(
                    DataWarning(
                        "rate_out_of_range",
                        f"{outside} value(s) of '{header}' lie outside [0, 1] after "
                        "percent conversion",
                        header,
                        outside,
                    )
                )
    missing = int(totals["impressions|missing"])
    if missing:
        report.warnings.append(
            DataWarning(
                "missing_impressions",
                f"{missing} row(s) have no impressions value and add nothing to weighted "
                "means or volume",
                header_of["impressions"],
                missing,
            )
        )
    return percent


_NOT_STATS = {"sum", "n", "wsum", "w"}


def _final_exprs(
    inputs: list[str], sources: dict[str, MetricSource], percent: set[str]
) -> list[pl.Expr]:
    """Counts from their sums (missing when a group had no value), then metrics (§3)."""
    exprs: list[pl.Expr] = [pl.col(DIM), pl.col(_ROWS)]
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


def _name_warnings(
    level1: pl.DataFrame, dropped: dict[str, int], level: str, header: str
) -> list[DataWarning]:
    """Names that lost NUL characters, and rows dropped for an overlong name."""
    what = level.replace("_", " ")
    warnings: list[DataWarning] = []
    nul = level1.filter(pl.col(_RAW).str.contains("\x00", literal=True))[_ROWS].sum()
    if nul:
        warnings.append(
            DataWarning(
                "nul_in_names",
                f"{nul} row(s) had NUL characters in their {what}; they were removed",
                header,
                int(nul),
            )
        )
    too_long = dropped["dimension_too_long"]
    if too_long:
        longest = level1.select(pl.col(_RAW).str.len_chars().max()).item()
        warnings.append(
            DataWarning(
                "dimension_too_long",
                f"{too_long} row(s) were dropped because their {what} is longer than "
                f"{MAX_NAME_LENGTH} characters (the longest has {longest:,}); no real {what} "
                "is that long: check the file for a quote left open",
                header,
                too_long,
            )
        )
    return warnings


def _warn_huge_counts(
    table: Table,
    position: int,
    header: str,
    kept: pl.DataFrame,
    name: str,
    report: ProcessingReport,
) -> None:
    """Counts above :data:`MAX_COUNT` were left out: say how many, and the first one's
    value and row (found by a second scan of that one column, only when there is one)."""
    count = int(kept[f"{name}|huge"].sum() or 0)
    if not count:
        return
    source = f"c{position}"
    scan = table.scan([position])
    dtype = scan.collect_schema()[source]
    raw = pl.col(source)
    if dtype == pl.String:
        number = raw.str.replace_many(_NOISE, [""] * len(_NOISE)).cast(pl.Float64, strict=False)
    else:
        number = raw.cast(pl.Float64, strict=False)
    first = (
        scan.with_row_index("__row")
        .filter(number > MAX_COUNT)
        .select("__row", raw.cast(pl.String))
        .head(1)
        .collect()
    )
    where = ""
    if first.height:
        index, text = first.row(0)
        where = (
            f"; the first is {str(text).strip()[:40]!r} in row {index + 2} (the header is row 1)"
        )
    report.warnings.append(
        DataWarning(
            "count_too_large",
            f"{count} value(s) of '{header}' are above {MAX_COUNT:,.0f} (the largest count a "
            f"number holds exactly) and were treated as missing{where}",
            header,
            count,
        )
    )
