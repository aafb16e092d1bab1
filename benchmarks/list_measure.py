"""A scored run's lists against the truth (``list_accuracy.py``): `caliber score` run on
each simulated export, the lists read from its outputs (or made from its shrunk rates),
and the figures measured on them."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from list_sim import TRUTH_FLOOR, Bools, Export, Ints, SimSetup, Truth, simulate, truth

CALIBER = Path(sys.executable).parent / "caliber"
FLOOR_RAISED = 5_000
# the list methods of the baseline rows (no confidence): the classic lists, the
# raised floor, and the classic quartiles of the shrunk rates
BASELINE = ("classic", "floor", "shrunk")

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


class RunError(RuntimeError):
    """A `caliber score` run exited non-zero."""


def score(export_file: Path, setup: SimSetup, out: Path, extra: Sequence[str]) -> float:
    """Run `caliber score` on the export; its wall time in seconds."""
    argv = [str(CALIBER), "score", str(export_file), "-p", setup.platform, "-g", setup.goal]
    argv += ["-c", setup.channel, "--out", str(out), "--quiet", *extra]
    start = time.perf_counter()
    run = subprocess.run(argv, capture_output=True, text=True, check=False)
    if run.returncode != 0:
        raise RunError(f"exit status {run.returncode}: {' '.join(argv)}\n{run.stderr[-2000:]}")
    return time.perf_counter() - start


def level_text(level: float) -> str:
    return f"{level:g}"


@dataclass(frozen=True)
class Plan:
    """What to run for one setup: seeds 1..``seeds`` of ``domains`` sites whose
    impressions have lognormal ``sigma``, and a confidence run per level."""

    seeds: int
    domains: int
    sigma: float
    levels: Sequence[float]
    truth_bounds: str = "true"  # or "observed": the classic run's bounds (a diagnostic)


def run_setup(setup: SimSetup, plan: Plan, work: Path) -> dict[str, Method]:
    """Every list method on every seed of ``setup``: the truth's quartiles (a reference),
    the BASELINE methods (the shrunk rates read from the first confidence run, when there
    is one) and each level's confident lists."""
    methods: dict[str, Method] = {}

    def add(key: str, label: str, measured: Measured, seconds: float = math.nan) -> None:
        method = methods.setdefault(key, Method(label, [], []))
        method.runs.append(measured)
        method.seconds.append(seconds)

    runs: list[tuple[str, str, list[str]]] = [
        ("classic", f"classic (min impressions {TRUTH_FLOOR:,})", []),
        ("floor", f"classic, min impressions {FLOOR_RAISED:,}", ["--min-impressions", "5000"]),
    ]
    runs += [
        (f"confidence-{level_text(v)}", f"confidence {level_text(v)}", ["--confidence", f"{v:g}"])
        for v in plan.levels
    ]
    # the shrunk rates are read from the first confidence run of each seed
    shrunk_from = f"confidence-{level_text(plan.levels[0])}" if plan.levels else None
    for seed in range(1, plan.seeds + 1):
        export = simulate(setup, seed, plan.domains, plan.sigma)
        folder = work / f"{setup.key}-sigma{plan.sigma:g}-seed{seed}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "export.csv"
        export.write_csv(path)
        for key, label, extra in runs:
            out = folder / key
            seconds = score(path, setup, out, extra)
            if key == "classic":  # the first run: its normalization may be the truth's
                bounds = observed_bounds(out) if plan.truth_bounds == "observed" else None
                true = truth(export.true, setup.metrics(), export.impressions, bounds=bounds)
                # perfect lists: the true quartiles themselves, the most a quartile rule can do
                perfect = Lists(
                    [export.domains[i] for i in np.flatnonzero(true.top_quartile)],
                    [export.domains[i] for i in np.flatnonzero(true.bottom_quartile)],
                )
                add("truth", "the true quartiles (reference)", measure(perfect, export, true))
            add(key, label, measure(read_lists(out), export, true), seconds)
            beside = out / "whitelist_classic.csv"
            if beside.exists() and read_lists(out, "_classic") != read_lists(folder / "classic"):
                # the classic lists a confidence run writes beside its own must be the classic run's
                sys.stderr.write(
                    f"list_accuracy: {out}'s classic lists differ from the classic run's\n"
                )
            if key == shrunk_from:
                shrunk = shrunk_lists(out, export)
                if shrunk is not None:
                    add("shrunk", "shrunk rates, classic quartiles", measure(shrunk, export, true))
    order = ["truth", *BASELINE, *(key for key, _, _ in runs[2:])]
    return {key: methods[key] for key in order if key in methods}
