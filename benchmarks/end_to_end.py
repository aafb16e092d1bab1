"""From drop to results as fast as the command line (issue 19): a 1M-row, 200k-domain
Trade Desk export scored by `caliber score` as a whole process, then through the product.

    python benchmarks/end_to_end.py [--rows 1000000] [--sites N] [--repeats 1]
        [--backends embedded,postgres] [--database-url URL] [--redis-url URL]
        [--keep DIR] [--json]

1. `caliber sample --platform trade_desk --channel display --rows N --sites S` writes the
   export (S: a fifth of the rows by default, 200,000 for 1M rows), and a 2,000-row one
   for the warm-up;
2. `caliber score FILE --platform trade_desk --goal awareness --channel display --out D`
   runs --repeats times as a whole process (best wall time, highest peak RSS);
3. per backend, a fresh `caliber serve` (one API process, real token verification):
   ``embedded`` is its defaults (SQLite and local files under DATA_DIR, the embedded
   worker); ``postgres`` a database of its own on the server of --database-url (default
   $CALIBER_TEST_DATABASE_URL; dropped at the end), Redis at --redis-url (default
   $CALIBER_TEST_REDIS_URL) and a `caliber worker --concurrency 2` apart. A warm-up
   campaign is scored first (the worker up, the engine imported, as in a running
   service); then a user drops the export: upload, start, completed (progress polled
   every 25 ms; when it first saw each step is printed too), the first results page and
   the whitelist, each timed; their sum is drop-to-first-page, judged against 2 x
   `caliber score` (best). From start to completion the worker's process tree is polled
   every 20 ms for its memory: the peak of its processes' PSS summed (target < 1 GB),
   with the summed RSS and the largest process's RSS beside it.
   Then the engine's result of the same file (scored once in this process) is stored
   as the scoring job stores a run, into a campaign of that service: rows stored a
   second (targets 150,000 on PostgreSQL, 100,000 on SQLite).

A missed target prints MISSED; the exit status is 0 regardless, 1 when a command or a
run fails, 2 for bad arguments. MB means 10**6 bytes.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from functools import cache
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

from caliber.engine.config import Setup
from caliber.engine.pipeline import ScoringResult, score
from e2e_product import PHASES, Backend, ProductFigures, run_product
from load_seed import SetupError
from score_file import (
    CHANNEL,
    GOAL,
    PLATFORM,
    SubprocessError,
    count_data_rows,
    run_measured,
    summarize,
    verdict,
)

RATIO_TARGET = 2.0
MEMORY_TARGET_MB = 1000.0
STORE_TARGETS = {"postgres": 150_000.0, "embedded": 100_000.0}
BACKENDS = ("embedded", "postgres")
WARMUP_ROWS = 2000


def _sample(caliber: Path, out: Path, rows: int, sites: int | None, logs: Path) -> float:
    argv = [str(caliber), "sample", "--platform", PLATFORM, "--channel", CHANNEL]
    argv += ["--rows", str(rows), "--out", str(out)]
    argv += ["--sites", str(sites)] if sites is not None else []
    return run_measured(argv, logs, out.stem).seconds


def _print_backend(f: ProductFigures, caliber_s: float, width: int) -> dict[str, Any]:
    total = f.drop_to_first_page_s
    ratio = total / caliber_s if caliber_s > 0 else float("inf")
    store_target = STORE_TARGETS[f.backend]
    met = {
        "ratio_met": ratio <= RATIO_TARGET,
        "store_met": f.stored_rows_per_s >= store_target,
        "memory_met": f.worker_peak_mb < MEMORY_TARGET_MB,
    }
    label = {
        "embedded": "embedded (SQLite, local files, the embedded worker)",
        "postgres": "PostgreSQL + Redis + a separate worker",
    }[f.backend]
    print(f"\n{label}")
    for phase in PHASES:
        print(f"  {phase:<{width - 2}} {f.phases[phase]:>10.3f} s")
        if phase == "completed":  # when the progress polls first saw each step
            seen = ", ".join(f"{step} {at:.2f}" for step, at in f.steps.items())
            print(f"    (steps first seen, s after start: {seen})")
    print(f"  {'drop to first page':<{width - 2}} {total:>10.3f} s")
    print(f"  {'result rows / whitelist':<{width - 2}} {f.result_rows:>10,} / {f.whitelist_rows:,}")
    print(
        f"  {'worker peak PSS (its process tree)':<{width - 2}} {f.worker_peak_mb:>10.1f} MB"
        f"   (RSS: {f.worker_rss_sum_peak_mb:.1f} MB summed, "
        f"{f.worker_process_peak_mb:.1f} MB its largest process)"
    )
    print(
        f"  {'rows stored a second':<{width - 2}} {f.stored_rows_per_s:>10,.0f}"
        f"   ({f.store_rows:,} rows in {f.store_s:.3f} s)"
    )
    print("  targets")
    print(
        f"    {f'drop to first page / caliber score <= {RATIO_TARGET:g}':<{width - 4}} "
        f"{ratio:>10.2f}   {verdict(met['ratio_met'])}"
    )
    print(
        f"    {f'rows stored a second >= {store_target:,.0f}':<{width - 4}} "
        f"{f.stored_rows_per_s:>10,.0f}   {verdict(met['store_met'])}"
    )
    print(
        f"    {f'worker peak PSS < {MEMORY_TARGET_MB:g} MB':<{width - 4}} "
        f"{f.worker_peak_mb:>10.1f}   {verdict(met['memory_met'])}"
    )
    return {
        "phases_s": {phase: round(f.phases[phase], 3) for phase in PHASES},
        "steps_seen_s": {step: round(at, 3) for step, at in f.steps.items()},
        "drop_to_first_page_s": round(total, 3),
        "ratio": round(ratio, 3),
        "result_rows": f.result_rows,
        "whitelist_rows": f.whitelist_rows,
        "worker_peak_mb": round(f.worker_peak_mb, 1),
        "worker_rss_sum_peak_mb": round(f.worker_rss_sum_peak_mb, 1),
        "worker_process_peak_mb": round(f.worker_process_peak_mb, 1),
        "stored_rows": f.store_rows,
        "store_s": round(f.store_s, 3),
        "stored_rows_per_s": round(f.stored_rows_per_s),
        "store_target": store_target,
        **met,
    }


def benchmark(args: argparse.Namespace, work: Path) -> None:
    caliber = Path(sys.executable).parent / "caliber"
    logs = work / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    sites = args.sites if args.sites is not None else max(30, args.rows // 5)
    export = work / f"{PLATFORM}_{CHANNEL}_{args.rows}.csv"
    warmup = work / "warmup.csv"
    print(f"generating {args.rows:,} rows, {sites:,} sites: caliber sample", flush=True)
    generate_s = _sample(caliber, export, args.rows, sites, logs)
    _sample(caliber, warmup, WARMUP_ROWS, None, logs)
    size_mb = export.stat().st_size / 1e6

    argv = [str(caliber), "score", str(export), "--platform", PLATFORM, "--goal", GOAL]
    argv += ["--channel", CHANNEL, "--out"]
    runs = [
        run_measured([*argv, str(work / f"score-out-{i + 1}")], logs, f"score-{i + 1}")
        for i in range(args.repeats)
    ]
    cli = summarize(runs)

    @cache
    def result() -> ScoringResult:  # the engine's result of the export, for the store
        return score(export, Setup.create(PLATFORM, GOAL, CHANNEL))

    measured: list[ProductFigures] = []
    for name in args.backends:
        backend = Backend(name, args.database_url, args.redis_url, args.db_name)
        print(f"through the product: {name} ...", flush=True)
        best: ProductFigures | None = None
        for _ in range(args.repeats):
            product = run_product(backend, export, warmup, work / name, result)
            if best is None or product.drop_to_first_page_s < best.drop_to_first_page_s:
                best = product
        assert best is not None
        measured.append(best)

    width = 46
    print(f"\nEnd to end: {PLATFORM} / {GOAL} / {CHANNEL}, best of {args.repeats}")
    print(f"{'file':<{width}} {export}")
    print(f"{'file size':<{width}} {size_mb:>10.1f} MB")
    print(
        f"{'rows (data rows in file) / sites':<{width}} {count_data_rows(export):>10,} / {sites:,}"
    )
    print(f"{'generation (caliber sample)':<{width}} {generate_s:>10.2f} s")
    print(f"{'caliber score (whole process)':<{width}} {cli.best_seconds:>10.3f} s"
          f"   (peak {cli.peak_rss_mb:.1f} MB)")  # fmt: skip
    figures: dict[str, Any] = {
        "platform": PLATFORM,
        "goal": GOAL,
        "channel": CHANNEL,
        "rows": args.rows,
        "sites": sites,
        "file_mb": round(size_mb, 2),
        "repeats": args.repeats,
        "caliber_s": round(cli.best_seconds, 3),
        "caliber_peak_mb": round(cli.peak_rss_mb, 1),
        "ratio_target": RATIO_TARGET,
        "memory_target_mb": MEMORY_TARGET_MB,
        "backends": {},
    }
    for f in measured:
        figures["backends"][f.backend] = _print_backend(f, cli.best_seconds, width)
    missed = [
        f"{name} {key[:-4]}"
        for name, judged in figures["backends"].items()
        for key, ok in judged.items()
        if key.endswith("_met") and not ok
    ]
    print("RESULT: " + (f"MISSED ({', '.join(missed)})" if missed else "all targets met"))
    if args.json:
        print(json.dumps(figures))


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _backends(text: str) -> tuple[str, ...]:
    chosen = tuple(dict.fromkeys(b.strip() for b in text.split(",") if b.strip()))
    if not chosen or set(chosen) - set(BACKENDS):
        raise argparse.ArgumentTypeError(f"choose from {', '.join(BACKENDS)}")
    return chosen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    add = parser.add_argument
    add("--rows", type=_positive, default=1_000_000, help="data rows (default 1,000,000)")
    add("--sites", type=_positive, help="distinct sites (default a fifth of the rows)")
    add("--repeats", type=_positive, default=1, help="runs of each, best kept (default 1)")
    add("--backends", type=_backends, default=BACKENDS, help="embedded,postgres (default both)")
    add("--database-url", default=os.environ.get("CALIBER_TEST_DATABASE_URL"))
    add("--redis-url", default=os.environ.get("CALIBER_TEST_REDIS_URL"))
    add("--db-name", default="caliber_e2e", help="the postgres backend's database (dropped)")
    add("--keep", type=Path, metavar="DIR", help="work in DIR and keep it")
    add("--json", action="store_true", help="also print the figures as one JSON line")
    args = parser.parse_args(argv)
    if "postgres" in args.backends and not (args.database_url and args.redis_url):
        parser.error(
            "the postgres backend needs --database-url and --redis-url "
            "(or CALIBER_TEST_DATABASE_URL and CALIBER_TEST_REDIS_URL)"
        )
    started = time.perf_counter()
    try:
        if args.keep is not None:
            args.keep.mkdir(parents=True, exist_ok=True)
            benchmark(args, args.keep.resolve())
        else:
            with tempfile.TemporaryDirectory(prefix="caliber-e2e-") as tmp:
                benchmark(args, Path(tmp))
    except (SubprocessError, SetupError) as exc:
        sys.stderr.write(f"end_to_end: {exc}\n")
        return 1
    sys.stderr.write(f"end_to_end: {time.perf_counter() - started:.0f} s in all\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
