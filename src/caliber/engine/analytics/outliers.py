"""Multivariate outlier detection on a scored campaign, and ways to handle what it finds.

Methods (:data:`OUTLIER_METHODS`): ``isolation_forest``, ``local_outlier_factor`` and
``elliptic_envelope`` are scikit-learn models fitted on robustly standardized columns
(median removed, divided by IQR/1.349, or by the std where the IQR is 0) and flag about
``contamination`` of the rows; above :data:`MAX_FIT_ROWS` rows they are fitted on a seeded
sample and score every row. When the elliptic envelope's covariance is singular or
unstable it falls back, with a note, to flagging the ``contamination`` share of rows with
the largest standardized norm. ``zscore`` flags ``|z| > 3`` (population std) and ``iqr``
values outside ``[Q1 - 1.5 IQR, Q3 + 1.5 IQR]`` (linear quantiles) on any column; both
ignore ``contamination``. ``combined`` is the union of isolation forest, LOF and z-score.
Missing and infinite values are imputed with the column median; constant and empty
columns are skipped; each such step is reported in ``notes``. The detectors are
:mod:`caliber.engine.analytics.detectors`, which imports scikit-learn inside the
functions that use it, so importing this module stays cheap.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import polars as pl

from caliber.engine.analytics.base import ScoredFrame
from caliber.engine.analytics.detectors import (
    Mask,
    Matrix,
    Rows,
    elliptic_mask,
    iqr_mask,
    isolation_forest_mask,
    lof_mask,
    standardize,
    usable_matrix,
    zscore_mask,
)
from caliber.engine.analytics.outlier_rows import unusual_rows
from caliber.engine.errors import InvalidParameterError

_MODELS = ("isolation_forest", "local_outlier_factor", "elliptic_envelope")
OUTLIER_METHODS = (*_MODELS, "zscore", "iqr", "combined")
HANDLING = ("drop", "cap", "winsorize")
MAX_FIT_ROWS = 50_000  # scikit-learn models are fitted on a seeded sample above this
HANDLING_PERCENTILES = {"cap": (0.01, 0.99), "winsorize": (0.05, 0.95)}
_SEVERITY = ((0.01, "minimal"), (0.05, "low"), (0.15, "moderate"))


@dataclass(frozen=True)
class ColumnComparison:
    """Mean and population standard deviation of one column's finite raw values among
    the flagged rows and among the others (None for an empty group)."""

    column: str
    outlier_mean: float | None
    outlier_std: float | None
    inlier_mean: float | None
    inlier_std: float | None


@dataclass(frozen=True)
class OutlierReport:
    """What :func:`detect_outliers` found. ``columns`` are the requested columns (those
    skipped as constant or empty are named in ``notes``); ``mask`` has one entry per row
    of the input frame and ``names`` the flagged dimension values, both in frame order;
    ``rows_used`` is how many rows were scored (all of them: the denominator of ``share``;
    a model fitted on a sample of them says so in ``notes``)."""

    method: str
    columns: tuple[str, ...]
    contamination: float
    names: tuple[str, ...]
    mask: tuple[bool, ...]
    count: int
    share: float
    severity: str
    comparisons: tuple[ColumnComparison, ...]
    recommendations: tuple[str, ...]
    rows_used: int
    notes: tuple[str, ...] = ()
    # the first flagged rows and what is unusual about each (outlier_rows.unusual_rows)
    rows: tuple[dict[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The report as plain JSON-able values."""
        out = asdict(self)
        for key in ("columns", "names", "mask", "recommendations", "notes", "rows"):
            out[key] = list(out[key])
        out["comparisons"] = [asdict(c) for c in self.comparisons]
        return out


def detect_outliers(
    data: ScoredFrame,
    method: str = "combined",
    columns: Sequence[str] | None = None,
    contamination: float = 0.05,
    seed: int = 0,
) -> OutlierReport:
    """Flag the rows of ``data.frame`` that stand out on ``columns`` (default: the
    setup's metrics). Deterministic for the same input and ``seed``."""
    _check_choice("method", method, OUTLIER_METHODS)
    contamination = _check_numbers(contamination, seed)
    frame = data.frame
    chosen = _check_columns(frame, data.metrics if columns is None else columns)
    data.require_rows()
    rows = frame.height
    matrix, used, notes = usable_matrix(frame, chosen)
    if not used:
        mask = np.zeros(rows, dtype=np.bool_)
        notes.append("every analysed column is constant or empty: no row can stand out")
    elif method in ("zscore", "iqr"):
        mask = zscore_mask(matrix) if method == "zscore" else iqr_mask(matrix)
        notes.append(f"{method} uses fixed fences; contamination does not apply")
    else:
        fit = _fit_rows(rows, seed)
        if fit is not None:
            notes.append(
                f"the model was fitted on a seeded sample of {len(fit):,} of {rows:,} rows; "
                "every row was scored"
            )
        scaled = standardize(matrix)
        if method == "combined":
            notes.append(
                "combined flags a row that isolation forest, LOF or z-score flags, so its "
                "share can exceed the contamination"
            )
            mask = isolation_forest_mask(scaled, fit, contamination, seed)
            mask |= lof_mask(scaled, fit, contamination)
            mask |= zscore_mask(matrix)
        elif method == "isolation_forest":
            mask = isolation_forest_mask(scaled, fit, contamination, seed)
        elif method == "local_outlier_factor":
            mask = lof_mask(scaled, fit, contamination)
        else:
            mask = elliptic_mask(scaled, fit, contamination, seed, notes)
    count = int(mask.sum())
    share = count / rows
    severity = next((label for bound, label in _SEVERITY if share < bound), "high")
    comparisons = _compare(frame, chosen, mask)
    dim_values = frame.get_column(data.dimension).cast(pl.String).fill_null("")
    names = tuple(str(v) for v, flagged in zip(dim_values, mask, strict=True) if flagged)
    label = data.dimension.replace("_", " ")
    texts = _recommend(label, method, contamination, count, rows, severity, used, comparisons)
    return OutlierReport(
        method=method,
        columns=tuple(chosen),
        contamination=contamination,
        names=names,
        mask=tuple(bool(v) for v in mask),
        count=count,
        share=share,
        severity=severity,
        comparisons=comparisons,
        recommendations=texts,
        rows_used=rows,
        notes=tuple(notes),
        rows=tuple(unusual_rows(data, mask.tolist(), used)),
    )


def handle_outliers(frame: pl.DataFrame, report: OutlierReport, strategy: str) -> pl.DataFrame:
    """A new frame: ``drop`` removes the flagged rows; ``cap`` clips each of the report's
    columns to its 1st-99th percentile and ``winsorize`` to its 5th-95th (linear
    percentiles of the finite values of all rows; nulls stay null). Integer columns keep
    their dtype, with the bounds rounded inwards."""
    _check_choice("strategy", strategy, HANDLING)
    if frame.height != len(report.mask):
        raise InvalidParameterError(
            f"the report covers {len(report.mask)} rows but the frame has {frame.height}; "
            "handle outliers on the frame they were detected on",
            field="frame",
        )
    if strategy == "drop":
        return frame.filter(~pl.Series(report.mask, dtype=pl.Boolean))
    missing = [c for c in report.columns if c not in frame.columns]
    if missing:
        raise InvalidParameterError(
            f"the frame has no column {missing[0]!r} of the report", field="columns"
        )
    low, high = HANDLING_PERCENTILES[strategy]
    exprs: list[pl.Expr] = []
    for name in report.columns:
        dtype = frame.schema[name]
        values = frame.get_column(name).cast(pl.Float64).to_numpy()
        values = values[np.isfinite(values)]
        if not values.size:
            continue
        lo, hi = (float(v) for v in np.quantile(values, [low, high]))
        if dtype.is_integer() and math.ceil(lo) <= math.floor(hi):
            clipped = pl.col(name).clip(math.ceil(lo), math.floor(hi)).cast(dtype)
        elif dtype.is_float():
            clipped = pl.col(name).clip(pl.lit(lo, dtype=dtype), pl.lit(hi, dtype=dtype))
        else:
            clipped = pl.col(name).cast(pl.Float64).clip(lo, hi)
        exprs.append(clipped.alias(name))
    return frame.with_columns(exprs) if exprs else frame.clone()


def _check_choice(field: str, value: str, valid: tuple[str, ...]) -> None:
    if value not in valid:
        raise InvalidParameterError(
            f"unknown outlier {field} {value!r}; choose one of: {', '.join(valid)}",
            field=field,
            valid=list(valid),
        )


def _check_numbers(contamination: float, seed: int) -> float:
    number = isinstance(contamination, int | float) and not isinstance(contamination, bool)
    if not number or not 0 < float(contamination) <= 0.5:  # NaN fails the comparison too
        raise InvalidParameterError(
            f"contamination must be a share in (0, 0.5], got {contamination!r}",
            field="contamination",
        )
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise InvalidParameterError(
            f"seed must be an integer between 0 and 2**32 - 1, got {seed!r}", field="seed"
        )
    return float(contamination)


def _check_columns(frame: pl.DataFrame, columns: Sequence[str]) -> list[str]:
    requested = [columns] if isinstance(columns, str) else list(columns)
    numeric = [name for name, dtype in frame.schema.items() if dtype.is_numeric()]
    bad = next((name for name in requested if name not in numeric), None)
    if bad is not None or not requested:
        problem = "is not numeric" if bad in frame.columns else "does not exist"
        raise InvalidParameterError(
            ("no column chosen" if bad is None else f"column {bad!r} {problem}")
            + f"; choose among the numeric columns: {', '.join(numeric)}",
            field="columns",
            column=bad,
            valid=numeric,
        )
    return list(dict.fromkeys(requested))


def _fit_rows(rows: int, seed: int) -> Rows:
    if rows <= MAX_FIT_ROWS:
        return None
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(rows, size=MAX_FIT_ROWS, replace=False))


def _compare(frame: pl.DataFrame, columns: list[str], mask: Mask) -> tuple[ColumnComparison, ...]:
    out: list[ColumnComparison] = []
    for name in columns:
        values = frame.get_column(name).cast(pl.Float64).to_numpy().astype(np.float64)
        finite = np.isfinite(values)
        flagged, rest = values[mask & finite], values[~mask & finite]
        out.append(ColumnComparison(name, *_stats(flagged), *_stats(rest)))
    return tuple(out)


def _stats(values: Matrix) -> tuple[float | None, float | None]:
    """Mean and population std, None when empty or not finite."""
    if not values.size:
        return None, None
    mean, std = float(values.mean()), float(values.std())
    return (mean if math.isfinite(mean) else None), (std if math.isfinite(std) else None)


def _recommend(
    label: str,
    method: str,
    contamination: float,
    count: int,
    rows: int,
    severity: str,
    used: list[str],
    comparisons: tuple[ColumnComparison, ...],
) -> tuple[str, ...]:
    if count == 0:
        on = f" on {', '.join(used)}" if used else ""
        return (
            f"No {label} of {rows} stands out{on}.",
            "The scores and lists can be used as they are; no capping or exclusion is needed.",
        )
    share = count / rows
    first = f"{count} of {rows} {label}s ({share:.1%}) are flagged"
    # standardized mean difference, in standard deviations of the unflagged rows
    effects = {
        c.column: (abs(c.outlier_mean - c.inlier_mean) / c.inlier_std, c)
        for c in comparisons
        if c.column in used
        and c.outlier_mean is not None
        and c.inlier_mean is not None
        and c.inlier_std
    }
    if effects:
        size, top = max(effects.values(), key=lambda item: item[0])
        first += (
            f"; they differ most from the rest on {top.column} (mean {top.outlier_mean:.4g} "
            f"against {top.inlier_mean:.4g}, {size:.1f} standard deviations apart)"
        )
    texts = [
        first + ".",
        f"Review the {count} flagged {label}s before acting on the whitelist or blacklist: "
        "an extreme value can be a tracking or reporting error rather than real performance.",
    ]
    if severity == "high":
        cause = (
            f"the contamination ({contamination:g}) may be set too high"
            if method in (*_MODELS, "combined")
            else "the metrics may be heavily skewed"
        )
        texts.append(
            f"A share of {share:.0%} is high: {cause}, or the campaign mixes different "
            "populations (channels, formats or inventory types) that are better scored "
            "separately."
        )
    else:
        texts.append(
            f"For reporting, cap (1st-99th percentile) or winsorize (5th-95th) "
            f"{', '.join(used)} rather than dropping rows, so a few extreme values do not "
            f"skew averages while every {label} stays in the totals."
        )
    return tuple(texts)
