"""How many listed domains truly belong on their list: `caliber score` on simulated exports.

    python benchmarks/list_accuracy.py [--seeds 5] [--quick] [--setups action-display,...]
        [--levels 0.8,0.9|none] [--domains 5000] [--impressions-sigma S]
        [--truth-bounds true|observed] [--keep DIR] [--json] [--check]
    python benchmarks/list_accuracy.py --calibrate [--sigmas 1,1.25,...] [--seeds 5]

For each setup (``--setups``: action-display, awareness-display, awareness-video) and
seed (1..``--seeds``), ``list_sim.simulate`` writes a Trade Desk export of ``--domains``
sites whose true rates are known (the parameters and the truth are in list_sim.py's
docstring), then the real CLI scores it, as a whole process each time:

- ``caliber score FILE -p trade_desk -g GOAL -c CHANNEL --out DIR`` (the classic lists);
- the same with ``--min-impressions 5000`` (a higher volume floor instead of confidence);
- the same with ``--confidence L`` for each level of ``--levels`` (the confident lists in
  whitelist.csv / blacklist.csv); from the first level's results.csv, when it has the
  ``shrunk_<metric>`` columns, the classic quartile rule applied to the shrunk rates
  (the contract's normalization over the rows with >= 250 impressions, unrounded).

Figures per list method, averaged over the seeds with [min-max]: whitelist precision (the
share of the whitelist that is truly top-quartile), blacklist precision (truly
bottom-quartile), the share of the blacklist that is truly top-half, the share of the
file's spend on either list, and the list sizes. The truth is always taken over the sites
with >= 250 impressions, whatever floor a run uses; ``--truth-bounds observed`` normalizes
the true values between the classic run's fitted bounds instead of their own min and max
(a diagnostic: how much of a miss comes from the noisy bounds rather than the ranking).

Targets (level 0.8, action-display, means over the seeds): both precisions >= 0.90, truly
top-half share of the blacklist <= 0.01, spend on the lists >= 0.30. A missed target is
printed as MISSED; the exit status is then 1 with ``--check``, else 0. It is 1 when a
`caliber score` run fails, 2 for bad arguments or a `caliber` without ``--confidence``
while levels are asked for. Deterministic: the same arguments print the same figures
(the seconds per run aside).

``--calibrate`` runs no benchmark: it measures the baseline lists (classic, floor 5,000,
shrunk rates with classic quartiles) for each impressions sigma of ``--sigmas`` and
prints the one closest to the issue's own baseline rows (``list_calibrate.py``), the
simulator's default ``--impressions-sigma``.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from list_calibrate import CALIBRATION_SEEDS, CALIBRATION_SIGMAS, calibrate
from list_measure import CALIBER, FIGURES, Method, Plan, RunError, level_text, run_setup
from list_sim import DOMAINS, IMPRESSIONS_SIGMA, SETUPS, TRUTH_FLOOR, SimSetup

TARGET_LEVEL, TARGET_SETUP = 0.8, "action-display"
TARGET_PRECISION, TARGET_TOP_HALF, TARGET_SPEND = 0.90, 0.01, 0.30
HEADINGS = ("whitelist top-q", "blacklist bottom-q", "blacklist top-half", "spend on lists")


def percent(value: float) -> str:
    return "-" if math.isnan(value) else f"{100 * value:.1f}%"


def print_setup(setup: SimSetup, methods: dict[str, Method]) -> None:
    print(f"\n{setup.label}")
    width = 34
    head = "".join(f"{h:>22}" for h in HEADINGS)
    print(f"{'lists':<{width}}{head}{'whitelist':>11}{'blacklist':>11}{'s/run':>7}")
    for method in methods.values():
        cells = ""
        for figure in FIGURES:
            lo, hi = method.span(figure)
            spread = "" if len(method.runs) == 1 else f" [{percent(lo)[:-1]}-{percent(hi)[:-1]}]"
            cells += f"{percent(method.mean(figure)) + spread:>22}"
        sizes = [
            float(np.mean([getattr(run, name) for run in method.runs]))
            for name in ("whitelist", "blacklist")
        ]
        seconds = float(np.mean(method.seconds))
        timing = "" if math.isnan(seconds) else f"{seconds:.2f}"
        print(f"{method.label:<{width}}{cells}{sizes[0]:>11.0f}{sizes[1]:>11.0f}{timing:>7}")


def check_targets(method: Method) -> list[tuple[str, float, bool]]:
    """(target, value, met) at the target level on the target setup."""
    value = {figure: method.mean(figure) for figure in FIGURES}
    return [
        (
            f"whitelist precision >= {TARGET_PRECISION:g}",
            value["whitelist_precision"],
            value["whitelist_precision"] >= TARGET_PRECISION,
        ),
        (
            f"blacklist precision >= {TARGET_PRECISION:g}",
            value["blacklist_precision"],
            value["blacklist_precision"] >= TARGET_PRECISION,
        ),
        (
            f"blacklist truly top-half <= {TARGET_TOP_HALF:g}",
            value["blacklist_top_half"],
            value["blacklist_top_half"] <= TARGET_TOP_HALF,
        ),
        (
            f"spend on the lists >= {TARGET_SPEND:g}",
            value["spend_share"],
            value["spend_share"] >= TARGET_SPEND,
        ),
    ]


def rounded(value: float) -> float | None:
    """A figure for JSON (which has no NaN): None for the precision of an empty list."""
    return None if math.isnan(value) else round(value, 4)


def as_json(
    args: argparse.Namespace, results: dict[str, dict[str, Method]], met: bool | None
) -> dict[str, object]:
    """Every figure: per setup and method the means, then each seed's."""
    setups = {
        key: {
            name: {
                "label": method.label,
                **{figure: rounded(method.mean(figure)) for figure in FIGURES},
                "per_seed": [
                    {figure: rounded(run.figures[figure]) for figure in FIGURES}
                    | {"whitelist": run.whitelist, "blacklist": run.blacklist}
                    for run in method.runs
                ],
            }
            for name, method in methods.items()
        }
        for key, methods in results.items()
    }
    return {
        "domains": args.domains,
        "seeds": args.seeds,
        "levels": args.levels,
        "truth_bounds": args.truth_bounds,
        "setups": setups,
        "targets_met": met,
    }


def benchmark(args: argparse.Namespace, work: Path) -> bool:
    """Run every setup and print its table; True when the targets are met (or not asked)."""
    setups: list[SimSetup] = args.setups
    print(
        f"List accuracy: simulated Trade Desk exports of {args.domains:,} sites, "
        f"seeds 1-{args.seeds}; truth over the sites with >= {TRUTH_FLOOR:,} impressions"
    )
    if args.truth_bounds == "observed":
        print("truth normalized between the classic run's bounds (--truth-bounds observed)")
    print("figures: mean over the seeds [min-max]; list sizes: mean; s/run: caliber score")
    results: dict[str, dict[str, Method]] = {}
    for setup in setups:
        plan = Plan(
            args.seeds, args.domains, args.impressions_sigma, args.levels, args.truth_bounds
        )
        results[setup.key] = run_setup(setup, plan, work)
        print_setup(setup, results[setup.key])
    target = results.get(TARGET_SETUP, {}).get(f"confidence-{level_text(TARGET_LEVEL)}")
    met = True
    if target is not None:
        print(f"\ntargets ({SETUPS[TARGET_SETUP].label}, confidence {level_text(TARGET_LEVEL)})")
        for text, value, ok in check_targets(target):
            met = met and ok
            print(f"  {text:<36}{percent(value):>8}   {'met' if ok else 'MISSED'}")
        print("RESULT: all targets met" if met else "RESULT: MISSED (see the targets above)")
    else:
        print(f"\ntargets: not measured (they need level {TARGET_LEVEL:g} on {TARGET_SETUP})")
    if args.json:
        print(json.dumps(as_json(args, results, met if target else None)))
    return met


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def setup_list(text: str) -> list[SimSetup]:
    keys = [key.strip() for key in text.split(",") if key.strip()]
    unknown = [key for key in keys if key not in SETUPS]
    if unknown or not keys:
        raise argparse.ArgumentTypeError(
            f"unknown setup {', '.join(unknown) or repr(text)}; choose from {', '.join(SETUPS)}"
        )
    return [SETUPS[key] for key in dict.fromkeys(keys)]


def level_list(text: str) -> list[float]:
    if text.strip().lower() == "none":
        return []
    levels: list[float] = []
    for part in text.split(","):
        try:
            level = float(part)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a level: {part!r}") from None
        if not 0.5 <= level <= 0.99:
            raise argparse.ArgumentTypeError(f"a level is between 0.5 and 0.99, got {part.strip()}")
        levels.append(level)
    return sorted(set(levels))


def sigma_list(text: str) -> list[float]:
    sigmas = [positive_float(part.strip()) for part in text.split(",") if part.strip()]
    if not sigmas:
        raise argparse.ArgumentTypeError(f"no sigma in {text!r}")
    return sorted(set(sigmas))


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Precision of the whitelist and blacklist `caliber score` writes, classic "
        "and with --confidence, on simulated Trade Desk exports whose true rates are known."
    )
    add = parser.add_argument
    add(
        "--seeds",
        type=positive_int,
        help=f"seeds 1..N per setup (default 5; {CALIBRATION_SEEDS} with --calibrate)",
    )
    add("--quick", action="store_true", help="one seed (same as --seeds 1)")
    add(
        "--setups",
        type=setup_list,
        default=list(SETUPS.values()),
        help=f"comma-separated, from {', '.join(SETUPS)} (default: all)",
    )
    add(
        "--levels",
        type=level_list,
        default=[0.8, 0.9],
        help="comma-separated confidence levels in [0.5, 0.99], or none (default 0.8,0.9)",
    )
    add(
        "--domains",
        type=positive_int,
        default=DOMAINS,
        help=f"sites per export (default {DOMAINS:,})",
    )
    add(
        "--keep",
        type=Path,
        metavar="DIR",
        help="write the exports and outputs to DIR and keep them",
    )
    add(
        "--impressions-sigma",
        type=positive_float,
        help=f"sigma of the sites' lognormal impressions (default {IMPRESSIONS_SIGMA:g}, "
        "calibrated by --calibrate): how long the tail is, which decides the spend "
        "confident lists can cover",
    )
    add(
        "--truth-bounds",
        choices=("true", "observed"),
        default="true",
        help="normalize the true values between their own min and max (default), or between "
        "the bounds the classic run fitted on the noisy data (a diagnostic)",
    )
    add("--json", action="store_true", help="also print the figures as one JSON line")
    add(
        "--check",
        action="store_true",
        help=f"exit 1 when a target at level {TARGET_LEVEL:g} is missed",
    )
    add(
        "--calibrate",
        action="store_true",
        help="instead of the benchmark: the impressions sigma whose baseline lists (no "
        "confidence) come closest to the issue's figures, on action-display",
    )
    add(
        "--sigmas",
        type=sigma_list,
        help="the sigmas --calibrate tries, comma-separated (default "
        f"{','.join(f'{v:g}' for v in CALIBRATION_SIGMAS)})",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds = 1
    elif args.seeds is None:
        args.seeds = CALIBRATION_SEEDS if args.calibrate else 5
    if args.calibrate and (args.check or args.impressions_sigma is not None):
        parser.error("--calibrate chooses the sigma: not with --check or --impressions-sigma")
    if args.sigmas is not None and not args.calibrate:
        parser.error("--sigmas is for --calibrate")
    if args.impressions_sigma is None:
        args.impressions_sigma = IMPRESSIONS_SIGMA
    if args.sigmas is None:
        args.sigmas = list(CALIBRATION_SIGMAS)
    if args.check and (TARGET_LEVEL not in args.levels or SETUPS[TARGET_SETUP] not in args.setups):
        parser.error(
            f"--check needs level {TARGET_LEVEL:g} in --levels and {TARGET_SETUP} in --setups"
        )
    return args


def has_confidence() -> bool:
    run = subprocess.run(
        [str(CALIBER), "score", "--help"], capture_output=True, text=True, check=False
    )
    return "--confidence" in run.stdout


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if not CALIBER.exists():
        sys.stderr.write(
            f"list_accuracy: no caliber executable at {CALIBER}; install the project\n"
        )
        return 2
    if (args.levels or args.calibrate) and not has_confidence():
        # --calibrate reads the shrunk rates of a --confidence run
        hint = "--calibrate needs it" if args.calibrate else "run with --levels none"
        sys.stderr.write(f"list_accuracy: this caliber score has no --confidence; {hint}\n")
        return 2
    keep: Path | None = args.keep

    def run(work: Path) -> bool:
        if args.calibrate:
            calibrate(args.sigmas, args.seeds, args.domains, work, args.json)
            return True
        return benchmark(args, work)

    try:
        if keep is not None:
            keep.mkdir(parents=True, exist_ok=True)
            met = run(keep.resolve())
        else:
            with tempfile.TemporaryDirectory(prefix="caliber-lists-") as tmp:
                met = run(Path(tmp))
    except RunError as exc:
        sys.stderr.write(f"list_accuracy: caliber score failed, {exc}\n")
        return 1
    return 1 if args.check and not met else 0


if __name__ == "__main__":
    raise SystemExit(main())
