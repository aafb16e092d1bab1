"""The scoring commands: `caliber score` (a file to results, lists and a summary),
`caliber configs` (every scoring setup) and `caliber sample` (a realistic export).
`caliber diff`, comparing two scorings, is in cli/diff.py.

polars, rich and the engine are imported inside the commands so ``--help`` starts fast.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from caliber.cli.output import Summary, console, fail, print_summary
from caliber.cli.setup_options import (
    CHANNELS,
    PLATFORMS,
    add_confidence_argument,
    add_setup_arguments,
    check_input,
    engine_setup,
    no_gc,
    read_options,
)

if TYPE_CHECKING:
    from caliber.engine.pipeline import ScoringResult

# a progress bar is worth drawing only for files that take a while to read
_PROGRESS_MIN_BYTES = 5 * 1024 * 1024
_TOP = 5


def add_score(commands: Any) -> None:
    """`caliber score FILE ...`."""
    score_cmd = commands.add_parser(
        "score",
        help="score a file and write results, lists and a summary",
        description="Score FILE and write results.csv, whitelist.csv, blacklist.csv and "
        "summary.json into --out (with --confidence, also whitelist_classic.csv and "
        "blacklist_classic.csv).",
    )
    add_setup_arguments(score_cmd)
    add_confidence_argument(score_cmd)
    score_cmd.add_argument(
        "--impact",
        action="store_true",
        help="also print what applying the lists would do (what the blacklist removes, "
        "the campaign's figures after blocking and after moving the removed spend to the "
        "whitelist) and write it in summary.json under 'impact'",
    )
    score_cmd.add_argument(
        "-o", "--out", type=Path, default=Path("caliber-out"), help="output directory"
    )
    score_cmd.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")
    score_cmd.set_defaults(handler=_score)


def add_configs(commands: Any) -> None:
    """`caliber configs [--json]`."""
    configs_cmd = commands.add_parser(
        "configs",
        help="list every scoring setup",
        description="List every scoring setup: metrics, weights, directions, analysis level, "
        "accepted headers and defaults.",
    )
    configs_cmd.add_argument("--json", action="store_true", help="machine-readable JSON")
    configs_cmd.set_defaults(handler=_configs)


def add_sample(commands: Any) -> None:
    """`caliber sample -p PLATFORM -c CHANNEL -o FILE`."""
    sample_cmd = commands.add_parser(
        "sample",
        help="write a realistic sample export",
        description="Write a realistic export with the platform's real headers and quirks.",
    )
    sample_cmd.add_argument("-p", "--platform", required=True, help=" | ".join(PLATFORMS))
    sample_cmd.add_argument("-c", "--channel", required=True, help=" | ".join(CHANNELS))
    sample_cmd.add_argument("-o", "--out", type=Path, required=True, help="CSV file to write")
    sample_cmd.add_argument(
        "-n", "--rows", type=int, default=2000, help="data rows (default: 2000)"
    )
    sample_cmd.add_argument("--seed", type=int, default=7, help="random seed (default: 7)")
    sample_cmd.add_argument(
        "--sites", type=int, help="distinct sites (default: one in 40 rows, at least 30)"
    )
    sample_cmd.set_defaults(handler=_sample)


def _score(args: argparse.Namespace) -> None:
    with no_gc():  # importing polars allocates a lot and triggers needless GC passes
        from caliber.engine.pipeline import score as run

    file: Path = args.file
    setup = engine_setup(args)
    options = read_options(args)
    size = check_input(file)
    show_progress = sys.stderr.isatty() and size >= _PROGRESS_MIN_BYTES and not args.quiet
    result: ScoringResult
    if show_progress:
        result = _run_with_progress(
            lambda progress: run(file, setup, options=options, progress=progress)
        )
    else:
        result = run(file, setup, options=options)
    impact = _impact(result) if args.impact else None
    written = _write_outputs(result, args.out, impact)
    if not args.quiet:
        print_summary(_summary(result, file, written))
        if impact is not None:
            from caliber.cli.impact import impact_summary

            print_summary(impact_summary(impact), left=(0,))


def _impact(result: ScoringResult) -> dict[str, Any]:
    """What applying the run's lists in use (confident with --confidence) would do."""
    from caliber.engine.impact import impact

    return impact(result.results, result.dimension, result.lists, result.metric_names).to_dict()


def _run_with_progress(
    job: Callable[[Callable[[str, float], None]], ScoringResult],
) -> ScoringResult:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task("reading", total=1.0)

        def update(step: str, fraction: float) -> None:
            bar.update(task, description=step, completed=fraction)

        result: ScoringResult = job(update)
    return result


def _write_outputs(
    result: ScoringResult, out: Path, impact: dict[str, Any] | None = None
) -> list[Path]:
    import polars as pl

    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        fail(f"cannot create output directory {out}: {exc.strerror or exc}")
    flat = result.results.with_columns(pl.col("outlier_flags").list.join(";"))
    dim = result.dimension
    list_columns = [dim, "score", "impressions", "percentile_rank", "quality_status"]
    files = {"results.csv": flat}
    if result.confidence is None:
        files["whitelist.csv"] = result.lists.whitelist.select(list_columns)
        files["blacklist.csv"] = result.lists.blacklist.select(list_columns)
    else:
        # the lists in use are the confident ones; the classic ones beside them
        confident = [*list_columns[:2], "shrunk_score", "score_low", "score_high"]
        confident += list_columns[2:]
        classic = result.confidence.classic_lists
        files["whitelist.csv"] = result.lists.whitelist.select(confident)
        files["blacklist.csv"] = result.lists.blacklist.select(confident)
        files["whitelist_classic.csv"] = classic.whitelist.select(list_columns)
        files["blacklist_classic.csv"] = classic.blacklist.select(list_columns)
    written: list[Path] = []
    try:
        for name, frame in files.items():
            path = out / name
            frame.write_csv(path)
            written.append(path)
        summary_path = out / "summary.json"
        summary = result.summary()
        if impact is not None:
            summary["impact"] = impact
        summary_path.write_text(
            json.dumps(summary, indent=2, default=_json_default) + "\n", encoding="utf-8"
        )
        written.append(summary_path)
    except OSError as exc:
        fail(f"cannot write into {out}: {exc.strerror or exc}")
    return written


def _json_default(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _summary(result: ScoringResult, file: Path, written: list[Path]) -> Summary:
    """Title, key facts, the top and bottom tables and closing lines, as plain strings."""
    campaign = result.campaign
    report = result.report
    setup = result.setup
    title = (
        f"{file.name}: {setup.platform} / {setup.goal} / {setup.channel}"
        f"{' (CTR-sensitive)' if setup.ctr_sensitivity else ''}, scored by {result.dimension}"
    )
    dropped = ", ".join(f"{k.replace('_', ' ')}: {n:,}" for k, n in report.rows_dropped.items())
    dist = campaign["score_distribution"]
    counts = campaign["status_counts"]
    numbers = report.number_format
    facts = [
        ("rows read", f"{report.rows_read:,}"),
        # how the decimal mark was decided: detected, given or assumed
        ("decimal mark", f"{numbers.get('used', 'point')} ({numbers.get('decided', 'assumed')})"),
        (
            "rows dropped",
            f"{sum(report.rows_dropped.values()):,}" + (f" ({dropped})" if dropped else ""),
        ),
        (f"{result.dimension.replace('_', ' ')}s", f"{report.rows_aggregated:,}"),
        (f"below {report.filter_threshold:,.0f} impressions", f"{report.rows_filtered:,}"),
        ("scored", f"{report.rows_scored:,}"),
        ("campaign score", f"{campaign['campaign_level_score']}"),
        ("score min / median / max", f"{dist['min']} / {dist['median']} / {dist['max']}"),
        ("good / moderate / poor", f"{counts['good']} / {counts['moderate']} / {counts['poor']}"),
        (
            "whitelist / blacklist",
            f"{result.lists.whitelist.height} / {result.lists.blacklist.height}",
        ),
    ]
    if result.confidence is not None:
        facts += _confidence_facts(result)
    header = [result.dimension, "score", "impressions", "status"]
    tables = [
        (
            title_,
            [header]
            + [
                [
                    str(row[result.dimension]),
                    f"{row['score']:.2f}",
                    f"{row['impressions']:,.0f}",
                    str(row["quality_status"]),
                ]
                for row in rows[:_TOP]
            ],
        )
        for title_, rows in (
            ("Top 5", campaign["top_performers"]),
            ("Bottom 5", campaign["bottom_performers"]),
        )
    ]
    closing = [f"warning: {w.message}" for w in report.warnings]
    closing.append(f"wrote {', '.join(str(p) for p in written)}")
    return title, facts, tables, closing


def _confidence_facts(result: ScoringResult) -> list[tuple[str, str]]:
    """The level and what it means, the classic lists beside the confident ones, and the
    count, impressions and spend of each decision (the top and bottom five stay classic)."""
    confidence = result.confidence
    if confidence is None:
        return []
    classic = confidence.classic_lists
    facts = [
        (
            "confidence",
            f"{confidence.level:g}: listed only when at least {confidence.level:.0%} sure",
        ),
        (
            "classic whitelist / blacklist",
            f"{classic.whitelist.height} / {classic.blacklist.height}",
        ),
    ]
    for decision, totals in confidence.decisions.items():
        spend = totals["spend"]
        money = "" if spend is None else f", spend {spend:,.2f}"
        facts.append(
            (
                f"decided {decision}" if decision != "undecided" else decision,
                f"{totals['count']:,} ({totals['impressions']:,.0f} impressions{money})",
            )
        )
    return facts


def _configs(args: argparse.Namespace) -> None:
    from caliber.engine.columns import INPUT_COLUMNS, PLATFORM_HEADERS
    from caliber.engine.config import describe_setups
    from caliber.engine.usercolumns import summable

    setups = describe_setups()
    if args.json:
        # every input `--column NAME=HEADER` may name: what it holds, whether several
        # headers add up, and the headers read without a mapping (each platform's own)
        payload = {
            "setups": setups,
            "input_columns": {
                c.name: {
                    "kind": str(c.kind),
                    "summable": summable(c.name),
                    "header": c.header,
                    "headers": list(c.aliases),
                    "platform_headers": {
                        platform: list(own[c.name])
                        for platform, own in PLATFORM_HEADERS.items()
                        if c.name in own
                    },
                }
                for c in INPUT_COLUMNS
            },
        }
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
        return
    from rich.table import Table

    out = console(stderr=False)
    for setup in setups:
        sensitivity = " + CTR sensitivity" if setup["ctr_sensitivity"] is True else ""
        table = Table(
            title=(
                f"{setup['platform']} / {setup['goal']} / {setup['channel']}{sensitivity}"
                f"  (by {setup['analysis_level']})"
            ),
            title_justify="left",
        )
        table.add_column("metric")
        table.add_column("weight", justify="right")
        table.add_column("direction")
        table.add_column("from")
        for metric in setup["metrics"]:
            sources = []
            if metric["from_counts"]:
                sources.append(
                    f"{metric['from_counts']['numerator'][0]} / "
                    f"{metric['from_counts']['denominator'][0]}"
                )
            sources += [headers[0] for headers in metric["from_rate_columns"]]
            table.add_row(
                metric["name"],
                f"{metric['weight']:.2f}",
                "higher is better"
                if metric["direction"] == "higher_is_better"
                else "lower is better",
                " or ".join(sources),
            )
        out.print(table)
    out.print(
        "Defaults: min_impressions 250; lists at score quantiles 0.75 / 0.25; "
        "pulsepoint also needs 0.05% of total impressions. `--json` for every header."
    )
    counts = ", ".join(c.name for c in INPUT_COLUMNS if summable(c.name))
    others = ", ".join(c.name for c in INPUT_COLUMNS if not summable(c.name))
    out.print(
        "Inputs for `caliber score --column NAME=HEADER` (repeat a count to add columns "
        f"up): counts {counts}; one column each: {others}."
    )


def _sample(args: argparse.Namespace) -> None:
    from caliber.sample.export import SampleError, write_sample

    try:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        written = write_sample(
            args.out, args.platform, args.channel, rows=args.rows, seed=args.seed, sites=args.sites
        )
    except SampleError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot write {args.out}: {exc.strerror or exc}")
    sys.stderr.write(f"wrote {written:,} rows to {args.out}\n")
