"""FILE and the scoring setup options, shared by `caliber score` and the analytics
commands (`explain`, `outliers`, `weights`): how they are declared, checked and turned
into the engine's Setup.

polars and the engine are imported inside the functions so ``caliber --help`` starts fast.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from caliber.cli.output import fail

if TYPE_CHECKING:
    from caliber.engine.config import Setup
    from caliber.engine.options import ReadOptions
    from caliber.engine.pipeline import ScoringResult

PLATFORMS = ("trade_desk", "pulsepoint")
GOALS = ("awareness", "action")
CHANNELS = ("display", "ctv", "video", "audio")


def add_setup_arguments(command: argparse.ArgumentParser) -> None:
    """FILE and the scoring setup: shared by score, explain, outliers and weights."""
    command.add_argument("file", type=Path, help="CSV, TSV or Excel (.xlsx, .xls) export")
    add_setup_options(command)


def add_setup_options(command: argparse.ArgumentParser, *, required: bool = True) -> None:
    """The scoring setup and reading options without FILE (`caliber diff` takes two
    inputs, and needs the setup only for those that are files: ``required=False``)."""
    command.add_argument("-p", "--platform", required=required, help=" | ".join(PLATFORMS))
    command.add_argument("-g", "--goal", required=required, help=" | ".join(GOALS))
    command.add_argument("-c", "--channel", required=required, help=" | ".join(CHANNELS))
    command.add_argument(
        "--ctr-sensitivity", action="store_true", help="weight CTR more (Trade Desk display)"
    )
    command.add_argument(
        "--min-impressions",
        type=float,
        default=250.0,
        help="volume filter and list eligibility (default: 250)",
    )
    command.add_argument(
        "--weights",
        help="custom weights as JSON, e.g. '{\"ctr\": 0.5, ...}', or @file.json",
    )
    reading = command.add_argument_group(
        "reading the file", "detected when not given; the summary says what was used"
    )
    reading.add_argument(
        "--number-format",
        choices=("auto", "point", "comma"),
        default="auto",
        help="decimal mark: point (1,234.56), comma (1.234,56), or auto (detect; default)",
    )
    reading.add_argument(
        "--sheet", help="the workbook sheet to read, by name or 0-based index (default: detect)"
    )
    reading.add_argument(
        "--header-row",
        type=int,
        metavar="N",
        help="the line (or sheet row) of the header, from 1 (default: detect)",
    )
    reading.add_argument(
        "--column",
        action="append",
        default=[],
        metavar="NAME=HEADER",
        help="read input NAME (domain, supply_vendor, impressions, conversions, ...; see "
        "'caliber configs --json') from the file's HEADER; repeat a count input to add "
        "several columns up",
    )


def score_file(args: argparse.Namespace) -> ScoringResult:
    """Score args.file with the setup options (no progress bar, no output files)."""
    with no_gc():
        from caliber.engine.pipeline import score as run

    setup = engine_setup(args)
    options = read_options(args)
    check_input(args.file)
    return run(args.file, setup, options=options)


def engine_setup(args: argparse.Namespace) -> Setup:
    """The engine setup of the options :func:`add_setup_arguments` adds."""
    with no_gc():  # importing polars allocates a lot and triggers needless GC passes
        from caliber.engine.config import Setup

    return Setup.create(
        args.platform,
        args.goal,
        args.channel,
        ctr_sensitivity=args.ctr_sensitivity,
        min_impressions=args.min_impressions,
        weights=_parse_weights(args.weights),
        # only `caliber score` has --confidence (add_confidence_argument)
        list_confidence=getattr(args, "confidence", None),
    )


def add_confidence_argument(command: argparse.ArgumentParser) -> None:
    """--confidence LEVEL: lists of what the data can decide at LEVEL (the engine checks
    the range and names it when it is out of it)."""
    command.add_argument(
        "--confidence",
        type=_level,
        metavar="LEVEL",
        help="list a row only when Caliber is at least LEVEL sure it belongs there (0.5 to "
        "0.99; 0.8 recommended): whitelisted when P(score >= the whitelist threshold) >= "
        "LEVEL, i.e. score_low (the 1 - LEVEL quantile of its score) clears it; blacklisted "
        "when P(score <= the blacklist threshold) >= LEVEL (score_high, the LEVEL quantile). "
        "whitelist.csv and blacklist.csv hold these lists, *_classic.csv the classic ones "
        "(default: the classic lists only)",
    )


def _level(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--confidence wants a level between 0.5 and 0.99 (e.g. 0.8), not {text!r}"
        ) from None


def read_options(args: argparse.Namespace) -> ReadOptions:
    """The engine's reading choices from --number-format, --sheet, --header-row and
    --column (repeatable; a NAME given several headers adds them up)."""
    with no_gc():
        from caliber.engine.options import NumberFormat, ReadOptions

    columns: dict[str, tuple[str, ...]] = {}
    for given in args.column:
        name, equals, header = given.partition("=")
        if not equals or not name.strip() or not header.strip():
            example = 'conversions="01 - Click Conversion"'
            fail(f"--column wants NAME=HEADER (e.g. {example}), not {given!r}")
        key = name.strip().lower()
        columns[key] = (*columns.get(key, ()), header.strip())
    if args.header_row is not None and args.header_row < 1:
        fail(f"--header-row counts from 1 (the file's first line), not {args.header_row}")
    sheet: str | int | None = args.sheet
    if isinstance(sheet, str) and sheet.strip().isdigit():
        sheet = int(sheet.strip())
    return ReadOptions(
        number_format=NumberFormat(args.number_format),
        header_row=args.header_row,
        sheet=sheet,
        columns=columns,
    )


@contextlib.contextmanager
def no_gc() -> Iterator[None]:
    """The garbage collector off for the block (it is back on after, if it was on)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def check_input(file: Path) -> int:
    """The file's size; a clear error when it is missing, a directory or unreadable."""
    if not file.exists():
        fail(f"no such file: {file}")
    if file.is_dir():
        fail(f"{file} is a directory, not a file")
    if not os.access(file, os.R_OK):
        fail(f"cannot read {file}: permission denied")
    return file.stat().st_size


def _parse_weights(raw: str | None) -> dict[str, float] | None:
    if raw is None:
        return None
    text = raw
    if raw.startswith("@"):
        path = Path(raw[1:])
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            fail(f"cannot read weights file {path}: {exc.strerror or exc}")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        fail(f"--weights is not valid JSON: {exc.msg} at position {exc.pos}")
    if not isinstance(value, dict) or not value:
        fail('--weights must be a JSON object of metric names to numbers, e.g. {"ctr": 1}')
    return value
