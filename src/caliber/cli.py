"""The ``caliber`` command line: score a file, list setups, generate sample exports.

Bad input exits with status 2 and one line on stderr; heavy libraries are imported
inside the commands so ``caliber --help`` starts fast.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from caliber.engine.pipeline import ScoringResult

app = typer.Typer(
    name="caliber",
    help="Score programmatic ad inventory from Trade Desk and PulsePoint exports.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

EXIT_BAD_INPUT = 2
_PROGRESS_MIN_BYTES = 5 * 1024 * 1024
_TOP = 5


class CliInputError(Exception):
    """A user error to report on one line."""


def _fail(message: str) -> NoReturn:
    raise CliInputError(message)


PlatformOpt = Annotated[
    str, typer.Option("--platform", "-p", help="trade_desk or pulsepoint", show_default=False)
]
ChannelOpt = Annotated[
    str, typer.Option("--channel", "-c", help="display, ctv, video or audio", show_default=False)
]


@app.command()
def score(
    file: Annotated[Path, typer.Argument(help="CSV, TSV or Excel export", show_default=False)],
    platform: PlatformOpt,
    goal: Annotated[
        str, typer.Option("--goal", "-g", help="awareness or action", show_default=False)
    ],
    channel: ChannelOpt,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="directory to write results into")
    ] = Path("caliber-out"),
    ctr_sensitivity: Annotated[
        bool, typer.Option("--ctr-sensitivity", help="weight CTR more (Trade Desk display)")
    ] = False,
    min_impressions: Annotated[
        float, typer.Option("--min-impressions", help="volume filter and list eligibility")
    ] = 250,
    weights: Annotated[
        str | None,
        typer.Option(
            "--weights",
            help="custom weights as JSON, e.g. '{\"ctr\": 0.5, ...}', or @file.json",
            show_default=False,
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="print nothing on success")] = False,
) -> None:
    """Score FILE and write results.csv, whitelist.csv, blacklist.csv and summary.json."""
    from caliber.engine.config import Setup
    from caliber.engine.pipeline import score as run

    setup = Setup.create(
        platform,
        goal,
        channel,
        ctr_sensitivity=ctr_sensitivity,
        min_impressions=min_impressions,
        weights=_parse_weights(weights),
    )
    data = _read_input(file)
    console = _console(stderr=False)
    show_progress = sys.stderr.isatty() and len(data) >= _PROGRESS_MIN_BYTES and not quiet
    if show_progress:
        result = _run_with_progress(
            lambda progress: run(data, setup, filename=file.name, progress=progress)
        )
    else:
        result = run(data, setup, filename=file.name)
    written = _write_outputs(result, out)
    if not quiet:
        _print_summary(console, result, file, written)


def _read_input(file: Path) -> bytes:
    if not file.exists():
        _fail(f"no such file: {file}")
    if file.is_dir():
        _fail(f"{file} is a directory, not a file")
    try:
        return file.read_bytes()
    except OSError as exc:
        _fail(f"cannot read {file}: {exc.strerror or exc}")


def _parse_weights(raw: str | None) -> dict[str, float] | None:
    if raw is None:
        return None
    text = raw
    if raw.startswith("@"):
        path = Path(raw[1:])
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            _fail(f"cannot read weights file {path}: {exc.strerror or exc}")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        _fail(f"--weights is not valid JSON: {exc.msg} at position {exc.pos}")
    if not isinstance(value, dict) or not value:
        _fail('--weights must be a JSON object of metric names to numbers, e.g. {"ctr": 1}')
    return value


def _run_with_progress(job: Any) -> ScoringResult:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=_console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task("reading", total=1.0)

        def update(step: str, fraction: float) -> None:
            bar.update(task, description=step, completed=fraction)

        result: ScoringResult = job(update)
    return result


def _write_outputs(result: ScoringResult, out: Path) -> list[Path]:
    import polars as pl

    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        _fail(f"cannot create output directory {out}: {exc.strerror or exc}")
    flat = result.results.with_columns(pl.col("outlier_flags").list.join(";"))
    dim = result.dimension
    list_columns = [dim, "score", "impressions", "percentile_rank", "quality_status"]
    files = {
        "results.csv": flat,
        "whitelist.csv": result.lists.whitelist.select(list_columns),
        "blacklist.csv": result.lists.blacklist.select(list_columns),
    }
    written: list[Path] = []
    try:
        for name, frame in files.items():
            path = out / name
            frame.write_csv(path)
            written.append(path)
        summary_path = out / "summary.json"
        summary_path.write_text(
            json.dumps(result.summary(), indent=2, default=_json_default) + "\n", encoding="utf-8"
        )
        written.append(summary_path)
    except OSError as exc:
        _fail(f"cannot write into {out}: {exc.strerror or exc}")
    return written


def _json_default(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _console(*, stderr: bool) -> Console:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


def _print_summary(
    console: Console, result: ScoringResult, file: Path, written: list[Path]
) -> None:
    from rich.table import Table

    campaign = result.campaign
    report = result.report
    setup = result.setup
    console.print(
        f"[bold]{file.name}[/bold]: {setup.platform} / {setup.goal} / {setup.channel}"
        f"{' (CTR-sensitive)' if setup.ctr_sensitivity else ''}, scored by {result.dimension}"
    )
    facts = Table(show_header=False, box=None, pad_edge=False)
    facts.add_column(style="dim")
    facts.add_column(justify="right")
    dropped = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in report.rows_dropped.items())
    facts.add_row("rows read", f"{report.rows_read:,}")
    facts.add_row(
        "rows dropped",
        f"{sum(report.rows_dropped.values()):,}" + (f" ({dropped})" if dropped else ""),
    )
    facts.add_row(f"{result.dimension.replace('_', ' ')}s", f"{report.rows_aggregated:,}")
    facts.add_row(f"below {report.filter_threshold:,.0f} impressions", f"{report.rows_filtered:,}")
    facts.add_row("scored", f"{report.rows_scored:,}")
    facts.add_row("campaign score", f"{campaign['campaign_level_score']}")
    dist = campaign["score_distribution"]
    facts.add_row("score min / median / max", f"{dist['min']} / {dist['median']} / {dist['max']}")
    counts = campaign["status_counts"]
    facts.add_row(
        "good / moderate / poor", f"{counts['good']} / {counts['moderate']} / {counts['poor']}"
    )
    facts.add_row(
        "whitelist / blacklist",
        f"{result.lists.whitelist.height} / {result.lists.blacklist.height}",
    )
    console.print(facts)
    for title, rows in (
        ("Top 5", campaign["top_performers"]),
        ("Bottom 5", campaign["bottom_performers"]),
    ):
        table = Table(title=title, title_justify="left")
        table.add_column(result.dimension)
        table.add_column("score", justify="right")
        table.add_column("impressions", justify="right")
        table.add_column("status")
        for row in rows[:_TOP]:
            table.add_row(
                str(row[result.dimension]),
                f"{row['score']:.2f}",
                f"{row['impressions']:,.0f}",
                str(row["quality_status"]),
            )
        console.print(table)
    for warning in report.warnings:
        console.print(f"[yellow]warning:[/yellow] {warning.message}")
    console.print(f"wrote {', '.join(str(p) for p in written)}")


@app.command()
def configs(
    as_json: Annotated[bool, typer.Option("--json", help="print machine-readable JSON")] = False,
) -> None:
    """List every scoring setup: metrics, weights, directions, level, headers, defaults."""
    from caliber.engine.config import INPUT_COLUMNS, describe_setups

    setups = describe_setups()
    if as_json:
        payload = {
            "setups": setups,
            "input_columns": {
                c.name: {"kind": str(c.kind), "headers": list(c.aliases)} for c in INPUT_COLUMNS
            },
        }
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
        return
    from rich.table import Table

    console = _console(stderr=False)
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
        console.print(table)
    console.print(
        "Defaults: min_impressions 250; lists at score quantiles 0.75 / 0.25; "
        "pulsepoint also needs 0.05% of total impressions. `--json` for every header."
    )


@app.command()
def sample(
    platform: PlatformOpt,
    channel: ChannelOpt,
    out: Annotated[Path, typer.Option("--out", "-o", help="CSV file to write")],
    rows: Annotated[int, typer.Option("--rows", "-n", help="number of data rows")] = 2000,
    seed: Annotated[int, typer.Option("--seed", help="random seed")] = 7,
) -> None:
    """Write a realistic export with the platform's real headers and quirks."""
    from caliber.sample import SampleError, write_sample

    try:
        written = write_sample(out, platform, channel, rows=rows, seed=seed)
    except SampleError as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"cannot write {out}: {exc.strerror or exc}")
    sys.stderr.write(f"wrote {written:,} rows to {out}\n")


def main(argv: list[str] | None = None) -> int:
    """Console entry point: run the app, turn user errors into one line and exit 2."""
    from caliber.engine.errors import EngineError

    try:
        app(args=argv, prog_name="caliber", standalone_mode=False)
    except (CliInputError, EngineError) as exc:
        message = exc.message if isinstance(exc, EngineError) else str(exc)
        sys.stderr.write(f"caliber: error: {message}\n")
        return EXIT_BAD_INPUT
    except typer.Abort:
        sys.stderr.write("caliber: aborted\n")
        return 130
    except Exception as exc:
        if _usage_error(exc):
            return EXIT_BAD_INPUT
        if os.environ.get("CALIBER_DEBUG"):
            raise
        sys.stderr.write(
            f"caliber: internal error: {type(exc).__name__}: {exc} "
            "(set CALIBER_DEBUG=1 for details)\n"
        )
        return 1
    return 0


def _usage_error(exc: Exception) -> bool:
    """Click usage errors (bad option values, missing options): show them as one line."""
    show = getattr(exc, "format_message", None)
    exit_code = getattr(exc, "exit_code", None)
    if show is None or exit_code != EXIT_BAD_INPUT:
        return False
    sys.stderr.write(f"caliber: error: {show()}\n")
    return True


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
