"""The outlier detectors and the matrix they read. Each detector takes a float matrix
(rows x the usable columns, missing values imputed with the median) and returns which
rows stand out. The models (isolation forest, local outlier factor, elliptic envelope;
scikit-learn, imported when used) work on robustly standardized columns and may be
fitted on a sample of the rows; z-score and IQR use fixed fences on the raw columns."""

from __future__ import annotations

import warnings

import numpy as np
import numpy.typing as npt
import polars as pl

Z_THRESHOLD = 3.0
IQR_FACTOR = 1.5
_NORMAL_IQR = 1.349  # IQR of a standard normal: makes IQR-scaled values comparable to z
_CLIP = 1e9  # standardized values are clipped here (scikit-learn works in float32)

Matrix = npt.NDArray[np.float64]
Mask = npt.NDArray[np.bool_]
Rows = npt.NDArray[np.intp] | None  # the rows a model is fitted on; None: all of them


def usable_matrix(frame: pl.DataFrame, columns: list[str]) -> tuple[Matrix, list[str], list[str]]:
    """The usable columns as a float matrix, missing values imputed with the median."""
    parts: list[Matrix] = []
    used: list[str] = []
    notes: list[str] = []
    for name in columns:
        values = frame.get_column(name).cast(pl.Float64).to_numpy().astype(np.float64)
        finite = np.isfinite(values)
        if not finite.any():
            notes.append(f"{name} has no values: skipped")
            continue
        kept = values[finite]
        if kept.min() == kept.max():
            notes.append(f"{name} is constant ({kept[0]:.6g} in every row with a value): skipped")
            continue
        missing = int((~finite).sum())
        if missing:
            median = float(np.median(kept))
            values = np.where(finite, values, median)
            notes.append(
                f"{name}: {missing} missing or infinite value{'s' if missing > 1 else ''} "
                f"imputed with the column median ({median:.6g})"
            )
        parts.append(values)
        used.append(name)
    matrix = np.column_stack(parts) if parts else np.empty((frame.height, 0), dtype=np.float64)
    return matrix, used, notes


def standardize(matrix: Matrix) -> Matrix:
    """Median removed, divided by IQR/1.349 (or by the std where the IQR is 0)."""
    q1, median, q3 = np.quantile(matrix, [0.25, 0.5, 0.75], axis=0)
    scale = (q3 - q1) / _NORMAL_IQR
    scale = np.where(scale > 0, scale, matrix.std(axis=0))
    with np.errstate(all="ignore"):
        scaled = (matrix - median) / scale
    return np.asarray(np.clip(np.nan_to_num(scaled, nan=0.0), -_CLIP, _CLIP), dtype=np.float64)


def zscore_mask(matrix: Matrix) -> Mask:
    with np.errstate(all="ignore"):
        z = np.abs(matrix - matrix.mean(axis=0)) / matrix.std(axis=0)
    return np.asarray((np.nan_to_num(z, nan=0.0) > Z_THRESHOLD).any(axis=1), dtype=np.bool_)


def iqr_mask(matrix: Matrix) -> Mask:
    q1, q3 = np.quantile(matrix, [0.25, 0.75], axis=0)
    spread = IQR_FACTOR * (q3 - q1)
    outside = (matrix < q1 - spread) | (matrix > q3 + spread)
    return np.asarray(outside.any(axis=1), dtype=np.bool_)


def isolation_forest_mask(x: Matrix, fit: Rows, share: float, seed: int) -> Mask:
    from sklearn.ensemble import IsolationForest

    model = IsolationForest(contamination=share, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(x if fit is None else x[fit])
        return np.asarray(model.predict(x) == -1, dtype=np.bool_)


def lof_mask(x: Matrix, fit: Rows, share: float) -> Mask:
    from sklearn.neighbors import LocalOutlierFactor

    sample = x if fit is None else x[fit]
    neighbors = min(20, len(sample) - 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicated points: sklearn warns, scores still hold
        if fit is None:
            model = LocalOutlierFactor(n_neighbors=neighbors, contamination=share)
            return np.asarray(model.fit_predict(x) == -1, dtype=np.bool_)
        model = LocalOutlierFactor(n_neighbors=neighbors, contamination=share, novelty=True)
        model.fit(sample)
        mask = np.asarray(model.predict(x) == -1, dtype=np.bool_)
        # the sampled rows keep their own (leave-one-out) outlier factor
        mask[fit] = model.negative_outlier_factor_ < model.offset_
        return mask


def elliptic_mask(x: Matrix, fit: Rows, share: float, seed: int, notes: list[str]) -> Mask:
    from sklearn.covariance import EllipticEnvelope

    # the covariance is fitted on the share of rows expected to be clean
    model = EllipticEnvelope(contamination=share, random_state=seed, support_fraction=1 - share)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model.fit(x if fit is None else x[fit])
            distances = model.decision_function(x)
            full_rank = np.linalg.matrix_rank(model.covariance_) == x.shape[1]
            stable = full_rank and not caught and bool(np.isfinite(distances).all())
        except (ValueError, FloatingPointError, np.linalg.LinAlgError):
            stable = False
    if stable:
        return np.asarray(distances < 0, dtype=np.bool_)
    notes.append(
        "elliptic envelope: the covariance of the columns is singular or unstable "
        "(collinear or heavily tied columns); flagged the rows farthest from the median "
        "in standardized units instead"
    )
    norm = np.sqrt((x**2).sum(axis=1))
    threshold = np.quantile(norm if fit is None else norm[fit], 1 - share)
    return np.asarray(norm > threshold, dtype=np.bool_)
