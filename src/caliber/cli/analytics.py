"""The analytics commands: `caliber explain`, `caliber outliers` and `caliber weights`,
the analytics of a file scored with the same setup options as `caliber score`. Each
prints a readable table (`--json` for machines); scikit-learn and SHAP load only when a
method needs them."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from caliber.cli.output import fail, print_summary
from caliber.cli.setup_options import add_setup_arguments, score_file

EXPLAIN_METHODS = ("exact", "shap", "feature_importance", "correlation")
OUTLIER_METHODS = (
    "isolation_forest",
    "local_outlier_factor",
    "elliptic_envelope",
    "zscore",
    "iqr",
    "combined",
)
WEIGHT_METHODS = ("equal", "correlation", "mutual_info", "f_score", "variance")
OPTIMIZERS = ("grid", "genetic", "bayesian")


def add_explain(commands: Any) -> None:
    """`caliber explain FILE ...`."""
    explain = commands.add_parser(
        "explain",
        help="why rows scored what they did",
        description="Score FILE, then show which metrics drive the scores (or, with "
        "--domain, why one row scored what it did).",
    )
    add_setup_arguments(explain)
    explain.add_argument("--method", choices=EXPLAIN_METHODS, default="exact")
    explain.add_argument("--domain", help="explain this domain / supply vendor")
    _common(explain)
    explain.set_defaults(handler=_explain)


def add_outliers(commands: Any) -> None:
    """`caliber outliers FILE ...`."""
    outliers = commands.add_parser(
        "outliers",
        help="rows whose metrics look wrong",
        description="Score FILE, then detect outlying rows over the setup's metrics.",
    )
    add_setup_arguments(outliers)
    outliers.add_argument("--method", choices=OUTLIER_METHODS, default="combined")
    outliers.add_argument(
        "--contamination", type=float, default=0.05, help="expected share (default 0.05)"
    )
    outliers.add_argument("--columns", help="comma-separated columns (default: the metrics)")
    _common(outliers)
    outliers.set_defaults(handler=_outliers)


def add_weights(commands: Any) -> None:
    """`caliber weights FILE ...`."""
    weights = commands.add_parser(
        "weights",
        help="weights suggested by an outcome column",
        description="Score FILE, then suggest metric weights from how each metric relates "
        "to --target (e.g. conversions), optionally optimized for agreement with it.",
    )
    add_setup_arguments(weights)
    weights.add_argument("--method", choices=WEIGHT_METHODS, default="correlation")
    weights.add_argument("--target", help="outcome column, e.g. conversions or conversion_rate")
    weights.add_argument("--optimize", choices=OPTIMIZERS, help="then optimize the weights")
    _common(weights)
    weights.set_defaults(handler=_weights)


def _common(command: argparse.ArgumentParser) -> None:
    command.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    command.add_argument("--json", action="store_true", help="machine-readable JSON")


def _scored(args: argparse.Namespace) -> Any:
    from caliber.engine.analytics.base import ScoredFrame

    return ScoredFrame.from_result(score_file(args))


def _emit_json(payload: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(payload, indent=2, default=str) + "\n")


def _num(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _explain(args: argparse.Namespace) -> None:
    from caliber.engine.analytics import explain as ex

    data = _scored(args)
    if args.domain:
        row = ex.explain_row(data, args.domain, args.method, seed=args.seed)
        if args.json:
            _emit_json(row.to_dict())
            return
        table = [["metric", "value", "normalized", "average", "weight", "attribution"]]
        table += [
            [
                ex.metric_label(a.metric),
                _num(a.value, 4),
                _num(a.normalized, 1),
                _num(a.campaign_average_normalized, 1),
                _num(a.weight, 3),
                f"{a.attribution:+.2f}",
            ]
            for a in row.attributions
        ]
        facts = [
            ("score", _num(row.score)),
            ("campaign average", _num(row.campaign_average_score)),
            ("status", f"{row.quality_status} (percentile {row.percentile_rank})"),
            ("method", f"{row.method} (confidence {row.confidence})"),
        ]
        print_summary(
            (f"Why {row.name} scored {row.score:.2f}", facts, [("metrics", table)], [row.sentence]),
            left=(0,),
        )
        return
    found = ex.explain_campaign(data, args.method, seed=args.seed)
    if args.json:
        _emit_json(found.to_dict())
        return
    table = [["metric", "importance", "share", "weight", "direction"]]
    table += [
        [
            ex.metric_label(m.metric),
            _num(m.importance, 4),
            f"{m.share:.1%}",
            _num(m.weight, 3),
            m.direction.replace("_", " "),
        ]
        for m in found.importances
    ]
    facts = [("method", found.method), ("rows", _num(found.rows_used))]
    if found.model_fit is not None:
        facts.append(("surrogate R²", _num(found.model_fit, 3)))
    print_summary(
        ("What drives the scores", facts, [("metrics", table)], [found.summary, *found.notes]),
        left=(0, 4),
    )


def _outliers(args: argparse.Namespace) -> None:
    from caliber.engine.analytics.outliers import detect_outliers

    data = _scored(args)
    columns = [c.strip() for c in args.columns.split(",") if c.strip()] if args.columns else None
    report = detect_outliers(
        data, args.method, columns=columns, contamination=args.contamination, seed=args.seed
    )
    if args.json:
        _emit_json(report.to_dict())
        return
    table = [["column", "outlier mean", "outlier std", "others mean", "others std"]]
    table += [
        [
            c.column,
            _num(c.outlier_mean, 4),
            _num(c.outlier_std, 4),
            _num(c.inlier_mean, 4),
            _num(c.inlier_std, 4),
        ]
        for c in report.comparisons
    ]
    facts = [
        ("method", report.method),
        ("outliers", f"{report.count:,} of {report.rows_used:,} ({report.share:.1%})"),
        ("severity", report.severity),
    ]
    shown = list(report.names[:20])
    closing = [*report.recommendations, *report.notes]
    if shown:
        more = f" (and {report.count - len(shown)} more)" if report.count > len(shown) else ""
        closing.insert(0, "flagged: " + ", ".join(shown) + more)
    print_summary(("Outliers", facts, [("columns", table)], closing), left=(0,))


def _weights(args: argparse.Namespace) -> None:
    from caliber.engine.analytics import weights as wt
    from caliber.engine.analytics.explain import metric_label

    data = _scored(args)
    if args.optimize and not args.target:
        fail("--optimize needs --target")
    found = wt.calculate_weights(data, args.method, args.target, seed=args.seed)
    optimized = (
        wt.optimize_weights(data, args.target, args.optimize, seed=args.seed, start=found.weights)
        if args.optimize
        else None
    )
    if args.json:
        payload: dict[str, Any] = {"current": data.weights, "suggested": found.to_dict()}
        if optimized is not None:
            payload["optimized"] = optimized.to_dict()
        _emit_json(payload)
        return
    header = ["metric", "current", "suggested"] + (["optimized"] if optimized else [])
    table = [header]
    for metric in data.metrics:
        row = [metric_label(metric), _num(data.weights[metric], 3), _num(found.weights[metric], 3)]
        if optimized is not None:
            row.append(_num(optimized.weights[metric], 3))
        table.append(row)
    facts = [("method", found.method), ("target", found.target or "-")]
    closing = [found.summary, *found.notes]
    if optimized is not None:
        facts.append(("optimizer", optimized.optimizer))
        closing.append(optimized.summary)
    closing.append(
        "use them with: caliber score ... --weights '"
        + json.dumps((optimized or found).weights)
        + "'"
    )
    print_summary(("Suggested weights", facts, [("weights", table)], closing), left=(0,))
