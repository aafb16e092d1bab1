"""What is unusual about each flagged row (caliber.engine.analytics.outlier_rows), as the
outlier report carries it for the web app's view."""

from __future__ import annotations

import numpy as np
import polars as pl

from caliber.engine.analytics.base import ScoredFrame
from caliber.engine.analytics.outlier_rows import NORMAL_IQR, unusual_rows
from caliber.engine.analytics.outliers import detect_outliers


def _data(rows: int = 300) -> ScoredFrame:
    rng = np.random.default_rng(3)
    a = rng.normal(10.0, 1.0, rows)
    b = rng.normal(0.02, 0.002, rows)
    b[7] = 0.2  # far above the rest on b only
    a[11] = -5.0  # far below on a
    frame = pl.DataFrame(
        {
            "domain": [f"site{i:03d}.com" for i in range(rows)],
            "a": a,
            "b": b,
            "impressions": np.full(rows, 1000),
            "score": np.linspace(90, 10, rows),
        }
    )
    return ScoredFrame(frame, "domain", {"a": 0.5, "b": 0.5}, {"a": True, "b": True})


def test_each_flagged_row_names_the_column_it_stands_out_on() -> None:
    data = _data()
    report = detect_outliers(data, "zscore")
    assert {"site007.com", "site011.com"} <= set(report.names)
    rows = {r["name"]: r for r in report.to_dict()["rows"]}
    assert [r["name"] for r in report.to_dict()["rows"]] == list(report.names)
    b = data.frame["b"].to_numpy()
    q1, median, q3 = np.quantile(b, [0.25, 0.5, 0.75])
    top = rows["site007.com"]["unusual"][0]
    assert top["column"] == "b"
    assert top["value"] == b[7]
    assert top["median"] == median
    assert top["deviations"] == round((b[7] - median) / ((q3 - q1) / NORMAL_IQR), 2)
    below = rows["site011.com"]["unusual"][0]
    assert below["column"] == "a"
    assert below["deviations"] < -3
    assert rows["site007.com"]["impressions"] == 1000


def test_rows_are_limited_and_missing_values_say_nothing() -> None:
    data = _data()
    frame = data.frame.with_columns(
        pl.when(pl.col("domain") == "site007.com").then(None).otherwise(pl.col("a")).alias("a")
    )
    held = ScoredFrame(frame, "domain", data.weights, data.higher_is_better)
    mask = [name in ("site007.com", "site011.com") for name in frame["domain"]]
    found = unusual_rows(held, mask, ["a", "b"], limit=1)
    assert [r["name"] for r in found] == ["site007.com"]
    assert [u["column"] for u in found[0]["unusual"]] == ["b"]
    assert unusual_rows(held, [False] * frame.height, ["a", "b"]) == []
