"""`caliber diff OLD NEW [setup]`: what changed between two scorings (issue 18 §2), as
``GET /scoring/diff`` answers it for two runs.

OLD and NEW are each an export file, scored here with the setup options (the lists in
use: the confident ones with ``--confidence``, else the classic ones), or a folder
``caliber score --out`` wrote, whose results.csv, whitelist.csv and blacklist.csv are read
as they are (the setup options are then not needed). The diff is printed; with ``--out``
it is written as diff.json with the list changes beside it: ``<list>_<add|remove>.txt``,
``list_changes_ttd.json`` and ``list_changes_dv360.json`` (docs/exports.md).

polars and the engine are imported inside the command so ``--help`` starts fast.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from caliber.cli.output import Summary, fail, print_summary
from caliber.cli.setup_options import (
    add_confidence_argument,
    add_setup_options,
    check_input,
    engine_setup,
    no_gc,
    read_options,
)

if TYPE_CHECKING:
    import polars as pl

    from caliber.engine.diff import RunDiff, Side

FOLDER_FILES = ("results.csv", "whitelist.csv", "blacklist.csv")
_SHOWN = 10  # rows of each table printed (diff.json holds --limit of them)


def add_diff(commands: Any) -> None:
    """`caliber diff OLD NEW ...`."""
    command = commands.add_parser(
        "diff",
        help="what changed between two scorings (files or score --out folders)",
        description="Compare two scorings: OLD and NEW are export files (scored with the "
        "setup options) or folders written by 'caliber score --out' (read as they are; the "
        "setup options are then optional). Prints the entries each list adds and removes, "
        "new and vanished names, the largest score and status movers and the change of the "
        "campaign score and key metrics; with --out, writes diff.json and the list changes "
        "for a DSP.",
    )
    command.add_argument("old", type=Path, help="the earlier export file or score folder")
    command.add_argument("new", type=Path, help="the later export file or score folder")
    add_setup_options(command, required=False)
    add_confidence_argument(command)
    command.add_argument(
        "--limit",
        type=int,
        default=20,
        help="movers, new and vanished names listed (1 to 1000; default: 20)",
    )
    command.add_argument("-o", "--out", type=Path, help="write diff.json and list changes here")
    command.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")
    command.set_defaults(handler=_diff)


@dataclass(frozen=True)
class Scoring:
    """One side of the diff and where it came from."""

    side: Side
    dimension: str
    label: str


def _diff(args: argparse.Namespace) -> None:
    with no_gc():
        from caliber.engine.diff import MAX_LIMIT, compare

    if not 1 <= args.limit <= MAX_LIMIT:
        fail(f"--limit must be between 1 and {MAX_LIMIT}, not {args.limit}")
    old, new = _load(args, args.old), _load(args, args.new)
    if old.dimension != new.dimension:
        fail(
            f"{args.old} is scored by {old.dimension} and {args.new} by {new.dimension}; "
            "compare scorings of the same setup"
        )
    found = compare(old.side, new.side, new.dimension, args.limit)
    written = _write(found, args.out, old.label, new.label) if args.out is not None else []
    if not args.quiet:
        print_summary(_summary(found, old, new, written), left=(0, 5, 6))


def _load(args: argparse.Namespace, path: Path) -> Scoring:
    if path.is_dir():
        return _read_folder(path)
    return _score_file(args, path)


def _score_file(args: argparse.Namespace, path: Path) -> Scoring:
    """``path`` scored with the setup options and its lists in use."""
    with no_gc():
        from caliber.engine.decisions import lists_in_use
        from caliber.engine.diff import Side
        from caliber.engine.pipeline import score

    missing = [f"--{n}" for n in ("platform", "goal", "channel") if getattr(args, n) is None]
    if missing:
        fail(f"{path} is a file: scoring it needs {', '.join(missing)} (or give a score folder)")
    setup = engine_setup(args)
    check_input(path)
    result = score(path, setup, options=read_options(args))
    lists = lists_in_use(result.results, result.dimension, setup)
    return Scoring(Side(result.results, lists), result.dimension, path.name)


def _read_folder(path: Path) -> Scoring:
    """A `caliber score --out` folder: its results and the lists it wrote."""
    import polars as pl

    from caliber.engine.diff import Side
    from caliber.engine.lists import OptimizationLists

    absent = [name for name in FOLDER_FILES if not (path / name).is_file()]
    if absent:
        fail(f"{path} is not a 'caliber score --out' folder: {', '.join(absent)} missing")
    dimension = _dimension(path)
    frames = {name: _read_csv(path / name, dimension) for name in FOLDER_FILES}
    results = frames["results.csv"]
    for name, frame in frames.items():
        needed = {dimension, "score", "impressions", "quality_status"} - set(frame.columns)
        if needed:
            fail(f"{path / name} lacks the column(s) {', '.join(sorted(needed))}")
    lists = OptimizationLists(
        whitelist=frames["whitelist.csv"],
        blacklist=frames["blacklist.csv"],
        min_impressions=float("nan"),  # as the folder's summary.json says; not needed here
        eligible=int(results.filter(pl.col("score").is_not_null()).height),
        whitelist_threshold=None,
        blacklist_threshold=None,
    )
    return Scoring(Side(results, lists), dimension, path.name)


def _dimension(path: Path) -> str:
    """The folder's analysis level: summary.json's, else results.csv's first column."""
    summary = path / "summary.json"
    if summary.is_file():
        try:
            level = json.loads(summary.read_text(encoding="utf-8")).get("analysis_level")
        except (OSError, ValueError, AttributeError):
            level = None
        if isinstance(level, str) and level:
            return level
    try:
        with (path / "results.csv").open(encoding="utf-8") as handle:
            return handle.readline().strip().split(",")[0].strip('"') or "domain"
    except OSError as exc:
        fail(f"cannot read {path / 'results.csv'}: {exc.strerror or exc}")


def _read_csv(path: Path, dimension: str) -> pl.DataFrame:
    import polars as pl

    try:
        # the names stay text (an app store id is digits)
        return pl.read_csv(path, schema_overrides={dimension: pl.String})
    except (OSError, pl.exceptions.PolarsError) as exc:
        fail(f"cannot read {path}: {exc}")


def _write(found: RunDiff, out: Path, old: str, new: str) -> list[Path]:
    from caliber.reports import list_changes

    changes = found.list_changes()
    files: dict[str, bytes] = {
        "diff.json": (
            json.dumps({"base": old, "head": new, **found.to_dict()}, indent=2) + "\n"
        ).encode("utf-8"),
        "list_changes_ttd.json": list_changes.render(changes, "ttd"),
        "list_changes_dv360.json": list_changes.render(changes, "dv360"),
    }
    for (name, change), filename in list_changes.TEXT_FILES.items():
        files[filename] = list_changes.text_list(changes[name][change])
    written = []
    try:
        out.mkdir(parents=True, exist_ok=True)
        for filename, data in files.items():
            (out / filename).write_bytes(data)
            written.append(out / filename)
    except OSError as exc:
        fail(f"cannot write into {out}: {exc.strerror or exc}")
    return written


def _summary(found: RunDiff, old: Scoring, new: Scoring, written: list[Path]) -> Summary:
    """The counts and the campaign's figures as facts; list changes and movers as tables."""
    campaign = found.campaign
    facts = [("campaign score", _pair(campaign["campaign_score"]))]
    facts += [(name.replace("_", " "), _pair(pair)) for name, pair in campaign["metrics"].items()]
    for name, change in found.lists.items():
        facts.append(
            (
                name,
                f"+{len(change['added'])} / -{len(change['removed'])} ({change['kept']} kept)",
            )
        )
    noun = new.dimension.replace("_", " ")
    facts.append((f"new {noun}s", f"{found.domains['new']['count']:,}"))
    facts.append((f"vanished {noun}s", f"{found.domains['vanished']['count']:,}"))
    tables = []
    header = [new.dimension, "base", "head", "change", "impressions", "was", "now"]
    for title, movers in (
        ("Score up", found.movers["up"]),
        ("Score down", found.movers["down"]),
        ("Status changed", found.movers["status"]),
    ):
        if movers:
            rows = [
                [
                    str(m["domain"]),
                    _number(m["base_score"]),
                    _number(m["head_score"]),
                    f"{m['change']:+.2f}",
                    f"{m['impressions']:,.0f}",
                    str(m["base_status"]),
                    str(m["head_status"]),
                ]
                for m in movers[:_SHOWN]
            ]
            tables.append((title, [header, *rows]))
    for name, change in found.lists.items():
        for key, verb in (("added", "joins"), ("removed", "leaves")):
            entries = change[key]
            if entries:
                rows = [
                    [
                        str(e["domain"]),
                        _number(e["score"]),
                        f"{e['impressions']:,.0f}",
                        str(e["quality_status"]),
                    ]
                    for e in entries[:_SHOWN]
                ]
                title = f"{verb} the {name} ({len(entries)})"
                tables.append((title, [[new.dimension, "score", "impressions", "status"], *rows]))
    closing = [f"wrote {', '.join(str(p) for p in written)}"] if written else []
    return f"{old.label} -> {new.label}: what changed", facts, tables, closing


def _pair(pair: dict[str, Any]) -> str:
    base, head, change = pair["base"], pair["head"], pair["change"]
    if change is None:
        return f"{_number(base)} -> {_number(head)}"
    sign = "+" if change > 0 else ""
    return f"{_number(base)} -> {_number(head)} ({sign}{_number(change)})"


def _number(value: Any) -> str:
    """Counts with separators, figures of 1 or more with two decimals, rates to six
    significant digits."""
    if value is None:
        return "-"
    if isinstance(value, int):
        return f"{value:,}"
    number = float(value)
    if number == 0 or abs(number) >= 1:
        return f"{number:,.2f}"
    return f"{number:.6g}"
