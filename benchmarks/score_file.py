"""Benchmark `caliber score` on a large Trade Desk display export against a bare pyarrow parse.

    python benchmarks/score_file.py [--rows 1000000] [--repeats 3] [--confidence L]
        [--keep DIR] [--json]

1. `caliber sample --platform trade_desk --channel display --rows N --out FILE` writes a
   realistic site-by-day export (in a temporary directory, or in DIR with --keep);
2. each command below runs --repeats times as a whole process; the table shows the best
   (lowest) wall time and the highest peak RSS over the runs:
   - `caliber score FILE --platform trade_desk --goal awareness --channel display --out OUT`
   - `python -c "import pyarrow.csv as c; c.read_csv(FILE)"` (the same interpreter)
   - with --confidence L, also `caliber score ... --confidence L`, each run right after a
     classic one (so both see the same load on the machine);
3. targets: caliber / pyarrow wall-time ratio <= 3 and caliber peak RSS <= 600 MB; with
   --confidence, the confidence run's best wall time <= 1.5 x the classic run's (issue 17).

A missed target is printed as MISSED; the exit status is 0 regardless. It is 1 only when
a subprocess fails, 2 when the `caliber` executable is missing or the arguments are bad.
MB means 10**6 bytes, for the file size and for peak RSS (ru_maxrss is KiB on Linux).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

RATIO_TARGET = 3.0
MEMORY_TARGET_MB = 600.0
CONFIDENCE_RATIO_TARGET = 1.5
PLATFORM, GOAL, CHANNEL = "trade_desk", "awareness", "display"


class SubprocessError(RuntimeError):
    """A benchmarked or preparatory command exited non-zero."""


@dataclass(frozen=True)
class Run:
    seconds: float
    peak_rss_mb: float


@dataclass(frozen=True)
class Measured:
    best_seconds: float
    median_seconds: float
    peak_rss_mb: float  # the highest over the runs


def run_measured(argv: list[str], log_dir: Path, label: str) -> Run:
    """Run ``argv`` as a child process; its wall time and peak RSS (from ``os.wait4``)."""
    stdout_path = log_dir / f"{label}.stdout"
    stderr_path = log_dir / f"{label}.stderr"
    with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    proc.returncode = code  # reaped by wait4: tell Popen so it does not wait again
    if code != 0:
        tail = stderr_path.read_text(encoding="utf-8", errors="replace")[-2000:]
        raise SubprocessError(
            f"{label} failed with exit status {code}:\n  {' '.join(argv)}\n{tail.rstrip()}"
        )
    return Run(seconds=seconds, peak_rss_mb=usage.ru_maxrss * 1024 / 1e6)


def measure(argvs: list[list[str]], log_dir: Path, label: str) -> Measured:
    return summarize(
        [run_measured(argv, log_dir, f"{label}-{i + 1}") for i, argv in enumerate(argvs)]
    )


def measure_pairs(
    first: list[list[str]], second: list[list[str]], log_dir: Path, labels: tuple[str, str]
) -> tuple[Measured, Measured]:
    """Each run of ``first`` followed by the same-numbered run of ``second``: a ratio of
    the two is not skewed by a load on the machine that comes and goes."""
    runs: tuple[list[Run], list[Run]] = ([], [])
    for i, (a, b) in enumerate(zip(first, second, strict=True)):
        runs[0].append(run_measured(a, log_dir, f"{labels[0]}-{i + 1}"))
        runs[1].append(run_measured(b, log_dir, f"{labels[1]}-{i + 1}"))
    return summarize(runs[0]), summarize(runs[1])


def summarize(runs: list[Run]) -> Measured:
    times = sorted(run.seconds for run in runs)
    mid = len(times) // 2
    median = times[mid] if len(times) % 2 else (times[mid - 1] + times[mid]) / 2
    return Measured(
        best_seconds=times[0],
        median_seconds=median,
        peak_rss_mb=max(run.peak_rss_mb for run in runs),
    )


def count_data_rows(path: Path) -> int:
    """Lines after the header (the sample never puts a newline inside a cell)."""
    lines = 0
    with path.open("rb") as handle:
        while block := handle.read(1 << 24):
            lines += block.count(b"\n")
    return lines - 1


def verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def benchmark(
    rows: int, repeats: int, work: Path, as_json: bool, confidence: float | None = None
) -> None:
    bin_dir = Path(sys.executable).parent
    caliber = bin_dir / "caliber"
    if not caliber.exists():
        sys.stderr.write(f"score_file: no caliber executable at {caliber}; install the project\n")
        raise SystemExit(2)
    logs = work / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    sample = work / f"{PLATFORM}_{CHANNEL}_{rows}.csv"

    print(f"generating {rows:,} rows: caliber sample --platform {PLATFORM} --channel {CHANNEL}")
    generated = run_measured(
        [
            str(caliber),
            "sample",
            "--platform",
            PLATFORM,
            "--channel",
            CHANNEL,
            "--rows",
            str(rows),
            "--out",
            str(sample),
        ],
        logs,
        "sample",
    )
    size_mb = sample.stat().st_size / 1e6
    data_rows = count_data_rows(sample)

    score_argvs = [
        [
            str(caliber),
            "score",
            str(sample),
            "--platform",
            PLATFORM,
            "--goal",
            GOAL,
            "--channel",
            CHANNEL,
            "--out",
            str(work / f"score-out-{i + 1}"),
        ]
        for i in range(repeats)
    ]
    reference = f"import pyarrow.csv as c; c.read_csv({str(sample)!r})"
    pyarrow_argvs = [[sys.executable, "-c", reference] for _ in range(repeats)]

    print(f"timing caliber score and pyarrow read_csv, {repeats} run(s) each ...")
    # Warm cache for both: the sample was just written, so the file is in the page cache.
    sure: Measured | None = None
    if confidence is None:
        score = measure(score_argvs, logs, "score")
    else:
        sure_argvs = [
            [*argv[:-1], str(work / f"confidence-out-{i + 1}"), "--confidence", f"{confidence:g}"]
            for i, argv in enumerate(score_argvs)
        ]
        score, sure = measure_pairs(score_argvs, sure_argvs, logs, ("score", "confidence"))
    arrow = measure(pyarrow_argvs, logs, "pyarrow")

    ratio = score.best_seconds / arrow.best_seconds if arrow.best_seconds > 0 else float("inf")
    ratio_met = ratio <= RATIO_TARGET
    memory_met = score.peak_rss_mb <= MEMORY_TARGET_MB
    sure_ratio = sure.best_seconds / score.best_seconds if sure is not None else None
    sure_met = sure_ratio is None or sure_ratio <= CONFIDENCE_RATIO_TARGET

    width = 34
    print()
    print(f"Caliber benchmark: {PLATFORM} / {GOAL} / {CHANNEL}")
    print(f"{'file':<{width}} {sample}")
    print(f"{'file size':<{width}} {size_mb:>10.1f} MB")
    print(f"{'rows (data rows in file)':<{width}} {data_rows:>10,}")
    print(f"{'generation (caliber sample, 1 run)':<{width}} {generated.seconds:>10.2f} s")
    print()
    print(
        f"{'':<{width}} {'best s':>10} {'median s':>10} {'peak MB':>10}"
        f"   (best / median of {repeats}; peak = highest RSS)"
    )
    print(
        f"{'caliber score':<{width}} {score.best_seconds:>10.2f} "
        f"{score.median_seconds:>10.2f} {score.peak_rss_mb:>10.1f}"
    )
    if sure is not None:
        print(
            f"{f'caliber score --confidence {confidence:g}':<{width}} {sure.best_seconds:>10.2f} "
            f"{sure.median_seconds:>10.2f} {sure.peak_rss_mb:>10.1f}"
        )
    print(
        f"{'pyarrow.csv.read_csv':<{width}} {arrow.best_seconds:>10.2f} "
        f"{arrow.median_seconds:>10.2f} {arrow.peak_rss_mb:>10.1f}"
    )
    print()
    print(f"{'ratio (caliber / pyarrow, best)':<{width}} {ratio:>10.2f}")
    if sure_ratio is not None:
        print(f"{'ratio (confidence / classic, best)':<{width}} {sure_ratio:>10.2f}")
    print("targets")
    print(
        f"  {f'time ratio <= {RATIO_TARGET:g}':<{width - 2}} {ratio:>10.2f}   {verdict(ratio_met)}"
    )
    print(
        f"  {f'caliber peak RSS <= {MEMORY_TARGET_MB:g} MB':<{width - 2}} "
        f"{score.peak_rss_mb:>10.1f}   {verdict(memory_met)}"
    )
    if sure_ratio is not None:
        text = f"confidence / classic <= {CONFIDENCE_RATIO_TARGET:g}"
        print(f"  {text:<{width - 2}} {sure_ratio:>10.2f}   {verdict(sure_met)}")
    if not (ratio_met and memory_met and sure_met):
        print("RESULT: MISSED (see the targets above)")
    else:
        print("RESULT: all targets met")

    if as_json:
        figures = {
            "platform": PLATFORM,
            "goal": GOAL,
            "channel": CHANNEL,
            "rows": data_rows,
            "file_mb": round(size_mb, 2),
            "generate_s": round(generated.seconds, 3),
            "repeats": repeats,
            "timing": "best",
            "caliber_s": round(score.best_seconds, 3),
            "caliber_median_s": round(score.median_seconds, 3),
            "pyarrow_s": round(arrow.best_seconds, 3),
            "pyarrow_median_s": round(arrow.median_seconds, 3),
            "ratio": round(ratio, 3),
            "caliber_peak_mb": round(score.peak_rss_mb, 1),
            "pyarrow_peak_mb": round(arrow.peak_rss_mb, 1),
            "ratio_target": RATIO_TARGET,
            "memory_target_mb": MEMORY_TARGET_MB,
            "ratio_met": ratio_met,
            "memory_met": memory_met,
        }
        if sure is not None and sure_ratio is not None:
            figures |= {
                "confidence": confidence,
                "confidence_s": round(sure.best_seconds, 3),
                "confidence_median_s": round(sure.median_seconds, 3),
                "confidence_peak_mb": round(sure.peak_rss_mb, 1),
                "confidence_ratio": round(sure_ratio, 3),
                "confidence_ratio_target": CONFIDENCE_RATIO_TARGET,
                "confidence_ratio_met": sure_met,
            }
        print(json.dumps(figures, sort_keys=False))


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def level(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a level: {text!r}") from None
    if not 0.5 <= value <= 0.99:
        raise argparse.ArgumentTypeError(f"a level is between 0.5 and 0.99, got {text}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Time `caliber score` on a generated Trade Desk display export "
        "against a bare pyarrow CSV parse (wall time and peak RSS)."
    )
    parser.add_argument(
        "--rows", type=positive_int, default=1_000_000, help="data rows (default 1,000,000)"
    )
    parser.add_argument(
        "--repeats", type=positive_int, default=3, help="runs per command (default 3)"
    )
    parser.add_argument(
        "--keep",
        type=Path,
        metavar="DIR",
        help="write the sample, outputs and logs to DIR and keep them (default: a temp dir)",
    )
    parser.add_argument(
        "--confidence",
        type=level,
        metavar="L",
        help="also time `caliber score --confidence L`, each run after a classic one, and "
        f"check it takes at most {CONFIDENCE_RATIO_TARGET:g} x the classic run (issue 17)",
    )
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    args = parser.parse_args(argv)
    rows: int = args.rows
    repeats: int = args.repeats
    keep: Path | None = args.keep
    as_json: bool = args.json
    confidence: float | None = args.confidence

    try:
        if keep is not None:
            keep.mkdir(parents=True, exist_ok=True)
            benchmark(rows, repeats, keep.resolve(), as_json, confidence)
        else:
            with tempfile.TemporaryDirectory(prefix="caliber-bench-") as tmp:
                benchmark(rows, repeats, Path(tmp), as_json, confidence)
    except SubprocessError as exc:
        sys.stderr.write(f"score_file: {exc}\n")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
