"""A scored run's lists against the truth (``list_accuracy.py``): the lists read from
`caliber score`'s outputs (or made from its shrunk rates), and the figures measured on them."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from list_sim import TRUTH_FLOOR, Bools, Export, Ints, Truth, truth

FIGURES = ("whitelist_precision", "blacklist_precision", "blacklist_top_half", "spend_share")


@dataclass(frozen=True)
class Lists:
    whitelist: list[str]
    blacklist: list[str]


@dataclass(frozen=True)
class Measured:
    figures: dict[str, float]  # FIGURES, NaN for a precision of an empty list
    whitelist: int
    blacklist: int


def read_lists(out: Path, suffix: str = "", dimension: str = "domain") -> Lists:
    """whitelist{suffix}.csv and blacklist{suffix}.csv of a `caliber score` output."""

    def names(name: str) -> list[str]:
        frame = pl.read_csv(
            out / name, columns=[dimension], schema_overrides={dimension: pl.String}
        )
        return frame[dimension].to_list()

    return Lists(names(f"whitelist{suffix}.csv"), names(f"blacklist{suffix}.csv"))


def observed_bounds(out: Path) -> dict[str, tuple[float, float]]:
    """The normalization bounds (min, max) a `caliber score` run fitted, by metric."""
    stats = json.loads((out / "summary.json").read_text(encoding="utf-8"))["normalization_stats"]
    return {name: (float(stat["min"]), float(stat["max"])) for name, stat in stats.items()}


def shrunk_lists(out: Path, export: Export) -> Lists | None:
    """The classic quartile rule on the shrunk rates of a confidence run's results.csv
    (money metrics as they are), or None when it has no ``shrunk_`` columns."""
    results = pl.read_csv(out / "results.csv", infer_schema_length=None)
    metrics = export.setup.metrics()
    columns = {m.name: f"shrunk_{m.name}" for m in metrics}
    if not any(column in results.columns for column in columns.values()):
        return None
    values = {
        name: results[column if column in results.columns else name]
        .cast(pl.Float64)
        .fill_null(float("nan"))
        .to_numpy()
        for name, column in columns.items()
    }
    impressions = results["impressions"].cast(pl.Int64).to_numpy()
    ranked = truth(values, metrics, impressions, TRUTH_FLOOR)
    domains: list[str] = results["domain"].to_list()
    return Lists(
        [d for d, keep in zip(domains, ranked.top_quartile.tolist(), strict=True) if keep],
        [d for d, keep in zip(domains, ranked.bottom_quartile.tolist(), strict=True) if keep],
    )


def measure(lists: Lists, export: Export, true: Truth) -> Measured:
    index = {name: i for i, name in enumerate(export.domains)}
    white = np.array([index[d] for d in lists.whitelist], dtype=np.int64)
    black = np.array([index[d] for d in lists.blacklist], dtype=np.int64)

    def share(rows: Ints, mask: Bools) -> float:
        return float(mask[rows].mean()) if rows.size else math.nan

    listed = np.union1d(white, black)
    return Measured(
        figures={
            "whitelist_precision": share(white, true.top_quartile),
            "blacklist_precision": share(black, true.bottom_quartile),
            "blacklist_top_half": share(black, true.top_half),
            "spend_share": float(export.spend[listed].sum() / export.spend.sum()),
        },
        whitelist=int(white.size),
        blacklist=int(black.size),
    )


@dataclass
class Method:
    """One way of making lists, measured on each seed of one setup."""

    label: str
    runs: list[Measured]
    seconds: list[float]

    def mean(self, figure: str) -> float:
        values = [run.figures[figure] for run in self.runs]
        return math.nan if any(math.isnan(v) for v in values) else float(np.mean(values))

    def span(self, figure: str) -> tuple[float, float]:
        values = [run.figures[figure] for run in self.runs]
        return min(values), max(values)
